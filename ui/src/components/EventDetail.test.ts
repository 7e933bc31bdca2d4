import { afterEach, describe, expect, it } from "vitest";
import { cleanup, render, screen } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import EventDetail from "./EventDetail.svelte";

afterEach(() => {
  cleanup();
  clearMocks();
});

const hostile = "Build failed <img src=x onerror=alert(1)> for the main branch for the profile App";

describe("EventDetail", () => {
  it("shows payload text as text, never as markup", async () => {
    mockIPC(() => ({
      method: "event",
      result: {
        id: 3, delivery_id: "d", endpoint: "ci", request_id: 1, source: "live", scope: "build",
        outcome: "failed", module: "Build", action: "Build|BuildFailed", title: "Build Failed",
        message: hostile, profile_id: "p", profile_name: "App", branch_id: "b", branch_name: "main",
        task_id: null, build_id: null, commit_id: null, rejected: false, expiring: false,
        links: { detail: "https://my.appcircle.io/x", bad: "javascript:alert(1)" },
        duration_ms: 61000, occurred_at: "2026-01-01T00:00:00Z", received_at: "2026-01-01T00:00:01Z",
        payload: { message: hostile },
      },
    }));
    const { container } = render(EventDetail, { id: 3, onclose: () => {} });
    expect(await screen.findByText(hostile)).toBeTruthy();
    expect(container.querySelector("img")).toBeNull();
    expect(screen.getByTestId("raw-json").textContent).toContain("<img src=x onerror=alert(1)>");
    expect(screen.getAllByRole("button", { name: /Open .* in Appcircle/ })).toHaveLength(1);
    expect(screen.getByText("1m 01s")).toBeTruthy();
  });
});
