import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { ApiRequest } from "../bindings/ApiRequest";
import { eventRecord } from "../testing/fixtures";
import { app } from "../lib/state.svelte";
import EventDetail from "./EventDetail.svelte";

afterEach(() => {
  cleanup();
  clearMocks();
});

const hostile = "Build failed <img src=x onerror=alert(1)> for the main branch for the profile App";

function answer(over: Parameters<typeof eventRecord>[0]) {
  mockIPC(() => ({ method: "event", result: eventRecord({ id: 3, ...over }) }));
}

describe("EventDetail", () => {
  it("links to its commit's checks, and keeps Appcircle's own commit id apart", async () => {
    const sha = "abc1234" + "5".repeat(33);
    answer({ provider: "appcircle", commit_id: "ba50d2d6-bfcc-49a1-8fa6-6e00711b4d5b", commit_sha: sha });
    app.openEventId = 3;
    render(EventDetail, { id: 3, onclose: () => {} });
    const link = await screen.findByTestId("event-commit");
    expect(link.parentElement?.textContent).toContain(sha.slice(0, 12));
    expect(screen.getByText("Appcircle commit")).toBeTruthy();
    await fireEvent.click(link);
    expect(app.view).toBe("commits");
    expect(app.openCommit).toBe(sha);
    expect(app.openEventId).toBeNull();
    app.view = "dashboard";
    app.openCommit = null;
  });

  it("offers no commit link for an event of no commit", async () => {
    answer({ commit_id: null, commit_sha: null });
    render(EventDetail, { id: 3, onclose: () => {} });
    await screen.findByTestId("event-detail");
    await screen.findByText("Scope");
    expect(screen.queryByTestId("event-commit")).toBeNull();
  });

  it("shows payload text as text, never as markup", async () => {
    answer({
      message: hostile, duration_ms: 61000,
      links: { detail: "https://my.appcircle.io/x", bad: "javascript:alert(1)" },
      payload: JSON.stringify({ message: hostile }),
    });
    const { container } = render(EventDetail, { id: 3, onclose: () => {} });
    expect(await screen.findByText(hostile)).toBeTruthy();
    expect(container.querySelector("img")).toBeNull();
    expect(screen.getByTestId("raw-json").textContent).toContain("<img src=x onerror=alert(1)>");
    expect(screen.getAllByRole("button", { name: /Open .* in Appcircle/ })).toHaveLength(1);
    expect(screen.getByText("1m 01s")).toBeTruthy();
  });

  it("shows and copies the stored payload bytes exactly, big integers included", async () => {
    const raw = '{"buildId":12345678901234567890,  "ratio":1.50,"title":"Build Failed"}';
    const writeText = vi.fn(() => Promise.resolve());
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    answer({ payload: raw });
    render(EventDetail, { id: 3, onclose: () => {} });
    const shown = await screen.findByTestId("raw-json");
    expect(shown.textContent).toBe(raw);
    expect(within(shown).getByText("12345678901234567890").className).toContain("number");
    await fireEvent.click(screen.getByRole("button", { name: "Copy" }));
    expect(writeText).toHaveBeenCalledWith(raw);
  });

  it("can indent the payload for reading, without changing a value, and still copies it as received", async () => {
    const raw = '{"buildId":12345678901234567890,"ok":true}';
    const writeText = vi.fn(() => Promise.resolve());
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    answer({ payload: raw });
    render(EventDetail, { id: 3, onclose: () => {} });
    await screen.findByTestId("raw-json");
    await fireEvent.click(screen.getByRole("button", { name: "Indent" }));
    expect(screen.getByTestId("raw-json").textContent).toBe('{\n  "buildId": 12345678901234567890,\n  "ok": true\n}');
    await fireEvent.click(screen.getByRole("button", { name: "Copy" }));
    expect(writeText).toHaveBeenCalledWith(raw);
  });

  it("shows bidi controls in the payload and isolates it", async () => {
    answer({ title: "Build \u202Edeliaf", payload: '{"title":"Build \u202Edeliaf"}' });
    render(EventDetail, { id: 3, onclose: () => {} });
    const shown = await screen.findByTestId("raw-json");
    expect(shown.textContent).toBe('{"title":"Build ⟨U+202E⟩deliaf"}');
    expect(shown.classList.contains("payload")).toBe(true);
    const title = screen.getByText("deliaf", { exact: false, selector: "bdi" });
    expect(title.textContent).toBe("Build ⟨U+202E⟩deliaf");
  });

  it("shows a load failure and retries", async () => {
    let calls = 0;
    mockIPC(() => {
      calls += 1;
      if (calls === 1) throw { kind: "unavailable", message: "read failed" };
      return { method: "event", result: eventRecord({ id: 3, title: "Loaded after retry" }) };
    });
    render(EventDetail, { id: 3, onclose: () => {} });
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("read failed");
    await fireEvent.click(within(alert).getByRole("button", { name: "Retry" }));
    expect(await screen.findByText("Loaded after retry")).toBeTruthy();
  });
});

describe("Event detail of a GitHub run", () => {
  it("lists the run's jobs, found by the run's key, and opens links in GitHub", async () => {
    const calls: ApiRequest[] = [];
    mockIPC((_cmd, args) => {
      const request = (args as { request: ApiRequest }).request;
      calls.push(request);
      if (request.method === "events") {
        return { method: "events", result: { events: [eventRecord({ id: 9, provider: "github", scope: "other", title: "Job unit tests failed", message: "in workflow run 501" })], total: 1, total_capped: false } };
      }
      return { method: "event", result: eventRecord({ provider: "github", task_id: "github:501/1", title: "Workflow failed", links: { detail: "https://github.com/acme/app/actions/runs/501" } }) };
    });
    render(EventDetail, { id: 1, onclose: () => {} });
    const jobs = await screen.findByTestId("run-details");
    expect(jobs.textContent).toContain("Job unit tests failed");
    expect(calls.find((c) => c.method === "events")).toEqual({
      method: "events",
      params: { query: { task: "github:501/1", scope: "other", limit: 100 } },
    });
    expect(screen.getByRole("button", { name: "Open detail in GitHub" })).toBeTruthy();
  });
});

describe("Event detail: a run's jobs read on demand", () => {
  const run = () => eventRecord({ id: 4, provider: "gitlab", scope: "build", task_id: "gitlab:gitlab.com/301", title: "Pipeline failed" });

  it("asks the provider only when told to, and shows each job as text with its stage and time", async () => {
    const calls: ApiRequest[] = [];
    mockIPC((_cmd, args) => {
      const request = (args as { request: ApiRequest }).request;
      calls.push(request);
      if (request.method === "run_jobs") {
        if (calls.filter((c) => c.method === "run_jobs").length > 1) throw { kind: "upstream", message: "GitLab's rate limit (HTTP 429): waiting 30 s" };
        return {
          method: "run_jobs",
          result: {
            account: "GitLab account",
            read_at: new Date().toISOString(),
            jobs: [
              { name: "compile", stage: "build", outcome: "succeeded", status: "success", started_at: null, finished_at: null, duration_ms: 30_000, link: "https://gitlab.com/acme/app/-/jobs/1" },
              { name: hostile, stage: "test", outcome: "failed", status: "failed", started_at: null, finished_at: null, duration_ms: 61_000, link: null },
            ],
          },
        };
      }
      if (request.method === "events") return { method: "events", result: { events: [], total: 0, total_capped: false } };
      return { method: "event", result: run() };
    });
    const { container } = render(EventDetail, { id: 4, onclose: () => {} });
    const read = await screen.findByTestId("run-jobs-read");
    expect(read.textContent).toContain("Read the jobs from GitLab");
    expect(calls.some((c) => c.method === "run_jobs")).toBe(false);
    await fireEvent.click(read);
    const list = await screen.findByTestId("run-jobs");
    expect(calls.find((c) => c.method === "run_jobs")).toEqual({ method: "run_jobs", params: { event_id: 4 } });
    expect(list.textContent).toContain("compile");
    expect(list.textContent).toContain("build");
    expect(list.textContent).toContain("30s");
    expect(list.textContent).toContain("1m 01s");
    expect(within(list).getByText(hostile)).toBeTruthy();
    expect(container.querySelector("img")).toBeNull();
    expect(within(list).getAllByRole("img").map((i) => i.getAttribute("data-check"))).toEqual(["passing", "failing"]);
    expect(screen.getByText("GitLab account", { exact: false })).toBeTruthy();
    // Read again fails: said, and the jobs read before stay.
    await fireEvent.click(screen.getByTestId("run-jobs-read"));
    expect((await screen.findByTestId("run-jobs-error")).textContent).toContain("rate limit");
    expect(screen.getByTestId("run-jobs").textContent).toContain("compile");
  });

  it("says why when no token follows the repository", async () => {
    mockIPC((_cmd, args) => {
      const request = (args as { request: ApiRequest }).request;
      if (request.method === "run_jobs") throw { kind: "not_found", message: "no GitLab account follows the project acme/app: connect one with a token in Settings to see a run's jobs" };
      if (request.method === "events") return { method: "events", result: { events: [], total: 0, total_capped: false } };
      return { method: "event", result: run() };
    });
    render(EventDetail, { id: 4, onclose: () => {} });
    await fireEvent.click(await screen.findByTestId("run-jobs-read"));
    expect((await screen.findByTestId("run-jobs-error")).textContent).toContain("connect one with a token in Settings");
  });

  it("offers no jobs for an Appcircle event", async () => {
    answer({ provider: "appcircle", scope: "build", payload: "{}" });
    render(EventDetail, { id: 3, onclose: () => {} });
    await screen.findByTestId("raw-json");
    expect(screen.queryByTestId("run-jobs-read")).toBeNull();
  });
});
