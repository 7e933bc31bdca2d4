//! An empty Tauri 2 window with the plugins Gatehouse uses: what the window's memory is
//! measured against (scripts/footprint.sh).

use tauri::{WebviewUrl, WebviewWindowBuilder};

fn main() {
    let built = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|_, _, _| {}))
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ))
        .plugin(tauri_plugin_opener::init())
        .setup(|app| {
            WebviewWindowBuilder::new(app, "main", WebviewUrl::App("index.html".into()))
                .title("Empty")
                .inner_size(1180.0, 780.0)
                .build()?;
            Ok(())
        })
        .run(tauri::generate_context!());
    if let Err(e) = built {
        eprintln!("empty-window: {e}");
        std::process::exit(1);
    }
}
