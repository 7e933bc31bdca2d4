//! The desktop shell: the same store and listener `serve` runs, inside Tauri's runtime,
//! with a window. (A placeholder window for now; the dashboard comes next.)

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use gatehouse_core::listener::{ListenerConfig, RunningListener};
use gatehouse_core::store::Store;
use serde::Serialize;
use tauri::{Manager, RunEvent, WebviewUrl, WebviewWindowBuilder};

use crate::cli::{self, LISTEN_SETTING};
use crate::error::Result;
use crate::exit;

/// What the window needs to know about the running app.
#[derive(Debug, Clone, Serialize)]
struct AppInfo {
    listen_url: String,
    data_dir: String,
    endpoint_count: usize,
    version: &'static str,
}

struct Running {
    store: Arc<Store>,
    listener: Mutex<Option<RunningListener>>,
    data_dir: PathBuf,
}

#[tauri::command]
fn app_info(state: tauri::State<'_, Running>) -> std::result::Result<AppInfo, String> {
    let addr = state
        .listener
        .lock()
        .map_err(|_| "listener state is poisoned".to_owned())?
        .as_ref()
        .map(|l| l.local_addr().to_string())
        .unwrap_or_default();
    let endpoints = state.store.endpoints().map_err(|e| e.to_string())?;
    Ok(AppInfo {
        listen_url: format!("http://{addr}"),
        data_dir: state.data_dir.display().to_string(),
        endpoint_count: endpoints.len(),
        version: env!("CARGO_PKG_VERSION"),
    })
}

pub fn run(data_dir: PathBuf) -> Result<i32> {
    crate::serve::init_logging();
    let store = cli::open_shared(&data_dir)?;
    let addr = match std::env::var("GATEHOUSE_LISTEN") {
        Ok(s) => cli::parse_listen(&s)?,
        Err(_) => cli::listen_addr(None)?,
    };
    let listener = tauri::async_runtime::block_on(async {
        let l = RunningListener::start(addr, store.clone(), ListenerConfig::default()).await?;
        store
            .set_setting(LISTEN_SETTING, &l.local_addr().to_string())
            .await?;
        Ok::<_, gatehouse_core::Error>(l)
    })?;
    tracing::info!("Gatehouse listening on http://{}", listener.local_addr());
    let app = tauri::Builder::default()
        .manage(Running {
            store,
            listener: Mutex::new(Some(listener)),
            data_dir,
        })
        .invoke_handler(tauri::generate_handler![app_info])
        .setup(|app| {
            WebviewWindowBuilder::new(app, "main", WebviewUrl::App("index.html".into()))
                .title("Gatehouse")
                .inner_size(1100.0, 720.0)
                .min_inner_size(640.0, 480.0)
                .build()?;
            Ok(())
        })
        .build(tauri::generate_context!("tauri.conf.json"))?;
    app.run(|handle, event| {
        if let RunEvent::Exit = event {
            let state = handle.state::<Running>();
            let listener = state.listener.lock().ok().and_then(|mut l| l.take());
            if let Some(listener) = listener {
                let _ = tauri::async_runtime::block_on(listener.stop());
            }
        }
    });
    Ok(exit::OK)
}
