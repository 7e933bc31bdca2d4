import { afterEach, describe, expect, it } from "vitest";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { app, openExternal } from "./state.svelte";

afterEach(() => {
  clearMocks();
  app.toast = null;
});

describe("openExternal", () => {
  it("turns a failure to open a link into a toast", async () => {
    mockIPC(() => {
      throw "opener refused";
    });
    await openExternal("https://my.appcircle.io/x");
    expect(app.toast).toBe("Could not open the link: opener refused");
  });

  it("opens http(s) links through the shell", async () => {
    const opened: unknown[] = [];
    mockIPC((cmd, args) => {
      opened.push([cmd, args]);
    });
    await openExternal("https://my.appcircle.io/x");
    expect(opened).toEqual([["open_link", { url: "https://my.appcircle.io/x" }]]);
  });
});
