import type { Role } from "../bindings/Role";
import { openLink } from "./rpc";
import { errorMessage } from "./latest.svelte";

// App-wide state: which view is open, which event is shown, and a refresh counter that
// views watch to reload when something arrives.
export type View = "dashboard" | "history" | "commits" | "requests" | "endpoints" | "charts" | "settings";

export const app = $state({
  view: "dashboard" as View,
  openEventId: null as number | null,
  /** The commit the Commits view shows (a SHA or its prefix), e.g. from an event's detail. */
  openCommit: null as string | null,
  /** Bumped on every live notice; views reload when it changes. */
  revision: 0,
  toast: null as string | null,
  /** What the user may do: everything in the window; in a browser, what the session's token
   * allows (the inbox refuses the rest anyway; the controls are not shown). */
  role: "admin" as Role,
});

/** Whether controls that change the inbox (endpoints, secrets, accept, replay) are shown. */
export function canChange(): boolean {
  return app.role === "admin";
}

/** Opens the Commits view on one commit. */
export function showCommit(sha: string): void {
  app.openCommit = sha;
  app.openEventId = null;
  app.view = "commits";
}

export function go(view: View): void {
  app.view = view;
}

export function toast(message: string): void {
  app.toast = message;
  setTimeout(() => {
    if (app.toast === message) app.toast = null;
  }, 4000);
}

export async function copy(text: string, what: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
    toast(`Copied ${what}`);
  } catch {
    toast(`Could not copy ${what}`);
  }
}

/** Opens an http(s) link in the browser; a failure becomes a toast, not an unhandled rejection. */
export async function openExternal(url: string): Promise<void> {
  try {
    await openLink(url);
  } catch (e) {
    toast(`Could not open the link: ${errorMessage(e)}`);
  }
}
