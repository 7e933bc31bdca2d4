//! Shows notifications through the desktop's notification daemon (notify-rust), and opens
//! the event when one is clicked. Which events notify is decided in gatehouse-core.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use gatehouse_core::rules::notify::Notification;
use gatehouse_core::settings::Settings;
use tauri::{AppHandle, Manager};

/// Set from the tray's "Pause notifications".
#[derive(Default)]
pub struct Paused(pub AtomicBool);

/// Paused, or inside the quiet hours at `now` (the store's clock, local time).
pub fn quiet(app: &AppHandle, settings: &Settings, now: chrono::DateTime<chrono::Local>) -> bool {
    let paused = app
        .try_state::<Paused>()
        .is_some_and(|p| p.0.load(Ordering::Relaxed));
    paused || settings.in_quiet_hours(now)
}

/// Notification servers may read markup in the body, and any of them renders bidi
/// controls: payload text must stay text, in its own order.
fn plain(s: &str) -> String {
    gatehouse_core::text::neutralise(s, true)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// How many notifications may hold a thread waiting for a click at once; beyond that they
/// are shown without a click action (the window and tray still lead to the event).
pub const MAX_WAITING: usize = 8;
/// Notifications close themselves after this long, critical ones included: many daemons
/// never expire critical notifications, and each open one holds a waiting thread.
const EXPIRE_AFTER_MS: u32 = 10 * 60 * 1000;

/// Counts the threads waiting for a click; a slot is given back when its guard drops.
pub struct ClickWaiters {
    waiting: AtomicUsize,
    max: usize,
}

pub struct WaitSlot<'a>(&'a ClickWaiters);

impl ClickWaiters {
    pub const fn new(max: usize) -> ClickWaiters {
        ClickWaiters {
            waiting: AtomicUsize::new(0),
            max,
        }
    }

    /// A slot if fewer than `max` are taken.
    pub fn try_take(&self) -> Option<WaitSlot<'_>> {
        self.waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()
            .map(|_| WaitSlot(self))
    }
}

impl Drop for WaitSlot<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::AcqRel);
    }
}

static WAITERS: ClickWaiters = ClickWaiters::new(MAX_WAITING);

pub fn show(app: &AppHandle, n: Notification) {
    let mut notification = notify_rust::Notification::new();
    notification
        .appname("Gatehouse")
        .summary(&plain(&n.summary))
        .body(&plain(&n.body))
        .icon("dialog-information")
        .timeout(notify_rust::Timeout::Milliseconds(EXPIRE_AFTER_MS))
        .urgency(if n.critical {
            notify_rust::Urgency::Critical
        } else {
            notify_rust::Urgency::Normal
        });
    let Some(slot) = WAITERS.try_take() else {
        tracing::info!("{MAX_WAITING} notifications await a click; showing this one without");
        if let Err(e) = notification.show() {
            tracing::warn!("could not show a notification: {e}");
        }
        return;
    };
    notification.action("default", "Open");
    let app = app.clone();
    // wait_for_action blocks until the notification closes (clicked, dismissed or expired).
    std::thread::spawn(move || {
        let _slot = slot;
        match notification.show() {
            Ok(handle) => {
                let event_id = n.event_id;
                handle.wait_for_action(|action| {
                    if action == "default" {
                        match event_id {
                            Some(id) => super::open_event(&app, id),
                            None => super::show_main_window(&app),
                        }
                    }
                });
            }
            Err(e) => tracing::warn!("could not show a notification: {e}"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_text_is_plain_and_in_its_own_order() {
        assert_eq!(
            plain("<b>x</b> & \u{202e}revo\u{1b}[31m"),
            "&lt;b&gt;x&lt;/b&gt; &amp; \\u{202e}revo\\x1b[31m"
        );
    }

    #[test]
    fn waiting_threads_are_bounded_and_slots_come_back() {
        let waiters = ClickWaiters::new(2);
        let a = waiters.try_take().expect("first");
        let b = waiters.try_take().expect("second");
        assert!(waiters.try_take().is_none(), "the third waits for no click");
        drop(a);
        let c = waiters
            .try_take()
            .expect("a closed notification frees its slot");
        assert!(waiters.try_take().is_none());
        drop((b, c));
        assert!(waiters.try_take().is_some() && waiters.try_take().is_some());
    }
}
