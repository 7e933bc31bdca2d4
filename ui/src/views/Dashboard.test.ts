import { afterEach, describe, expect, it } from "vitest";
import { cleanup, render, screen } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import Dashboard from "./Dashboard.svelte";

afterEach(() => {
  cleanup();
  clearMocks();
});

function event(id: number, outcome: string, title: string) {
  return {
    id, delivery_id: `d${id}`, endpoint: "ci", request_id: id, source: "live", scope: "build", outcome,
    module: "Build", action: null, title, message: `${title} for the develop branch for the profile App`,
    profile_id: "p", profile_name: "App", branch_id: "b", branch_name: "develop", task_id: "t",
    build_id: null, commit_id: null, rejected: false, expiring: false,
    links: { detail: "https://my.appcircle.io/build/detail/p" }, duration_ms: 125000,
    occurred_at: new Date().toISOString(), received_at: new Date().toISOString(), payload: null,
  };
}

function overview(streams: unknown[], endpoints: unknown[] = [{ id: 1, name: "ci" }]) {
  return {
    method: "overview",
    result: {
      gate: { state: streams.length ? "failing" : "unknown", running: false, streams },
      base_url: "http://127.0.0.1:8473", endpoints, expiring: [], unmatched: [], total_events: 2,
    },
  };
}

describe("Dashboard", () => {
  it("shows a failing build row red, with its history dots and the reason in the gate", async () => {
    const failed = event(2, "failed", "Build Failed");
    mockIPC(() =>
      overview([
        {
          scope: "build", state: "failing", profile_key: "p", branch_key: "b", profile_id: "p",
          profile_name: "App", branch_id: "b", branch_name: "develop", outcome: "failed", rejected: false,
          running: false, running_since: null, event_id: 2, title: "Build Failed", message: failed.message,
          occurred_at: failed.occurred_at, duration_ms: 125000, last_event: failed,
          recent: [
            { event_id: 2, outcome: "failed", occurred_at: failed.occurred_at },
            { event_id: 1, outcome: "succeeded", occurred_at: failed.occurred_at },
          ],
        },
      ]),
    );
    render(Dashboard);
    const row = await screen.findByTestId("stream-row");
    expect(row.dataset.state).toBe("failing");
    expect(row.textContent).toContain("App / develop");
    expect(row.textContent).toContain("took 2m 05s");
    expect(row.querySelectorAll(".dot").length).toBe(2);
    expect(screen.getByTestId("gate").textContent).toContain("Red because of");
  });

  it("tells a new user how to connect Appcircle", async () => {
    mockIPC(() => overview([], []));
    render(Dashboard);
    const empty = await screen.findByTestId("empty-state");
    expect(empty.textContent).toContain("Add Webhook");
    expect(empty.textContent).toContain("http://127.0.0.1:8473");
  });
});
