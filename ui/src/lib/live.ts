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
  /** In a browser: a stored event as the stream sent it (for Web Notifications). */
  onEvent?: (event: unknown) => void;
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

/** Follows the inbox's stream with the session cookie. */
function follow(h: LiveHandlers): UnlistenFn {
  const source = new EventSource("/api/v1/stream", { withCredentials: true });
  source.onopen = () => h.onConnected?.(true);
  source.onerror = () => h.onConnected?.(source.readyState === EventSource.OPEN);
  for (const kind of CHANGES) {
    source.addEventListener(kind, (message) => {
      h.onNotice();
      if (kind === "event" && h.onEvent) {
        try {
          h.onEvent(JSON.parse((message as MessageEvent<string>).data));
        } catch {
          // Not JSON: nothing to show; the refresh above still happens.
        }
      }
    });
  }
  // Reconnected after a gap: the views read everything again.
  source.addEventListener("hello", () => {
    h.onConnected?.(true);
    h.onNotice();
  });
  return () => source.close();
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
