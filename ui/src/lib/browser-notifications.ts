// In a browser, the Web Notifications API stands in for the window's native notifications:
// a failure the user asked to hear about (behind a button; the page never asks by itself).
// Payload text goes in as the notification's text, never as markup.

import { withVisibleControls as safeText } from "./text";

interface StreamEvent {
  id?: number;
  source?: string;
  outcome?: string;
  rejected?: boolean;
  title?: string | null;
  message?: string | null;
  profile_name?: string | null;
  branch_name?: string | null;
}

const FAILING = new Set(["failed", "timed_out"]);

/** Shows a notification for a failed or rejected event that arrived as a webhook; returns
 * whether it did. Like the window's, never for what was read by the account sync (one sync
 * may bring dozens), accepted from history or replayed. */
export function notifyFailure(event: unknown): boolean {
  const e = event as StreamEvent;
  if (typeof e !== "object" || e === null || !(FAILING.has(e.outcome ?? "") || e.rejected)) return false;
  if (e.source !== undefined && e.source !== "live") return false;
  const who = [e.profile_name, e.branch_name].filter(Boolean).join(" / ");
  const title = `${safeText(e.title ?? "Failed")}${who ? `: ${safeText(who)}` : ""}`;
  // One per event, however many tabs show the dashboard.
  new Notification(title, { body: safeText(e.message ?? ""), tag: e.id === undefined ? undefined : `gatehouse-event-${e.id}` });
  return true;
}
