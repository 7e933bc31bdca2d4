//! The tray icon: its colour is the gate; its menu opens the window, lists the latest
//! failures, pauses notifications and quits.

use std::sync::atomic::Ordering;

use gatehouse_core::api::Host;
use gatehouse_core::model::subject_name;
use gatehouse_core::rules::gate::{Gate, GateState};
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};

use super::notifier::Paused;

const TRAY_ID: &str = "gate";
const FAILURES_SHOWN: usize = 5;

fn icon(gate: &Gate) -> tauri::Result<Image<'static>> {
    let bytes: &[u8] = match (gate.state, gate.running) {
        (GateState::Failing, _) => include_bytes!("../../icons/tray-red.png"),
        (_, true) => include_bytes!("../../icons/tray-amber.png"),
        (GateState::Passing, _) => include_bytes!("../../icons/tray-green.png"),
        (GateState::Unknown, _) => include_bytes!("../../icons/tray-grey.png"),
    };
    Image::from_bytes(bytes)
}

fn tooltip(gate: &Gate) -> String {
    let failing = gate.failing().count();
    match gate.state {
        GateState::Failing => format!("Gatehouse: {failing} failing"),
        GateState::Passing if gate.running => "Gatehouse: passing, a build is running".into(),
        GateState::Passing => "Gatehouse: all passing".into(),
        GateState::Unknown => "Gatehouse: nothing finished yet".into(),
    }
}

fn menu<R: Runtime>(app: &AppHandle<R>, gate: &Gate) -> tauri::Result<Menu<R>> {
    let paused = app
        .try_state::<Paused>()
        .is_some_and(|p| p.0.load(Ordering::Relaxed));
    let menu = Menu::new(app)?;
    menu.append(&MenuItem::with_id(
        app,
        "open",
        "Open dashboard",
        true,
        None::<&str>,
    )?)?;
    // Where builds come from, when an inbox is followed: "Inbox ci.example.com: up to date".
    let inbox = app
        .try_state::<super::AppState>()
        .and_then(|s| s.api.host().inbox());
    if let Some(inbox) = inbox {
        menu.append(&MenuItem::with_id(
            app,
            "inbox",
            inbox.headline,
            false,
            None::<&str>,
        )?)?;
    }
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    let failures: Vec<_> = gate.failing().take(FAILURES_SHOWN).collect();
    if failures.is_empty() {
        menu.append(&MenuItem::with_id(
            app,
            "none",
            "No failures",
            false,
            None::<&str>,
        )?)?;
    }
    for s in failures {
        let who = subject_name(&s.profile_name, &s.profile_id, &s.branch_name, &s.branch_id)
            .unwrap_or_default();
        let label = format!("✗ {} {who}", s.scope.label());
        let id = s
            .event_id
            .map(|id| format!("event:{id}"))
            .unwrap_or_else(|| "open".into());
        menu.append(&MenuItem::with_id(app, id, label, true, None::<&str>)?)?;
    }
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    menu.append(&CheckMenuItem::with_id(
        app,
        "pause",
        "Pause notifications",
        true,
        paused,
        None::<&str>,
    )?)?;
    menu.append(&MenuItem::with_id(
        app,
        "quit",
        "Quit Gatehouse",
        true,
        None::<&str>,
    )?)?;
    Ok(menu)
}

pub fn create(app: &AppHandle) -> tauri::Result<()> {
    app.manage(Paused::default());
    let unknown = gatehouse_core::rules::gate::evaluate(Vec::new(), &Default::default());
    TrayIconBuilder::with_id(TRAY_ID)
        .icon(icon(&unknown)?)
        .tooltip(tooltip(&unknown))
        .menu(&menu(app, &unknown)?)
        .on_menu_event(|app, event| match event.id().as_ref() {
            "open" => super::show_main_window(app),
            "pause" => {
                if let Some(p) = app.try_state::<Paused>() {
                    p.0.fetch_xor(true, Ordering::Relaxed);
                }
            }
            "quit" => app.exit(0),
            other => {
                if let Some(id) = other.strip_prefix("event:").and_then(|n| n.parse().ok()) {
                    super::open_event(app, id);
                }
            }
        })
        .build(app)?;
    Ok(())
}

/// Recolours the icon and rebuilds the menu's failure list.
pub fn update(app: &AppHandle, gate: &Gate) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else {
        return;
    };
    if let Ok(image) = icon(gate) {
        let _ = tray.set_icon(Some(image));
    }
    let _ = tray.set_tooltip(Some(tooltip(gate)));
    if let Ok(m) = menu(app, gate) {
        let _ = tray.set_menu(Some(m));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use gatehouse_core::api::{Api, Host};
    use gatehouse_core::settings::{Settings, SourceMode};
    use gatehouse_core::store::Store;
    use tauri::Manager;
    use tauri::menu::MenuItemKind;
    use tauri::test::{mock_builder, mock_context, noop_assets};

    use super::super::{AppState, DesktopHost};

    fn texts<R: tauri::Runtime>(app: &tauri::AppHandle<R>) -> Vec<String> {
        let gate = gatehouse_core::rules::gate::evaluate(Vec::new(), &Default::default());
        super::menu(app, &gate)
            .expect("menu")
            .items()
            .expect("items")
            .iter()
            .filter_map(|item| match item {
                MenuItemKind::MenuItem(i) => i.text().ok(),
                _ => None,
            })
            .collect()
    }

    /// The tray says where the inbox stands while one is followed, and nothing about an
    /// inbox otherwise.
    #[test]
    fn the_menu_has_the_inbox_line_while_an_inbox_is_followed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open_dir(dir.path()).expect("store"));
        let listener = Settings {
            listen: "127.0.0.1:0".into(),
            ..Settings::default()
        };
        let host = tauri::async_runtime::block_on(DesktopHost::start(store.clone(), &listener));
        let app = mock_builder()
            .manage(AppState {
                api: Api::new(store, host),
            })
            .build(mock_context(noop_assets()))
            .expect("mock app");
        let handle = app.handle();
        assert!(
            !texts(handle).iter().any(|t| t.starts_with("Inbox")),
            "{:?}",
            texts(handle)
        );
        let host = app.state::<AppState>();
        let inbox = Settings {
            source: SourceMode::Inbox,
            inbox_url: Some("http://127.0.0.1:9".into()),
            ..listener.clone()
        };
        tauri::async_runtime::block_on(host.api.host().apply_settings(inbox)).expect("applied");
        let lines = texts(handle);
        assert!(
            lines.contains(&"Inbox 127.0.0.1:9: no token".to_owned()),
            "{lines:?}"
        );
        tauri::async_runtime::block_on(host.api.host().stop()).expect("stop");
    }
}
