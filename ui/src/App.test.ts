import { afterEach, describe, expect, it } from "vitest";
import { cleanup, render, screen } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { overview } from "./testing/fixtures";
import App from "./App.svelte";

afterEach(() => {
  cleanup();
  clearMocks();
});

describe("App", () => {
  it("says live updates are off when it cannot subscribe, instead of an unhandled rejection", async () => {
    mockIPC((cmd) => {
      if (cmd === "plugin:event|listen") throw "event plugin missing";
      return { method: "overview", result: overview([]) };
    });
    render(App);
    expect((await screen.findByRole("status")).textContent).toContain("Live updates are off: event plugin missing");
    expect(await screen.findByTestId("gate")).toBeTruthy();
  });
});
