// How the dashboard orders and summarises many streams (e.g. 30 profiles x 3 branches):
// what needs attention first, names in natural order, builds grouped per profile.
import type { Scope } from "../bindings/Scope";
import type { Stream } from "../bindings/Stream";
import { streamCheck, streamName, type Check } from "./format";

// Numeric collation puts app2 before app10, as people number their apps.
const collator = new Intl.Collator(undefined, { numeric: true });
export const naturalOrder = (a: string, b: string): number => collator.compare(a, b);

// Failing rows, then running (and stale) ones, then the rest (in name order, whatever their state).
const ATTENTION: Record<Check, number> = { failing: 0, running: 1, stale: 1, warning: 2, passing: 2, neutral: 2 };

export function attentionFirst(streams: Stream[]): Stream[] {
  return [...streams].sort(
    (a, b) => ATTENTION[streamCheck(a)] - ATTENTION[streamCheck(b)] || naturalOrder(streamName(a), streamName(b)),
  );
}

export interface ScopeCount {
  scope: Scope;
  failing: number;
  running: number;
}

const SCOPE_ORDER: Scope[] = [
  "build", "testing_distribution", "publish_to_stores", "enterprise_app_store", "signing_identity", "other",
];

/** Per scope, how many streams fail and how many have a build running; quiet scopes left out. */
export function scopeCounts(streams: Stream[]): ScopeCount[] {
  return SCOPE_ORDER.map((scope) => {
    const of = streams.filter((s) => s.scope === scope);
    return { scope, failing: of.filter((s) => s.state === "failing").length, running: of.filter((s) => s.running).length };
  }).filter((c) => c.failing > 0 || c.running > 0);
}

function time(iso: string | null): number {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(t) ? -Infinity : t;
}

/** Failing streams, the most recent failure first. */
export function latestFailures(streams: Stream[], count = Infinity): Stream[] {
  return streams
    .filter((s) => s.state === "failing")
    .sort((a, b) => time(b.occurred_at) - time(a.occurred_at))
    .slice(0, count);
}

export type CheckCounts = Partial<Record<Check, number>>;

export interface ProfileGroup {
  key: string;
  name: string;
  /** Its branches, attention first. */
  streams: Stream[];
  worst: Check;
  counts: CheckCounts;
}

const WORST_FIRST: Check[] = ["failing", "running", "stale", "warning", "neutral", "passing"];
const CHECK_WORDS: Record<Check, string> = {
  failing: "failing", running: "running", stale: "stale", warning: "warning", neutral: "no result", passing: "passing",
};

/** "1 failing, 2 passing", worst first. */
export function countWords(counts: CheckCounts): string {
  return WORST_FIRST.filter((c) => counts[c]).map((c) => `${counts[c]} ${CHECK_WORDS[c]}`).join(", ");
}

/** Build streams per profile; profiles needing attention first, then by name. */
export function groupByProfile(streams: Stream[]): ProfileGroup[] {
  const byKey = new Map<string, Stream[]>();
  for (const s of streams) byKey.set(s.profile_key, [...(byKey.get(s.profile_key) ?? []), s]);
  const groups = [...byKey].map(([key, members]): ProfileGroup => {
    const counts: CheckCounts = {};
    for (const s of members) counts[streamCheck(s)] = (counts[streamCheck(s)] ?? 0) + 1;
    const first = members[0];
    return {
      key,
      name: first.profile_name ?? first.profile_id ?? key,
      streams: attentionFirst(members),
      worst: WORST_FIRST.find((c) => counts[c]) ?? "neutral",
      counts,
    };
  });
  return groups.sort((a, b) => ATTENTION[a.worst] - ATTENTION[b.worst] || naturalOrder(a.name, b.name));
}

/** Past this many build profiles, the dashboard opens with quiet ones collapsed. */
export const COLLAPSE_QUIET_OVER = 12;

/**
 * Whether a profile starts collapsed: with many profiles, those that need no attention
 * (nothing failing or running) show one summary row each, so the page stays short and the
 * failing ones are in view; the user's own choice wins.
 */
export function startsCollapsed(group: ProfileGroup, profiles: number): boolean {
  return profiles > COLLAPSE_QUIET_OVER && group.worst !== "failing" && group.worst !== "running";
}
