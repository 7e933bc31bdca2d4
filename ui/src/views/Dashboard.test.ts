import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/svelte";
import { clearMocks, mockIPC } from "@tauri-apps/api/mocks";
import type { Overview } from "../bindings/Overview";
import { app } from "../lib/state.svelte";
import { accountStatus, eventRecord, fleet, inboxStatus, LISTENER_OFF, overview, PORT_TAKEN, stream } from "../testing/fixtures";
import { hoursAgo, minutesAgo } from "../testing/clock";
import Dashboard from "./Dashboard.svelte";

afterEach(() => {
  cleanup();
  clearMocks();
  app.view = "dashboard";
});

function answer(o: Overview) {
  mockIPC(() => ({ method: "overview", result: o }));
}

describe("Dashboard", () => {
  it("shows a failing build row red, with its history dots and the reason in the gate", async () => {
    const failed = eventRecord({ id: 2 });
    answer(overview([
      stream({
        last_event: failed, event_id: 2,
        recent: [
          { event_id: 2, outcome: "failed", occurred_at: failed.occurred_at },
          { event_id: 1, outcome: "succeeded", occurred_at: failed.occurred_at },
        ],
      }),
    ]));
    render(Dashboard);
    const row = await screen.findByTestId("stream-row");
    expect(row.dataset.state).toBe("failing");
    expect(row.dataset.name).toBe("App / develop");
    expect(row.textContent).toContain("develop");
    expect(row.textContent).toContain("took 2m 05s");
    expect(row.querySelectorAll(".dot").length).toBe(2);
    expect(screen.getByTestId("gate").textContent).toContain("Builds: 1 failing");
  });

  it("tells a new user how to connect Appcircle", async () => {
    answer(overview([], { endpoints: [] }));
    render(Dashboard);
    const empty = await screen.findByTestId("empty-state");
    expect(empty.textContent).toContain("Add Webhook");
    expect(screen.getByTestId("connect-account-hint").textContent).toContain("connect your Appcircle account");
    expect(empty.textContent).toContain("http://127.0.0.1:8473");
    expect(screen.queryByTestId("listener-error")).toBeNull();
    expect(screen.getByTestId("gate").textContent).toContain("listening on http://127.0.0.1:8473");
  });
});

describe("Dashboard listener state", () => {
  it("says deliveries cannot arrive, with the address, the OS error and the hint", async () => {
    answer(overview([], { listener: PORT_TAKEN }));
    render(Dashboard);
    const alert = await screen.findByTestId("listener-error");
    expect(alert.getAttribute("role")).toBe("alert");
    expect(alert.textContent).toContain("Deliveries cannot arrive");
    expect(alert.textContent).toContain("127.0.0.1:8473");
    expect(alert.textContent).toContain("Address already in use (os error 98)");
    expect(alert.textContent).toContain("choose another port in Settings");
    await fireEvent.click(within(alert).getByRole("button", { name: /Settings/ }));
    expect(app.view).toBe("settings");
  });

  it("never claims to listen, nor gives an address to reach, when nothing listens", async () => {
    answer(overview([], { listener: PORT_TAKEN, endpoints: [] }));
    render(Dashboard);
    const empty = await screen.findByTestId("empty-state");
    expect(document.body.textContent).not.toMatch(/listening on/i);
    expect(empty.textContent).not.toContain("http://");
    expect(empty.textContent).toContain("not listening");
  });
});

describe("Dashboard with 90 streams", () => {
  it("summarises the gate per scope with the five latest failures, and can show them all", async () => {
    answer(overview(fleet()));
    render(Dashboard);
    const gate = await screen.findByTestId("gate");
    expect(gate.textContent).toContain("Builds: 70 failing, 2 running");
    const latest = within(gate).getAllByTestId("gate-failure");
    expect(latest.map((b) => b.textContent)).toEqual([
      "app24 / main", "app23 / release", "app23 / develop", "app23 / main", "app22 / release",
    ].map((n) => `Builds · ${n}`));
    await fireEvent.click(within(gate).getByRole("button", { name: "Show all 70 failing" }));
    expect(within(gate).getAllByTestId("gate-failure")).toHaveLength(70);
    await fireEvent.click(within(gate).getByRole("button", { name: "Show fewer" }));
    expect(within(gate).getAllByTestId("gate-failure")).toHaveLength(5);
  });

  it("lists failing and running profiles first, in natural order", async () => {
    answer(overview(fleet()));
    render(Dashboard);
    await screen.findAllByTestId("stream-row");
    const profiles = screen.getAllByTestId("profile").map((p) => p.dataset.name);
    expect(profiles.slice(0, 3)).toEqual(["app1", "app2", "app3"]);
    expect(profiles.indexOf("app2")).toBeLessThan(profiles.indexOf("app10"));
    expect(profiles[24]).toBe("app30");
    const names = screen.getAllByTestId("stream-row").map((r) => r.dataset.name);
    // 24 failing profiles and the running one open; the 5 quiet ones start collapsed.
    expect(names).toHaveLength(75);
    expect(names.slice(72, 75)).toEqual(["app30 / develop", "app30 / main", "app30 / release"]);
  });

  it("collapses a profile's branches into one row with the worst state and counts", async () => {
    answer(overview(fleet()));
    render(Dashboard);
    await screen.findAllByTestId("stream-row");
    const app24 = screen.getAllByTestId("profile").find((p) => p.dataset.name === "app24");
    if (!app24) throw new Error("no app24 group");
    await fireEvent.click(within(app24).getByRole("button", { name: /Collapse app24/ }));
    expect(within(app24).queryAllByTestId("stream-row")).toHaveLength(0);
    const summary = within(app24).getByTestId("profile-summary");
    expect(summary.dataset.state).toBe("failing");
    expect(summary.textContent).toContain("1 failing, 2 passing");
    expect(screen.getAllByTestId("stream-row")).toHaveLength(72);
    await fireEvent.click(within(app24).getByRole("button", { name: /Expand app24/ }));
    expect(within(app24).getAllByTestId("stream-row")).toHaveLength(3);
  });
});

describe("Dashboard with many quiet profiles", () => {
  it("opens with the quiet ones collapsed and the user can open them", async () => {
    answer(overview(fleet()));
    render(Dashboard);
    await screen.findAllByTestId("stream-row");
    const quiet = screen.getAllByTestId("profile").filter((p) => ["app25", "app26", "app27", "app28", "app29"].includes(p.dataset.name ?? ""));
    expect(quiet).toHaveLength(5);
    for (const group of quiet) {
      expect(within(group).queryAllByTestId("stream-row")).toHaveLength(0);
      expect(within(group).getByTestId("profile-summary").textContent).toContain("3 passing");
    }
    await fireEvent.click(within(quiet[0]).getByRole("button", { name: /Expand/ }));
    expect(within(quiet[0]).getAllByTestId("stream-row")).toHaveLength(3);
  });

  it("keeps every profile open when there are few", async () => {
    answer(overview(fleet().slice(72, 87)));
    render(Dashboard);
    await screen.findAllByTestId("stream-row");
    expect(screen.getAllByTestId("stream-row")).toHaveLength(15);
  });
});

describe("Dashboard running builds", () => {
  it("asks \"running for 2 days?\" of a start whose end never came, beside its last result", async () => {
    const since = hoursAgo(50);
    const started = eventRecord({ id: 6, outcome: "started", title: "Build Started", occurred_at: since });
    answer(overview([
      stream({ state: "passing", outcome: "succeeded", running: false, stale: true, running_since: since, last_event: started }),
    ]));
    render(Dashboard);
    const row = await screen.findByTestId("stream-row");
    expect(row.dataset.state).toBe("stale");
    expect(row.querySelector("[data-check]")?.getAttribute("data-check")).toBe("stale");
    expect(within(row).getByTestId("stale").textContent).toBe("running for 2 days?");
    expect(row.textContent).toContain("last: succeeded");
    expect(row.textContent).not.toMatch(/running \d/);
  });

  it("shows a build that started after a failure as running, with elapsed, expected and last result", async () => {
    const since = new Date(Date.now() - 65_000).toISOString();
    const started = eventRecord({ id: 5, outcome: "started", title: "Build Started", occurred_at: since });
    answer(overview([
      stream({ state: "failing", outcome: "failed", running: true, running_since: since, last_event: started, expected_duration_ms: 12 * 60_000 }),
    ]));
    render(Dashboard);
    const row = await screen.findByTestId("stream-row");
    expect(row.dataset.state).toBe("running");
    expect(row.querySelector("[data-check]")?.getAttribute("data-check")).toBe("running");
    expect(row.textContent).toContain("Build Started");
    expect(row.textContent).toContain("expected ~12m");
    expect(row.textContent).toContain("last: failed");
    expect(within(row).getByTestId("elapsed").textContent).toBe("running 1m 05s");
    // A minute on the clock: the view's once-a-second tick shows it.
    vi.setSystemTime(Date.now() + 60_000);
    await waitFor(() => expect(within(row).getByTestId("elapsed").textContent).toBe("running 2m 05s"), { timeout: 2500 });
  });
});

describe("Dashboard payload text", () => {
  it("isolates names, titles and messages and shows bidi controls", async () => {
    const spoof = eventRecord({ title: "Build \u202Edeliaf", message: "for \u2067main\u2069", branch_name: "dev\u202Eelop" });
    answer(overview([stream({ last_event: spoof, branch_name: "dev\u202Eelop" })]));
    const { container } = render(Dashboard);
    const row = await screen.findByTestId("stream-row");
    expect(row.textContent).not.toMatch(/[\u202A-\u202E\u2066-\u2069]/);
    expect(row.textContent).toContain("Build ⟨U+202E⟩deliaf");
    expect(row.textContent).toContain("for ⟨U+2067⟩main⟨U+2069⟩");
    const title = within(row).getByText("deliaf", { exact: false });
    expect(title.closest("bdi")).not.toBeNull();
    expect(container.querySelectorAll(".bidi-control").length).toBeGreaterThanOrEqual(4);
  });
});

describe("Dashboard load failure", () => {
  it("shows the error and retries", async () => {
    let calls = 0;
    mockIPC(() => {
      calls += 1;
      if (calls === 1) throw { kind: "unavailable", message: "database is locked" };
      return { method: "overview", result: overview([stream()]) };
    });
    render(Dashboard);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("database is locked");
    await fireEvent.click(within(alert).getByRole("button", { name: "Retry" }));
    expect(await screen.findByTestId("stream-row")).toBeTruthy();
    expect(screen.queryByRole("alert")).toBeNull();
  });
});

describe("Dashboard inbox state", () => {
  it("heads the dashboard with the inbox's state, and no listener alarm when builds come only from it", async () => {
    answer(overview([], { listener: LISTENER_OFF, inbox: inboxStatus(), endpoints: [] }));
    render(Dashboard);
    const line = await screen.findByTestId("inbox-state");
    expect(line.dataset.state).toBe("up_to_date");
    expect(line.textContent).toContain("Inbox ci.example.com: up to date");
    expect(screen.queryByTestId("listener-error")).toBeNull();
    expect(screen.getByTestId("gate").textContent).toContain("builds come from the inbox");
    const empty = screen.getByTestId("empty-state");
    expect(empty.textContent).toContain("Waiting for the inbox");
    expect(empty.textContent).not.toContain("Create an endpoint");
  });

  it("says when it is offline, with the reason, as an alert", async () => {
    answer(overview([], {
      listener: LISTENER_OFF,
      inbox: inboxStatus({
        state: { state: "offline", since: minutesAgo(3), retry_in_secs: 30, reason: "cannot reach the inbox: connection refused" },
        headline: "Offline since 22:10, retrying in 30 s",
      }),
    }));
    render(Dashboard);
    const line = await screen.findByTestId("inbox-state");
    expect(line.getAttribute("role")).toBe("alert");
    expect(line.textContent).toContain("Offline since 22:10, retrying in 30 s");
    expect(line.textContent).toContain("connection refused");
  });

  it("shows catching up with its progress", async () => {
    answer(overview([], {
      inbox: inboxStatus({ state: { state: "catching_up", done: 340, of: 1200 }, headline: "Catching up: 340 of 1,200" }),
    }));
    render(Dashboard);
    const line = await screen.findByTestId("inbox-state");
    expect(line.textContent).toContain("Catching up: 340 of 1,200");
    const bar = line.querySelector("progress");
    expect(bar?.value).toBe(340);
    expect(bar?.max).toBe(1200);
  });
});

describe("Dashboard: the Appcircle account", () => {
  it("says when it last synced, and Sync now asks for a sync", async () => {
    const calls: string[] = [];
    mockIPC((_cmd, args) => {
      const request = (args as { request: { method: string } }).request;
      calls.push(request.method);
      if (request.method === "sync_account") return { method: "sync_account", result: { events: 2, event_ids: [5, 6], known: 0, requests: 9 } };
      return { method: "overview", result: overview([], { account: accountStatus() }) };
    });
    render(Dashboard);
    const line = await screen.findByTestId("account-state");
    expect(line.textContent).toContain("Synced from Appcircle 1 min ago");
    expect(line.textContent).toContain("12 new events");
    await fireEvent.click(screen.getByTestId("sync-now"));
    await waitFor(() => expect(calls).toContain("sync_account"));
  });

  it("shows a GitHub account read with a token beside it, and its Sync now reads that account", async () => {
    const calls: unknown[] = [];
    const github = {
      id: "github https://api.github.com", name: "GitHub account", provider: "github" as const, api_host: "https://api.github.com",
      repos: ["acme/app"], token_place: { place: "keyring" as const }, syncing: false,
      sync: { last_attempt: null, last_success: new Date(Date.now() - 60_000).toISOString(), error: null, events: 3, requests: 1 },
    };
    mockIPC((_cmd, args) => {
      const request = (args as { request: { method: string } }).request;
      calls.push(request);
      if (request.method === "sync_ci_account") return { method: "sync_ci_account", result: { events: 0, event_ids: [], known: 1, requests: 1 } };
      return { method: "overview", result: overview([stream()], { ci_accounts: [github], endpoints: [] }) };
    });
    render(Dashboard);
    const line = await screen.findByTestId("account-state");
    expect(line.textContent).toContain("Synced from GitHub account 1 min ago");
    expect(line.textContent).toContain("3 new events");
    expect(screen.getByTestId("webhook-hint").textContent).toContain("GitHub's API");
    await fireEvent.click(screen.getByTestId("sync-now"));
    await waitFor(() => expect(calls).toContainEqual({ method: "sync_ci_account", params: { id: "github https://api.github.com" } }));
  });

  it("says why the last sync failed, and a read-only user gets no Sync now", async () => {
    app.role = "read";
    answer(overview([], {
      account: accountStatus({ sync: { last_attempt: null, last_success: null, error: "GET https://api.appcircle.io/build/v2/profiles answered HTTP 503 4 times; trying again later", events: 0, requests: 4 } }),
    }));
    render(Dashboard);
    const line = await screen.findByTestId("account-state");
    expect(line.getAttribute("role")).toBe("alert");
    expect(screen.getByTestId("account-error").textContent).toContain("HTTP 503");
    expect(line.textContent).toContain("Not synced from Appcircle yet");
    expect(screen.queryByTestId("sync-now")).toBeNull();
    app.role = "admin";
  });

  it("with an account and no endpoint, suggests a webhook for live news instead of the setup steps", async () => {
    answer(overview([stream()], { account: accountStatus(), endpoints: [] }));
    render(Dashboard);
    expect((await screen.findByTestId("webhook-hint")).textContent).toContain("add a webhook endpoint");
    expect(screen.queryByTestId("empty-state")).toBeNull();
  });

  it("marks a stream whose latest event was synced, not pushed", async () => {
    answer(overview([stream({ last_event: eventRecord({ source: "synced" }) })]));
    render(Dashboard);
    const row = await screen.findByTestId("stream-row");
    expect(within(row).getByTestId("synced-mark").textContent).toBe("synced");
  });
});

describe("Dashboard with several senders", () => {
  it("gives each sender its section, with the same rows", async () => {
    const gh = eventRecord({ id: 7, provider: "github", profile_id: "acme/app/.github/workflows/ci.yml", profile_name: "acme/app · CI", branch_id: null, branch_name: "main", title: "Workflow failed" });
    answer(overview([
      stream(),
      stream({ provider: "github", profile_key: "github:acme/app/.github/workflows/ci.yml", branch_key: "main", profile_id: gh.profile_id, profile_name: gh.profile_name, branch_id: null, branch_name: "main", last_event: gh, event_id: 7 }),
    ]));
    render(Dashboard);
    const github = await screen.findByTestId("section-build-github");
    expect(github.querySelector("h3")?.textContent).toBe("GitHub Actions");
    const row = within(github).getByTestId("stream-row");
    expect(row.dataset.name).toBe("acme/app · CI / main");
    expect(row.dataset.state).toBe("failing");
    expect(screen.getByTestId("section-build").querySelector("h3")?.textContent).toBe("Appcircle builds");
    expect(within(screen.getByTestId("section-build")).getAllByTestId("stream-row")).toHaveLength(1);
  });
});
