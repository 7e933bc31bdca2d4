import { afterEach, describe, expect, it } from "vitest";
import { cleanup, render, screen } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import { eventRecord, overview, stream } from "../testing/fixtures";
import Radiator from "./Radiator.svelte";

afterEach(() => {
  cleanup();
  clearMocks();
});

describe("Radiator", () => {
  it("says failing in large type with each failing stream, and has no controls", async () => {
    const failed = eventRecord({ id: 2 });
    mockIPC(() => ({
      method: "overview",
      result: overview([
        stream({ last_event: failed, event_id: 2 }),
        stream({ state: "passing", profile_key: "q", profile_name: "Other", outcome: "succeeded" }),
      ]),
    }));
    render(Radiator);
    const wall = await screen.findByTestId("radiator");
    await screen.findByTestId("radiator-failing");
    expect(wall.dataset.state).toBe("failing");
    expect(wall.querySelector("h1")?.textContent).toBe("Failing");
    const rows = screen.getAllByTestId("radiator-failing");
    expect(rows).toHaveLength(1);
    expect(rows[0].textContent).toContain("App / develop");
    expect(wall.querySelectorAll("button, input, select, a").length).toBe(0);
  });

  it("says all green when nothing fails", async () => {
    mockIPC(() => ({ method: "overview", result: overview([stream({ state: "passing", outcome: "succeeded" })]) }));
    render(Radiator);
    const wall = await screen.findByTestId("radiator");
    await screen.findByText("All green");
    expect(wall.dataset.state).toBe("passing");
  });
});
