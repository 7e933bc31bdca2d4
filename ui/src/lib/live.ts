// Live updates pushed by the shell (see src-tauri/src/desktop/live.rs).
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { Gate } from "../bindings/Gate";

export const NOTICE = "gatehouse://notice";
export const GATE = "gatehouse://gate";
export const OPEN_EVENT = "gatehouse://open-event";
/** The inbox's state changed (connecting, catching up, offline...); the overview has it. */
export const INBOX = "gatehouse://inbox";

export interface LiveHandlers {
  onNotice: () => void;
  onGate: (gate: Gate) => void;
  onOpenEvent: (id: number) => void;
  onInbox: () => void;
}

export async function subscribe(h: LiveHandlers): Promise<UnlistenFn> {
  const stops = await Promise.all([
    listen(NOTICE, () => h.onNotice()),
    listen<Gate>(GATE, (e) => h.onGate(e.payload)),
    listen<number>(OPEN_EVENT, (e) => h.onOpenEvent(e.payload)),
    listen(INBOX, () => h.onInbox()),
  ]);
  return () => stops.forEach((stop) => stop());
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
