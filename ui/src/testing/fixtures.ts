// Typed builders for what the backend answers, so view tests state only what they are about.
// Times are offsets from the tests' fixed now (testing/clock.ts), never calendar dates.
import type { AccountStatus } from "../bindings/AccountStatus";
import type { EndpointInfo } from "../bindings/EndpointInfo";
import type { EventRecord } from "../bindings/EventRecord";
import type { InboxStatus } from "../bindings/InboxStatus";
import type { ListenerStatus } from "../bindings/ListenerStatus";
import type { Overview } from "../bindings/Overview";
import type { RequestRecord } from "../bindings/RequestRecord";
import type { Settings } from "../bindings/Settings";
import type { Stream } from "../bindings/Stream";
import { daysAgo, minutesAgo } from "./clock";

export function eventRecord(over: Partial<EventRecord> = {}): EventRecord {
  const now = new Date().toISOString();
  return {
    id: 1, delivery_id: "d1", endpoint: "ci", provider: "appcircle", request_id: 1, source: "live", scope: "build", outcome: "failed",
    module: "Build", action: "Build|BuildFailed", title: "Build Failed",
    message: "Build Failed for the develop branch for the profile App",
    profile_id: "p", profile_name: "App", branch_id: "b", branch_name: "develop", task_id: "t",
    build_id: null, commit_id: null, commit_sha: null, rejected: false, expiring: false,
    links: { detail: "https://my.appcircle.io/build/detail/p" }, duration_ms: 125000,
    occurred_at: now, received_at: now, payload: null,
    ...over,
  };
}

export function stream(over: Partial<Stream> = {}): Stream {
  const last = over.last_event ?? eventRecord({
    profile_id: over.profile_id ?? "p", profile_name: over.profile_name ?? "App",
    branch_id: over.branch_id ?? "b", branch_name: over.branch_name ?? "develop",
  });
  return {
    provider: last.provider, scope: "build", state: "failing", profile_key: "p", branch_key: "b", profile_id: "p", profile_name: "App",
    branch_id: "b", branch_name: "develop", outcome: "failed", rejected: false, running: false, stale: false, running_since: null,
    event_id: last.id, title: last.title, message: last.message, occurred_at: last.occurred_at, duration_ms: 125000,
    last_event: last, recent: [], expected_duration_ms: null,
    ...over,
  };
}

export const LISTENING: ListenerStatus = {
  address: "127.0.0.1:8473", base_url: "http://127.0.0.1:8473", error: null, hint: null, off: false,
};

export const PORT_TAKEN: ListenerStatus = {
  address: "127.0.0.1:8473",
  base_url: null,
  error: "Address already in use (os error 98)",
  hint: "Another program uses port 8473: choose another port in Settings.",
  off: false,
};

/** Builds come only from an inbox: nothing listens, on purpose. */
export const LISTENER_OFF: ListenerStatus = {
  address: "127.0.0.1:8473", base_url: null, error: null,
  hint: "builds come from the inbox (Settings → Where builds come from)", off: true,
};

export function inboxStatus(over: Partial<InboxStatus> = {}): InboxStatus {
  return {
    url: "https://ci.example.com", state: { state: "up_to_date", since: minutesAgo(5) },
    token: { place: "keyring" }, headline: "Inbox ci.example.com: up to date",
    ...over,
  };
}

export function endpointInfo(over: Partial<EndpointInfo> = {}): EndpointInfo {
  return {
    id: 1, name: "ci", provider: "appcircle", secret_count: 1, created_at: daysAgo(30),
    updated_at: daysAgo(30), request_count: 0, event_count: 0, last_request_at: null,
    ...over,
  };
}

export function overview(streams: Stream[], over: Partial<Overview> = {}): Overview {
  const failing = streams.some((s) => s.state === "failing");
  return {
    gate: { state: failing ? "failing" : streams.length ? "passing" : "unknown", running: streams.some((s) => s.running), streams },
    listener: LISTENING, inbox: null, account: null, ci_accounts: [], endpoints: [endpointInfo()], expiring: [], unmatched: [], total_events: 2,
    ...over,
  };
}

export function requestRecord(over: Partial<RequestRecord> = {}): RequestRecord {
  return {
    id: 1, endpoint: "ci", received_at: new Date().toISOString(), method: "POST", path: "/hooks/ci",
    remote_addr: "127.0.0.1", verdict: "accepted", status_code: 200, delivery_id: "d1", error: null,
    event_id: 1, accepted_at: null, body_size: 2, headers: [["content-type", "application/json"]], body: "{}",
    body_truncated: false,
    ...over,
  };
}

export function settings(over: Partial<Settings> = {}): Settings {
  return {
    listen: "127.0.0.1:8473", replay_window_secs: 300, body_limit: 1048576,
    notifications: { rules: [], rejected: true, expiring: true, back_to_green: true, commit_ready: true },
    quiet_hours: null, launch_at_login: false, retention_days: null, rejected_retention_days: 30,
    source: "listener", inbox_url: null, required_checks: [],
    ...over,
  };
}

/** A promise with its resolve and reject at hand, to answer rpc calls in any order. */
export function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export const BRANCHES = ["main", "develop", "release"];

/**
 * 90 build streams: profiles app1..app30 with three branches each. The first 70 (in that
 * order) are failing, each a minute later than the one before (the first 2 hours ago);
 * app30/main and app30/develop are passing with a build running.
 */
export function fleet(): Stream[] {
  const start = Date.parse(minutesAgo(120));
  const streams: Stream[] = [];
  for (let p = 1; p <= 30; p++) {
    BRANCHES.forEach((branch, b) => {
      const k = (p - 1) * 3 + b;
      const failing = k < 70;
      const running = p === 30 && b < 2;
      const at = new Date(start + k * 60_000).toISOString();
      const ids = { profile_id: `p${p}`, profile_name: `app${p}`, branch_id: `${p}-${branch}`, branch_name: branch };
      const last = eventRecord({ id: k + 1, ...ids, outcome: failing ? "failed" : "succeeded", occurred_at: at, title: failing ? "Build Failed" : "Build Succeeded" });
      streams.push(stream({
        ...ids, profile_key: `p${p}`, branch_key: `${p}-${branch}`, state: failing ? "failing" : "passing",
        outcome: last.outcome, running, running_since: running ? at : null, event_id: last.id, occurred_at: at, last_event: last,
      }));
    });
  }
  return streams;
}

/** An Appcircle account connected with an API key, synced a minute ago. */
export function accountStatus(over: Partial<AccountStatus> = {}): AccountStatus {
  const minuteAgo = minutesAgo(1);
  return {
    api_host: "https://api.appcircle.io", auth_host: "https://auth.appcircle.io",
    key: { kind: "api_key", name: "gatehouse", organization: null }, key_place: { place: "keyring" },
    sync: { last_attempt: minuteAgo, last_success: minuteAgo, error: null, events: 12, requests: 30 },
    syncing: false,
    ...over,
  };
}
