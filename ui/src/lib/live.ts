// Live updates: from the shell as Tauri events in the window (src-tauri/src/desktop/live.rs),
// from the inbox's change stream in a browser (EventSource on /api/v1/stream, which
// reconnects by itself and resumes after the last id it saw).
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { Gate } from "../bindings/Gate";
import { inWindow } from "./rpc";

export const NOTICE = "gatehouse://notice";
export const GATE = "gatehouse://gate";
export const OPEN_EVENT = "gatehouse://open-event";
/** The inbox's state changed (connecting, catching up, offline...); the overview has it. */
export const INBOX = "gatehouse://inbox";

/** The stream's message kinds that are changes (docs/INBOX.md). */
const CHANGES = ["event", "request", "endpoints", "settings"] as const;

export interface LiveHandlers {
  onNotice: () => void;
  onGate: (gate: Gate) => void;
  onOpenEvent: (id: number) => void;
  onInbox: () => void;
  /** In a browser: whether the stream is connected (false while it reconnects). */
  onConnected?: (connected: boolean) => void;
  /** In a browser: a new stored event as the stream sent it (for Web Notifications); not
   * the backlog a reconnection replays. */
  onEvent?: (event: unknown) => void;
  /** In a browser: the session is over (signed out elsewhere, expired, token revoked). */
  onSignedOut?: () => void;
}

export async function subscribe(h: LiveHandlers): Promise<UnlistenFn> {
  if (!inWindow()) return follow(h);
  const stops = await Promise.all([
    listen(NOTICE, () => h.onNotice()),
    listen<Gate>(GATE, (e) => h.onGate(e.payload)),
    listen<number>(OPEN_EVENT, (e) => h.onOpenEvent(e.payload)),
    listen(INBOX, () => h.onInbox()),
  ]);
  return () => stops.forEach((stop) => stop());
}

/** Longest wait between attempts to open the stream again. */
const RETRY_MAX_MS = 30_000;

/** Follows the inbox's stream with the session cookie. The browser reconnects by itself
 * while the connection merely drops (resending the last id it saw); an answer other than 200
 * closes an EventSource for good, so then the session is checked (signed out, or the inbox
 * is back behind a proxy that answered 502) and the stream opened again after the last id,
 * with backoff. A new change log at the inbox (its database replaced) starts over. */
function follow(h: LiveHandlers): UnlistenFn {
  let source: EventSource | null = null;
  let last: string | null = null;
  let log: string | null = null;
  /** Past this connection's `caught_up`: what comes now is new, not backlog. */
  let live = false;
  let retry = 1000;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let stopped = false;

  const open = () => {
    live = false;
    const url = last === null ? "/api/v1/stream" : `/api/v1/stream?after=${encodeURIComponent(last)}`;
    const s = new EventSource(url, { withCredentials: true });
    source = s;
    s.onopen = () => {
      retry = 1000;
      live = false;
      h.onConnected?.(true);
    };
    s.onerror = () => {
      h.onConnected?.(false);
      if (s.readyState === EventSource.CLOSED) void reopen();
    };
    for (const kind of CHANGES) {
      s.addEventListener(kind, (message) => {
        const m = message as MessageEvent<string>;
        if (m.lastEventId) last = m.lastEventId;
        h.onNotice();
        if (kind === "event" && live && h.onEvent) {
          try {
            h.onEvent(JSON.parse(m.data));
          } catch {
            // Not JSON: nothing to show; the refresh above still happens.
          }
        }
      });
    }
    s.addEventListener("hello", (message) => {
      let id: string | null = null;
      try {
        id = (JSON.parse((message as MessageEvent<string>).data) as { log?: string }).log ?? null;
      } catch {
        id = null;
      }
      if (log !== null && id !== null && id !== log && last !== null) {
        // Another change log: the ids seen so far mean nothing there.
        log = id;
        last = null;
        s.close();
        open();
        return;
      }
      log = id;
      h.onConnected?.(true);
      h.onNotice();
    });
    s.addEventListener("caught_up", () => {
      live = true;
    });
  };

  const reopen = async () => {
    source?.close();
    if (stopped) return;
    if (await signedOut()) {
      h.onSignedOut?.();
      return;
    }
    timer = setTimeout(() => {
      if (!stopped) open();
    }, retry);
    retry = Math.min(retry * 2, RETRY_MAX_MS);
  };

  open();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    source?.close();
  };
}

/** Whether the inbox says this browser has no session (as opposed to not answering). */
async function signedOut(): Promise<boolean> {
  try {
    const response = await fetch("/api/v1/session", { credentials: "same-origin" });
    return response.status === 401 || response.status === 404;
  } catch {
    return false;
  }
}

/** Calls `fn` at most once per `ms`, trailing: bursts of notices become one refresh. */
export function throttle(fn: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  return () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = null;
      fn();
    }, ms);
  };
}
