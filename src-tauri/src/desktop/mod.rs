//! The desktop shell: the same store and listener `serve` runs, inside Tauri's runtime,
//! with a window, a tray icon whose colour is the gate, and native notifications.
//!
//! Data flows one way: the store's broadcast → [`live`] → window events, tray, notifier.
//! The window reaches the backend only through the `rpc` command ([`commands`]).

mod commands;
mod host;
mod live;
mod notifier;
mod tray;

use std::path::PathBuf;

use gatehouse_core::api::Api;
use tauri::{Manager, RunEvent, WebviewUrl, WebviewWindowBuilder, WindowEvent};

use crate::error::Result;
use crate::{exit, logging};
pub use host::DesktopHost;

/// The label of the one window.
pub const MAIN_WINDOW: &str = "main";

/// Shared with commands and background tasks.
pub struct AppState {
    pub api: Api<DesktopHost>,
}

pub fn run(data_dir: PathBuf) -> Result<i32> {
    logging::init();
    let store = std::sync::Arc::new(gatehouse_core::store::Store::open_dir(&data_dir)?);
    let mut settings = store.settings()?;
    if let Ok(listen) = std::env::var("GATEHOUSE_LISTEN") {
        // An override for this run (tests, a second profile); not saved.
        settings.listen = gatehouse_core::settings::parse_listen(&listen)?.to_string();
    }
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            show_main_window(app);
        }))
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ))
        .plugin(tauri_plugin_opener::init())
        .invoke_handler(tauri::generate_handler![
            commands::rpc,
            commands::open_link,
            commands::save_download
        ])
        .setup(move |app| {
            // After the single-instance check: a second launch only focuses the first.
            let host = tauri::async_runtime::block_on(DesktopHost::start(store.clone(), &settings));
            match host.base_url() {
                Some(url) => tracing::info!("Gatehouse listening on {url}"),
                None => tracing::warn!("Gatehouse is not listening; the window says why"),
            }
            app.manage(AppState {
                api: Api::new(store.clone(), host),
            });
            let handle = app.handle().clone();
            app.state::<AppState>()
                .api
                .host()
                .set_autostart_switch(move |on| {
                    use tauri_plugin_autostart::ManagerExt;
                    let launcher = handle.autolaunch();
                    let done = if on {
                        launcher.enable()
                    } else {
                        launcher.disable()
                    };
                    done.map_err(|e| gatehouse_core::Error::System(format!("launch at login: {e}")))
                });
            build_window(app.handle())?;
            tray::create(app.handle())?;
            live::spawn(app.handle().clone(), store.clone());
            Ok(())
        })
        .on_window_event(|window, event| {
            // Closing the window keeps Gatehouse running in the tray; Quit is in the tray menu.
            if let WindowEvent::CloseRequested { api, .. } = event {
                api.prevent_close();
                let _ = window.hide();
            }
        })
        .build(crate::context())?;
    app.run(|handle, event| {
        if let RunEvent::Exit = event {
            // Drain the listener: requests in flight finish and commit before we go.
            let state = handle.state::<AppState>();
            let _ = tauri::async_runtime::block_on(state.api.host().stop());
        }
    });
    Ok(exit::OK)
}

fn build_window(app: &tauri::AppHandle) -> tauri::Result<()> {
    let window = WebviewWindowBuilder::new(app, MAIN_WINDOW, WebviewUrl::App("index.html".into()))
        .title("Gatehouse")
        .inner_size(1180.0, 780.0)
        .min_inner_size(720.0, 480.0)
        .build()?;
    #[cfg(target_os = "linux")]
    paint_without_gpu(&window);
    #[cfg(not(target_os = "linux"))]
    let _ = window;
    Ok(())
}

/// Set to `1` to keep WebKitGTK's GPU compositing in the window (see [`paint_without_gpu`]).
#[cfg(target_os = "linux")]
pub const GPU_ENV: &str = "GATEHOUSE_WEBVIEW_GPU";

/// WebKitGTK composites every page on the GPU by default. A dashboard of lists gains nothing
/// from it, and the compositor's layers and GL buffers were the largest single share of the
/// window's memory: about 95 MiB of the web process with 10,000 events, where Mesa's software
/// GL does the work, as on a machine without a GPU driver (make bench, window memory). Without
/// it WebKit paints with the CPU into one backing store; scrolling a list stays smooth.
#[cfg(target_os = "linux")]
fn paint_without_gpu(window: &tauri::WebviewWindow) {
    if std::env::var_os(GPU_ENV).is_some_and(|v| v == "1") {
        return;
    }
    let painted = window.with_webview(|webview| {
        use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebViewExt};
        if let Some(settings) = webview.inner().settings() {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
        }
    });
    if let Err(e) = painted {
        tracing::warn!("the window keeps GPU compositing: {e}");
    }
}

/// Brings the window back (from the tray, a second launch, a notification click).
pub fn show_main_window(app: &tauri::AppHandle) {
    if let Some(w) = app.get_webview_window(MAIN_WINDOW) {
        let _ = w.show();
        let _ = w.unminimize();
        let _ = w.set_focus();
    }
}

/// Opens one event in the window's detail view.
pub fn open_event(app: &tauri::AppHandle, event_id: i64) {
    use tauri::Emitter;
    show_main_window(app);
    let _ = app.emit(live::OPEN_EVENT, event_id);
}
