//! The window's two ways in: `rpc` for the whole API, `open_link` for the system browser.

use gatehouse_core::api::{ApiError, ApiRequest, ApiResponse};
use tauri_plugin_opener::OpenerExt;

use super::AppState;

/// The single entry point to the backend; requests and responses are the TypeScript
/// types generated from `gatehouse_core::api`.
#[tauri::command]
pub async fn rpc(
    state: tauri::State<'_, AppState>,
    request: ApiRequest,
) -> Result<ApiResponse, ApiError> {
    state.api.call(request).await.map_err(ApiError::from)
}

/// Opens an Appcircle page in the system browser: http(s) only, never a file or script URL.
#[tauri::command]
pub fn open_link<R: tauri::Runtime>(app: tauri::AppHandle<R>, url: String) -> Result<(), ApiError> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(ApiError {
            kind: "invalid".into(),
            message: "only http(s) links open".into(),
        });
    }
    app.opener()
        .open_url(url, None::<&str>)
        .map_err(|e| ApiError {
            kind: "unavailable".into(),
            message: format!("could not open the browser: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use gatehouse_core::api::Api;
    use gatehouse_core::settings::Settings;
    use gatehouse_core::store::Store;
    use serde_json::{Value, json};
    use tauri::Manager;
    use tauri::test::{
        INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder, mock_context, noop_assets,
    };
    use tauri::webview::{InvokeRequest, WebviewWindowBuilder};

    use super::super::{AppState, DesktopHost};

    fn invoke(
        webview: &tauri::WebviewWindow<MockRuntime>,
        cmd: &str,
        body: Value,
    ) -> Result<Value, Value> {
        get_ipc_response(
            webview,
            InvokeRequest {
                cmd: cmd.into(),
                callback: tauri::ipc::CallbackFn(0),
                error: tauri::ipc::CallbackFn(1),
                url: "tauri://localhost".parse().expect("url"),
                body: tauri::ipc::InvokeBody::Json(body),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|b| b.deserialize::<Value>().expect("json response"))
    }

    #[test]
    fn the_rpc_command_serves_the_core_api_through_the_ipc_layer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open_dir(dir.path()).expect("store"));
        let settings = Settings {
            listen: "127.0.0.1:0".into(),
            ..Settings::default()
        };
        let host = tauri::async_runtime::block_on(DesktopHost::start(store.clone(), &settings));
        assert_eq!(gatehouse_core::api::Host::listener_error(&host), None);
        let app = mock_builder()
            .manage(AppState {
                api: Api::new(store, host),
            })
            .invoke_handler(tauri::generate_handler![super::rpc, super::open_link])
            .build(mock_context(noop_assets()))
            .expect("mock app");
        let webview = WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .expect("webview");

        let rpc = |request: Value| invoke(&webview, "rpc", json!({ "request": request }));
        let created =
            rpc(json!({"method": "create_endpoint", "params": {"name": "ci", "secret": null}}))
                .expect("created");
        assert_eq!(created["method"], "create_endpoint");
        assert!(
            created["result"]["url"]
                .as_str()
                .is_some_and(|u| u.ends_with("/hooks/ci"))
        );
        assert_eq!(created["result"]["secret"].as_str().map(str::len), Some(64));

        // A real signed delivery through the real listener, started by the host.
        let sent = rpc(
            json!({"method": "send_test", "params": {"endpoint": "ci", "sample": "build-failed"}}),
        )
        .expect("sent");
        assert_eq!(sent["result"]["status_code"], 200, "{sent}");
        let overview = rpc(json!({"method": "overview"})).expect("overview");
        assert_eq!(overview["result"]["gate"]["state"], "failing");
        assert_eq!(overview["result"]["total_events"], 1);

        let missing =
            rpc(json!({"method": "event", "params": {"id": 999}})).expect_err("no such event");
        assert_eq!(missing["kind"], "not_found");
        let bad = rpc(json!({"method": "no_such_method"}));
        assert!(bad.is_err(), "unknown methods are refused");
        let port_taken = rpc(json!({"method": "save_settings", "params": {"settings": {"listen": "not an address"}}}))
            .expect_err("invalid settings");
        assert_eq!(port_taken["kind"], "invalid");

        let link = invoke(&webview, "open_link", json!({"url": "javascript:alert(1)"}))
            .expect_err("refused");
        assert_eq!(link["kind"], "invalid");
        tauri::async_runtime::block_on(app.state::<AppState>().api.host().stop()).expect("stops");
    }
}

#[cfg(test)]
mod host_tests {
    use std::sync::Arc;

    use gatehouse_core::api::Host;
    use gatehouse_core::settings::Settings;
    use gatehouse_core::store::Store;

    use super::super::DesktopHost;

    #[test]
    fn a_taken_port_leaves_the_app_up_with_a_reason_and_settings_can_move_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open_dir(dir.path()).expect("store"));
        let any = Settings {
            listen: "127.0.0.1:0".into(),
            ..Settings::default()
        };
        tauri::async_runtime::block_on(async {
            let first = DesktopHost::start(store.clone(), &any).await;
            let taken = first.listen_addr().expect("first listens").to_string();
            let second = DesktopHost::start(
                store.clone(),
                &Settings {
                    listen: taken.clone(),
                    ..Settings::default()
                },
            )
            .await;
            assert_eq!(second.listen_addr(), None);
            let why = second.listener_error().expect("a reason");
            assert!(why.contains("already in use"), "{why}");

            let err = second
                .apply_settings(Settings {
                    listen: taken,
                    ..Settings::default()
                })
                .await
                .expect_err("still taken");
            assert!(err.to_string().contains("already in use"));
            second.apply_settings(any.clone()).await.expect("moved");
            assert!(second.listen_addr().is_some());
            assert_eq!(second.listener_error(), None);
            first.stop().await.expect("stop");
            second.stop().await.expect("stop");
        });
    }
}
