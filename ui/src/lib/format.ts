// View logic shared by the views: words, icons and times for what the backend returns.
import type { CheckState } from "../bindings/CheckState";
import type { CommitState } from "../bindings/CommitState";
import type { EventRecord } from "../bindings/EventRecord";
import type { Gate } from "../bindings/Gate";
import type { GateState } from "../bindings/GateState";
import type { Outcome } from "../bindings/Outcome";
import type { Provider } from "../bindings/Provider";
import type { Scope } from "../bindings/Scope";
import type { Stream } from "../bindings/Stream";

/** Who sends deliveries, as people know them (the order the dashboard shows them in). */
export const PROVIDER_LABELS: Record<Provider, string> = {
  appcircle: "Appcircle",
  github: "GitHub Actions",
  gitlab: "GitLab CI",
};

export const SCOPE_LABELS: Record<Scope, string> = {
  build: "Builds",
  testing_distribution: "Testing Distribution",
  publish_to_stores: "Publish to Stores",
  enterprise_app_store: "Enterprise App Store",
  signing_identity: "Signing Identity",
  other: "Other",
};

export const OUTCOMES: Outcome[] = ["started", "succeeded", "warning", "failed", "canceled", "timed_out", "info"];

/**
 * The check a row shows, GitHub style. "stale": a build started and its end never came
 * within a day, so it is shown as a question ("running for 2 days?"), not as a result.
 */
export type Check = "passing" | "failing" | "running" | "stale" | "warning" | "neutral";

export function outcomeCheck(outcome: Outcome | null, rejected = false): Check {
  if (rejected) return "failing";
  switch (outcome) {
    case "succeeded":
      return "passing";
    case "warning":
      return "warning";
    case "failed":
    case "timed_out":
    case "canceled":
      return "failing";
    case "started":
      return "running";
    default:
      return "neutral";
  }
}

/** A commit's check: missing and neutral show as "no result". */
export function checkIcon(state: CheckState): Check {
  switch (state) {
    case "passed":
      return "passing";
    case "failed":
      return "failing";
    case "running":
      return "running";
    default:
      return "neutral";
  }
}

export function checkWords(state: CheckState): string {
  const words: Record<CheckState, string> = {
    passed: "Passed", failed: "Failed", running: "Running", missing: "Missing: not reported yet", neutral: "No result",
  };
  return words[state];
}

/** A commit as a whole: pending shows as running (something still has to report). */
export function commitIcon(state: CommitState): Check {
  return state === "ready" ? "passing" : state === "failing" ? "failing" : "running";
}

/** A stream's row: a build under way shows as running (or stale past a day); the last result is shown beside it. */
export function streamCheck(s: Pick<Stream, "state" | "running"> & Partial<Pick<Stream, "stale">>): Check {
  if (s.running) return "running";
  if (s.stale) return "stale";
  if (s.state === "failing") return "failing";
  if (s.state === "passing") return "passing";
  return "neutral";
}

/** The gate as a whole stays red while a failing stream rebuilds: it is not green yet. */
export function gateCheck(g: Pick<Gate, "state" | "running">): Check {
  if (g.state === "failing") return "failing";
  return streamCheck(g);
}

export function gateWords(state: GateState, running: boolean): string {
  if (state === "failing") return "Failing";
  if (state === "passing") return running ? "Passing · a build is running" : "All green";
  return running ? "A build is running" : "Nothing finished yet";
}

export function outcomeWords(outcome: Outcome, rejected = false): string {
  if (rejected) return "rejected";
  return outcome === "timed_out" ? "timed out" : outcome;
}

/** "My App / develop", falling back to ids, then to the scope. */
export function streamName(x: {
  profile_name: string | null;
  profile_id: string | null;
  branch_name: string | null;
  branch_id: string | null;
}): string {
  const profile = x.profile_name ?? x.profile_id;
  const branch = x.branch_name ?? x.branch_id;
  if (profile && branch) return `${profile} / ${branch}`;
  return profile ?? branch ?? "(no profile)";
}

export function eventName(e: EventRecord): string {
  return streamName(e);
}

/** "45s", "3m 12s", "1h 04m". */
export function duration(ms: number | null): string {
  if (ms === null || ms < 0) return "";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** A start whose end never came, as a question: "running for 30 h?", "running for 2 days?". */
export function staleWords(since: string | null, now: Date = new Date()): string {
  const t = since ? Date.parse(since) : NaN;
  if (Number.isNaN(t)) return "running for a long time?";
  const hours = Math.max(0, Math.floor((now.getTime() - t) / 3_600_000));
  return hours < 48 ? `running for ${hours} h?` : `running for ${Math.floor(hours / 24)} days?`;
}

/** "~12m", "~1h 35m": an expectation, so to the minute (at least one). */
export function about(ms: number): string {
  const minutes = Math.max(1, Math.round(ms / 60_000));
  if (minutes < 60) return `~${minutes}m`;
  return `~${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, "0")}m`;
}

/** "just now", "5 min ago", "3 h ago", "2 days ago". */
export function ago(iso: string | null, now: Date = new Date()): string {
  if (!iso) return "";
  const then = new Date(iso).getTime();
  if (Number.isNaN(then)) return "";
  const s = Math.round((now.getTime() - then) / 1000);
  if (s < 0) return "in the future";
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.max(1, Math.round(s / 60))} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  const days = Math.round(s / 86400);
  return days === 1 ? "yesterday" : `${days} days ago`;
}

/**
 * One formatter for every local time on screen. `Date.toLocaleString()` builds a new ICU
 * formatter at each call, kept in native memory the JS heap does not see until a collection
 * it has no reason to start: the dashboard's 900 outcome dots held about 85 MiB of WebKit's
 * memory that way (scripts/footprint.sh). The options are toLocaleString's defaults.
 */
const LOCAL_TIME = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "numeric",
  day: "numeric",
  hour: "numeric",
  minute: "numeric",
  second: "numeric",
});

export function localTime(iso: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : LOCAL_TIME.format(d);
}

/** Links worth offering from an event: http(s) only, detail and logs first. */
export function eventLinks(e: Pick<EventRecord, "links">): { name: string; url: string }[] {
  const order = (n: string) => (n === "detail" ? 0 : n === "viewlogs" ? 1 : 2);
  return Object.entries(e.links)
    .filter((entry): entry is [string, string] => typeof entry[1] === "string" && /^https?:\/\//i.test(entry[1]))
    .map(([name, url]) => ({ name: name === "viewlogs" ? "logs" : name, url, key: order(name) }))
    .sort((a, b) => a.key - b.key)
    .map(({ name, url }) => ({ name, url }));
}

/** Pass rate over the last `window` runs at each run (oldest first), as percentages. */
export function rollingPassRate(outcomes: Outcome[], window = 10): number[] {
  return outcomes.map((_, i) => {
    const slice = outcomes.slice(Math.max(0, i - window + 1), i + 1);
    const passed = slice.filter((o) => o === "succeeded" || o === "warning").length;
    return Math.round((passed / slice.length) * 100);
  });
}
