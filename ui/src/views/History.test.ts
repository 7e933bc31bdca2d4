import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { EventPage } from "../bindings/EventPage";
import type { EventQuery } from "../bindings/EventQuery";
import { deferred, eventRecord } from "../testing/fixtures";
import { app } from "../lib/state.svelte";
import History from "./History.svelte";

afterEach(() => {
  cleanup();
  clearMocks();
});

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

function page(...titles: string[]): { method: "events"; result: EventPage } {
  return {
    method: "events",
    result: { events: titles.map((title, i) => eventRecord({ id: i + 1, title })), total: titles.length, total_capped: false },
  };
}

function queries() {
  const seen: EventQuery[] = [];
  mockIPC((_cmd, args) => {
    seen.push((args as { request: { params: { query: EventQuery } } }).request.params.query);
    return page(`result ${seen.length}`);
  });
  return seen;
}

describe("History", () => {
  it("sends one request for a quickly typed search, after typing stops", async () => {
    const seen = queries();
    render(History);
    await screen.findByTestId("history");
    expect(seen).toHaveLength(1);
    const search = screen.getByTestId("history-search");
    for (const text of ["b", "bu", "bui", "buil", "build"]) {
      await fireEvent.input(search, { target: { value: text } });
      await pause(40);
    }
    expect(seen).toHaveLength(1);
    await pause(350);
    expect(seen).toHaveLength(2);
    expect(seen[1].text).toBe("build");
  });

  it("debounces the profile and branch fields too", async () => {
    const seen = queries();
    render(History);
    await screen.findByTestId("history");
    await fireEvent.input(screen.getByLabelText("Profile"), { target: { value: "ap" } });
    await pause(100);
    await fireEvent.input(screen.getByLabelText("Profile"), { target: { value: "app" } });
    await pause(100);
    await fireEvent.input(screen.getByLabelText("Branch"), { target: { value: "main" } });
    await pause(100);
    expect(seen).toHaveLength(1);
    await pause(350);
    expect(seen).toHaveLength(2);
    expect(seen[1]).toMatchObject({ profile: "app", branch: "main" });
  });

  it("shows only the answer to the latest query when answers arrive out of order", async () => {
    const answers = [deferred<unknown>(), deferred<unknown>()];
    let calls = 0;
    mockIPC(() => answers[calls++].promise);
    render(History);
    await fireEvent.input(screen.getByTestId("history-search"), { target: { value: "newer" } });
    await pause(350);
    expect(calls).toBe(2);
    answers[1].resolve(page("the newer answer"));
    expect(await screen.findByText("the newer answer")).toBeTruthy();
    answers[0].resolve(page("the older answer"));
    await pause(20);
    expect(screen.queryByText("the older answer")).toBeNull();
    expect(screen.getByText("the newer answer")).toBeTruthy();
  });

  it("shows a load failure and retries", async () => {
    let calls = 0;
    mockIPC(() => {
      calls += 1;
      if (calls === 1) throw { kind: "invalid", message: "bad date" };
      return page("after retry");
    });
    render(History);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("bad date");
    await fireEvent.click(within(alert).getByRole("button", { name: "Retry" }));
    expect(await screen.findByText("after retry")).toBeTruthy();
  });

  it("isolates payload text in rows", async () => {
    mockIPC(() => page("Build \u202Edeliaf"));
    render(History);
    const row = await screen.findByTestId("history-row");
    expect(row.textContent).toContain("Build ⟨U+202E⟩deliaf");
    expect(within(row).getByText("deliaf", { exact: false }).closest("bdi")).not.toBeNull();
  });

  it("says a capped count is a lower bound and still pages on", async () => {
    mockIPC(() => ({
      method: "events",
      result: {
        events: Array.from({ length: 100 }, (_, i) => eventRecord({ id: i + 1, title: `e${i}` })),
        total: 2000,
        total_capped: true,
      },
    }));
    render(History);
    await screen.findByTestId("history");
    expect(screen.getByTestId("history-total").textContent).toContain("2,000+ events");
    const older = screen.getByRole("button", { name: "Older" }) as HTMLButtonElement;
    expect(older.disabled).toBe(false);
  });
});

describe("History export", () => {
  it("exports the current filter as CSV into Downloads and says where", async () => {
    const calls: { cmd: string; args: unknown }[] = [];
    mockIPC((cmd, args) => {
      calls.push({ cmd, args });
      if (cmd === "save_download") return "/home/me/Downloads/gatehouse-history.csv";
      const request = (args as { request: { method: string } }).request;
      if (request.method === "export_events") {
        return { method: "export_events", result: { csv: "id,occurred_at\n1,2026\n", rows: 1, capped: false } };
      }
      return page("one");
    });
    render(History);
    await screen.findByTestId("history");
    await fireEvent.change(screen.getByTestId("history-provider"), { target: { value: "github" } });
    await fireEvent.click(screen.getByTestId("history-export"));
    await waitFor(() => expect(calls.some((c) => c.cmd === "save_download")).toBe(true));
    const asked = calls.find((c) => (c.args as { request?: { method: string } }).request?.method === "export_events");
    expect(asked?.args).toMatchObject({ request: { params: { query: { provider: "github" } } } });
    const saved = calls.find((c) => c.cmd === "save_download")?.args as { name: string; text: string };
    expect(saved.name).toMatch(/^gatehouse-history-\d{4}-\d{2}-\d{2}\.csv$/);
    expect(saved.text).toBe("id,occurred_at\n1,2026\n");
    await waitFor(() => expect(app.toast).toContain("Exported 1 event to /home/me/Downloads/gatehouse-history.csv"));
  });
});
