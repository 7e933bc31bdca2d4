//! Shows notifications through the desktop's notification daemon (notify-rust), and opens
//! the event when one is clicked. Which events notify is decided in gatehouse-core.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Timelike;
use gatehouse_core::notify::Notification;
use gatehouse_core::settings::Settings;
use tauri::{AppHandle, Manager};

/// Set from the tray's "Pause notifications".
#[derive(Default)]
pub struct Paused(pub AtomicBool);

/// Paused, or inside the quiet hours (local time).
pub fn quiet(app: &AppHandle, settings: &Settings) -> bool {
    let paused = app
        .try_state::<Paused>()
        .is_some_and(|p| p.0.load(Ordering::Relaxed));
    let now = chrono::Local::now();
    let minute = now.hour() * 60 + now.minute();
    paused
        || settings
            .quiet_hours
            .as_ref()
            .is_some_and(|q| q.contains(minute))
}

/// Notification servers may read markup in the body; payload text must stay text.
fn plain(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub fn show(app: &AppHandle, n: Notification) {
    let app = app.clone();
    // wait_for_action blocks until the notification closes: one thread per notification.
    std::thread::spawn(move || {
        let shown = notify_rust::Notification::new()
            .appname("Gatehouse")
            .summary(&plain(&n.summary))
            .body(&plain(&n.body))
            .icon("dialog-information")
            .urgency(if n.critical {
                notify_rust::Urgency::Critical
            } else {
                notify_rust::Urgency::Normal
            })
            .action("default", "Open")
            .show();
        match shown {
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
