import { afterEach, describe, expect, it } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { ApiRequest } from "../bindings/ApiRequest";
import type { Check } from "../bindings/Check";
import type { CommitChecks } from "../bindings/CommitChecks";
import { app } from "../lib/state.svelte";
import Commits from "./Commits.svelte";

afterEach(() => {
  cleanup();
  clearMocks();
  app.openCommit = null;
  app.openEventId = null;
});

const SHA = "abc1234" + "0".repeat(33);

function check(over: Partial<Check> = {}): Check {
  return {
    name: "build: Acme iOS", provider: "appcircle", scope: "build", state: "passed", required: true,
    outcome: "succeeded", branch_name: "release/2.4", event_id: 7, title: "Build Success",
    occurred_at: new Date().toISOString(), duration_ms: 125000, link: "https://my.appcircle.io/build/detail", runs: 1,
    ...over,
  };
}

function commit(over: Partial<CommitChecks> = {}): CommitChecks {
  const checks = over.checks ?? [
    check(),
    check({ name: "github: acme/app · CI", provider: "github", state: "running", outcome: "started", event_id: 8, duration_ms: null, runs: 2, link: "https://github.com/acme/app/actions/runs/1" }),
    check({ name: "publish_to_stores: Acme iOS", provider: null, scope: null, state: "missing", outcome: null, event_id: null, duration_ms: null, link: null, runs: 0 }),
  ];
  return {
    sha: SHA, short: SHA.slice(0, 7), state: "pending", summary: "1 of 3 checks passed, 1 running, 1 missing",
    counts: { required: 3, passed: 1, failed: 0, running: 1, missing: 1, neutral: 0 },
    branches: ["release/2.4"], rule: "release/*", checks, last_at: new Date().toISOString(),
    ...over,
  };
}

function serve(list: CommitChecks[], calls: ApiRequest[] = [], one?: (commit: string) => CommitChecks) {
  mockIPC((_cmd, args) => {
    const request = (args as { request: ApiRequest }).request;
    calls.push(request);
    if (request.method === "commits") return { method: "commits", result: list };
    if (request.method === "commit_checks") {
      if (!one) throw { kind: "not_found", message: `no check has reported for a commit starting with ${request.params.commit}` };
      return { method: "commit_checks", result: one(request.params.commit) };
    }
    throw { kind: "invalid", message: `unexpected ${request.method}` };
  });
  return calls;
}

describe("Commits", () => {
  it("lists recent commits with GitHub's summary, and a click shows each check", async () => {
    serve([commit()]);
    render(Commits);
    const row = await screen.findByTestId("commit-row");
    expect(row.dataset.state).toBe("pending");
    expect(row.textContent).toContain("abc1234");
    expect(row.textContent).toContain("1 of 3 checks passed, 1 running, 1 missing");
    expect(screen.queryByTestId("commit-checks")).toBeNull();
    await fireEvent.click(within(row).getByRole("button", { name: "abc1234" }));
    const checks = await screen.findAllByTestId("commit-check");
    expect(checks.map((c) => c.dataset.state)).toEqual(["passed", "running", "missing"]);
    expect(checks[0].textContent).toContain("2m 05s");
    expect(checks[1].textContent).toContain("2 runs");
    expect(checks[2].textContent).toContain("Missing");
    expect(checks[0].textContent).toContain("Required");
    expect(screen.getByText(/Required by the rule for/).textContent).toContain("release/*");
    // A check's detail opens its event.
    await fireEvent.click(within(checks[1]).getByRole("button", { name: "Details" }));
    expect(app.openEventId).toBe(8);
  });

  it("asks by branch and finds one commit by its prefix, saying so when it is unknown", async () => {
    const calls = serve([commit()], [], (c) => commit({ state: "ready", summary: "3 of 3 checks passed", short: c.slice(0, 7) }));
    render(Commits);
    await screen.findByTestId("commit-row");
    await fireEvent.input(screen.getByTestId("commit-branch"), { target: { value: "release/2.4" } });
    await waitFor(() => expect(calls.some((c) => c.method === "commits" && c.params.branch === "release/2.4")).toBe(true));
    await fireEvent.input(screen.getByTestId("commit-repository"), { target: { value: " acme/app " } });
    await waitFor(() => expect(calls.some((c) => c.method === "commits" && c.params.repository === "acme/app" && c.params.branch === "release/2.4")).toBe(true));
    await fireEvent.input(screen.getByTestId("commit-find"), { target: { value: " abc1234 " } });
    await fireEvent.click(screen.getByRole("button", { name: "Show its checks" }));
    expect((await screen.findByTestId("commit-summary")).textContent).toBe("3 of 3 checks passed");
    expect(calls.find((c) => c.method === "commit_checks")).toEqual({ method: "commit_checks", params: { commit: "abc1234" } });
  });

  it("says an unknown commit is unknown, and shows a commit linked from an event", async () => {
    serve([]);
    app.openCommit = "1234567";
    render(Commits);
    expect((await screen.findByTestId("commit-error")).textContent).toContain("no check has reported for a commit starting with 1234567");
    expect(await screen.findByText(/No commit has reported a check yet/)).toBeTruthy();
  });

  it("shows names from payloads as text", async () => {
    serve([commit({ branches: ["<img src=x onerror=alert(1)>"], checks: [check({ name: "build: <b>Acme</b> \u202Eevil" })] })]);
    render(Commits);
    const row = await screen.findByTestId("commit-row");
    expect(row.querySelector("img")).toBeNull();
    expect(row.textContent).toContain("<img src=x onerror=alert(1)>");
    await fireEvent.click(within(row).getByRole("button", { name: "abc1234" }));
    const only = await screen.findByTestId("commit-check");
    expect(only.querySelector("b")).toBeNull();
    expect(only.textContent).toContain("build: <b>Acme</b> ⟨U+202E⟩evil");
  });
});
