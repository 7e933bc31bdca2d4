import { afterEach, describe, expect, it, vi } from "vitest";
import { notifyFailure } from "./browser-notifications";

const shown: { title: string; body?: string }[] = [];

afterEach(() => {
  shown.length = 0;
  vi.unstubAllGlobals();
});

function stubNotification() {
  // Called with `new`, as the page does: a plain function records what it was given.
  vi.stubGlobal(
    "Notification",
    vi.fn(function (title: string, options?: { body?: string }) {
      shown.push({ title, body: options?.body });
    }),
  );
}

describe("browser notifications", () => {
  it("tell of failures only, with bidi controls shown rather than obeyed", () => {
    stubNotification();
    expect(notifyFailure({ outcome: "succeeded", title: "Build Success" })).toBe(false);
    expect(
      notifyFailure({ outcome: "failed", title: "Build Failed", message: "tests \u202Edeliaf", profile_name: "App", branch_name: "main" }),
    ).toBe(true);
    expect(shown).toEqual([{ title: "Build Failed: App / main", body: "tests ⟨U+202E⟩deliaf" }]);
    expect(notifyFailure({ outcome: "info", rejected: true, title: "Rejected" })).toBe(true);
    expect(notifyFailure(null)).toBe(false);
  });

  it("stay silent for what the account sync read, as the window's do", () => {
    stubNotification();
    expect(notifyFailure({ source: "synced", outcome: "failed", title: "Build Failed" })).toBe(false);
    expect(notifyFailure({ source: "replayed", outcome: "failed", title: "Build Failed" })).toBe(false);
    expect(notifyFailure({ source: "live", outcome: "failed", title: "Build Failed" })).toBe(true);
    expect(shown).toEqual([{ title: "Build Failed", body: "" }]);
  });
});
