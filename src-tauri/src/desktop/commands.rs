//! The window's ways in: `rpc` for the whole API, `open_link` for the system browser,
//! `save_download` for an export (a browser downloads one itself).

use gatehouse_core::api::{ApiError, ApiRequest, ApiResponse};
use gatehouse_core::error::ErrorKind;
use tauri_plugin_opener::OpenerExt;

use super::AppState;

/// The single entry point to the backend; requests and responses are the TypeScript
/// types generated from `gatehouse_core::api`. The request arrives as JSON and is read by
/// [`ApiRequest::from_json`], as the inbox reads it (one deserializer in the binary); one
/// that is not a request is an `invalid` error like any other.
#[tauri::command]
pub async fn rpc(
    state: tauri::State<'_, AppState>,
    request: serde_json::Value,
) -> Result<ApiResponse, ApiError> {
    let request = ApiRequest::from_json(request).map_err(|e| ApiError {
        kind: ErrorKind::Invalid,
        message: format!("not an API request: {e}"),
    })?;
    state.api.call(request).await.map_err(ApiError::from)
}

/// Opens an Appcircle page in the system browser: http(s) only, never a file or script URL.
#[tauri::command]
pub fn open_link<R: tauri::Runtime>(app: tauri::AppHandle<R>, url: String) -> Result<(), ApiError> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(ApiError {
            kind: ErrorKind::Invalid,
            message: "only http(s) links open".into(),
        });
    }
    app.opener()
        .open_url(url, None::<&str>)
        .map_err(|e| ApiError {
            kind: ErrorKind::Unavailable,
            message: format!("could not open the browser: {e}"),
        })
}

/// Saves an export (the History view's CSV) into the user's Downloads folder, under a name
/// not taken yet; returns where. The name is a plain file name ending in `.csv`.
#[tauri::command]
pub fn save_download<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    name: String,
    text: String,
) -> Result<String, ApiError> {
    use tauri::Manager;
    let plain = name.ends_with(".csv")
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !plain {
        return Err(ApiError {
            kind: ErrorKind::Invalid,
            message: format!("`{name}` is not a plain .csv file name"),
        });
    }
    let unavailable = |message: String| ApiError {
        kind: ErrorKind::Unavailable,
        message,
    };
    let dir = app
        .path()
        .download_dir()
        .or_else(|_| app.path().home_dir())
        .map_err(|e| unavailable(format!("no Downloads folder: {e}")))?;
    save_into(&dir, &name, &text)
        .map(|path| path.display().to_string())
        .map_err(unavailable)
}

/// Writes `text` into `dir` as `name`, or `name-1`, `name-2`… when taken: an export never
/// replaces a file.
fn save_into(dir: &std::path::Path, name: &str, text: &str) -> Result<std::path::PathBuf, String> {
    let stem = name.trim_end_matches(".csv");
    for n in 0..1000 {
        let file = match n {
            0 => dir.join(name),
            n => dir.join(format!("{stem}-{n}.csv")),
        };
        let mut create = std::fs::OpenOptions::new();
        create.write(true).create_new(true);
        match create.open(&file) {
            Ok(mut f) => {
                std::io::Write::write_all(&mut f, text.as_bytes())
                    .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
                return Ok(file);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cannot create {}: {e}", file.display())),
        }
    }
    Err(format!(
        "{} holds 1,000 exports named {name} already",
        dir.display()
    ))
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
    fn an_export_is_saved_beside_earlier_ones_never_over_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = super::save_into(dir.path(), "h.csv", "a\n").expect("saved");
        let second = super::save_into(dir.path(), "h.csv", "b\n").expect("saved");
        assert_eq!(first, dir.path().join("h.csv"));
        assert_eq!(second, dir.path().join("h-1.csv"));
        assert_eq!(std::fs::read_to_string(first).expect("read"), "a\n");
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
        assert_eq!(gatehouse_core::api::Host::listener(&host).error, None);
        let app = mock_builder()
            .manage(AppState {
                api: Api::new(store, host),
            })
            .invoke_handler(tauri::generate_handler![
                super::rpc,
                super::open_link,
                super::save_download
            ])
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

        // Only a plain .csv name is saved: never a path out of the Downloads folder.
        for name in ["../escape.csv", "notes.txt", ".hidden.csv", "a/b.csv"] {
            let refused = invoke(
                &webview,
                "save_download",
                json!({"name": name, "text": "x"}),
            )
            .expect_err(name);
            assert_eq!(refused["kind"], "invalid", "{name}");
        }

        let missing =
            rpc(json!({"method": "event", "params": {"id": 999}})).expect_err("no such event");
        assert_eq!(missing["kind"], "not_found");
        let bad = rpc(json!({"method": "no_such_method"})).expect_err("unknown method");
        assert_eq!(
            bad["kind"], "invalid",
            "unknown methods are refused as such: {bad}"
        );
        assert!(
            bad["message"]
                .as_str()
                .is_some_and(|m| m.contains("not an API request")),
            "{bad}"
        );
        let unparsable = rpc(json!({"method": "save_settings", "params": {"settings": {"listen": "not an address"}}}))
            .expect_err("invalid settings");
        assert_eq!(unparsable["kind"], "invalid");
        let huge = rpc(json!({"method": "save_settings", "params": {"settings": {"retention_days": 100_000_000}}}))
            .expect_err("out of range");
        assert_eq!(huge["kind"], "invalid");

        // A port another program holds: refused as such, and the listener stays where it was.
        let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("hold a port");
        let taken = holder.local_addr().expect("addr").to_string();
        let port_taken =
            rpc(json!({"method": "save_settings", "params": {"settings": {"listen": taken}}}))
                .expect_err("port taken");
        assert_eq!(port_taken["kind"], "bind_failed", "{port_taken}");
        assert!(
            port_taken["message"]
                .as_str()
                .is_some_and(|m| m.contains("already in use")),
            "{port_taken}"
        );
        let overview = rpc(json!({"method": "overview"})).expect("overview");
        assert!(
            overview["result"]["listener"]["base_url"].is_string(),
            "still listening where it was: {overview}"
        );

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
            let taken = first
                .listener()
                .base_url
                .expect("first listens")
                .trim_start_matches("http://")
                .to_owned();
            let second = DesktopHost::start(
                store.clone(),
                &Settings {
                    listen: taken.clone(),
                    ..Settings::default()
                },
            )
            .await;
            let status = second.listener();
            assert_eq!(status.base_url, None, "no address is claimed");
            assert_eq!(status.address, taken, "the address tried");
            let why = status.error.expect("a reason");
            assert!(why.contains("already in use"), "{why}");
            assert!(status.hint.is_some_and(|h| h.contains("Settings")));

            let err = second
                .apply_settings(Settings {
                    listen: taken,
                    ..Settings::default()
                })
                .await
                .expect_err("still taken");
            assert!(err.to_string().contains("already in use"));
            second.apply_settings(any.clone()).await.expect("moved");
            assert!(second.listener().base_url.is_some());
            assert_eq!(second.listener().error, None);
            first.stop().await.expect("stop");
            second.stop().await.expect("stop");
        });
    }

    /// Two saves at once must leave one consistent state: the settings stored are the ones
    /// in effect, and the listener answers at the address reported.
    #[test]
    fn concurrent_saves_leave_stored_settings_and_listener_from_the_same_call() {
        use gatehouse_core::api::{Api, ApiRequest};
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open_dir(dir.path()).expect("store"));
        let ports: Vec<u16> = (0..2)
            .map(|_| {
                std::net::TcpListener::bind("127.0.0.1:0")
                    .and_then(|l| l.local_addr())
                    .map(|a| a.port())
                    .expect("free port")
            })
            .collect();
        let settings_for = |port: u16| Settings {
            listen: format!("127.0.0.1:{port}"),
            ..Settings::default()
        };
        tauri::async_runtime::block_on(async {
            let host = DesktopHost::start(store.clone(), &settings_for(ports[0])).await;
            let api = Arc::new(Api::new(store.clone(), host));
            for round in 0..10 {
                let (a, b) = (
                    settings_for(ports[round % 2]),
                    settings_for(ports[(round + 1) % 2]),
                );
                let (api1, api2) = (api.clone(), api.clone());
                let first = tokio::spawn(async move {
                    api1.call(ApiRequest::SaveSettings { settings: a }).await
                });
                let second = tokio::spawn(async move {
                    api2.call(ApiRequest::SaveSettings { settings: b }).await
                });
                first.await.expect("joined").expect("saved");
                second.await.expect("joined").expect("saved");
                let status = api.host().listener();
                let stored = store.settings().expect("stored").listen;
                assert_eq!(
                    stored, status.address,
                    "round {round}: the stored settings are the ones in effect"
                );
                let url = status.base_url.clone().expect("listening after two saves");
                let health = tokio::task::spawn_blocking(move || {
                    ureq::get(&format!("{url}/healthz"))
                        .call()
                        .map(|r| r.status())
                        .ok()
                })
                .await
                .expect("client");
                assert_eq!(
                    health,
                    Some(200),
                    "round {round}: the reported address answers"
                );
            }
            api.host().stop().await.expect("stop");
        });
    }

    /// An inbox to follow: a real store, listener and API over loopback.
    struct TestInbox {
        url: String,
        listener: gatehouse_core::receive::listener::RunningListener,
        close: tokio::sync::watch::Sender<bool>,
        _dir: tempfile::TempDir,
    }

    struct InboxHost;

    impl Host for InboxHost {
        fn listener(&self) -> gatehouse_core::receive::listener::ListenerStatus {
            gatehouse_core::receive::listener::ListenerStatus::stopped("")
        }
        async fn apply_settings(&self, _: Settings) -> gatehouse_core::Result<()> {
            Ok(())
        }
    }

    /// Starts an inbox with an endpoint `ci` (secret `s3cret`) and returns it with a read token.
    async fn start_inbox() -> (TestInbox, String) {
        use gatehouse_core::api::Api;
        use gatehouse_core::receive::listener::{ListenerConfig, RunningListener};
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open_dir(dir.path()).expect("store"));
        store.add_endpoint("ci", "s3cret").await.expect("endpoint");
        let (_, token) = store
            .add_token("desk", gatehouse_core::serve::token::Role::Read)
            .await
            .expect("token");
        let (close, closing) = tokio::sync::watch::channel(false);
        let api = Arc::new(Api::new(store.clone(), InboxHost));
        let listener = RunningListener::start_with(
            "127.0.0.1:0".parse().expect("addr"),
            store,
            ListenerConfig::default(),
            gatehouse_core::serve::router(api, closing),
        )
        .await
        .expect("inbox listens");
        let url = format!("http://{}", listener.local_addr());
        let inbox = TestInbox {
            url,
            listener,
            close,
            _dir: dir,
        };
        (inbox, token)
    }

    /// Waits up to 20 s for `done`.
    async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !done() {
            assert!(
                std::time::Instant::now() < until,
                "timed out waiting: {what}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Inbox mode: the listener is off on purpose, the token saved through the API is used
    /// to follow the inbox, a delivery there reaches this store, and a stopped inbox shows as
    /// offline. Back to the listener, the inbox is no longer followed.
    #[test]
    fn inbox_mode_turns_the_listener_off_and_follows_with_the_saved_token() {
        use gatehouse_core::api::{Api, ApiRequest, ApiResponse};
        use gatehouse_core::follow::mirror::MirrorState;
        use gatehouse_core::send::samples::{self, Sample, SampleOptions};
        use gatehouse_core::settings::SourceMode;
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open_dir(dir.path()).expect("store"));
        let listener_mode = Settings {
            listen: "127.0.0.1:0".into(),
            ..Settings::default()
        };
        tauri::async_runtime::block_on(async {
            let (inbox, token) = start_inbox().await;
            let host = DesktopHost::start(store.clone(), &listener_mode).await;
            assert!(host.inbox().is_none(), "no inbox in listener mode");
            let api = Api::new(store.clone(), host);

            let bad = api
                .call(ApiRequest::SaveInboxToken {
                    url: inbox.url.clone(),
                    token: Some("not a token".into()),
                })
                .await
                .expect_err("refused");
            assert!(bad.to_string().contains("gh_inbox_"), "{bad}");
            let saved = api
                .call(ApiRequest::SaveInboxToken {
                    url: inbox.url.clone(),
                    token: Some(token.clone()),
                })
                .await
                .expect("kept");
            assert!(matches!(saved, ApiResponse::SaveInboxToken(Some(_))));
            let inbox_mode = Settings {
                source: SourceMode::Inbox,
                inbox_url: Some(format!("{}/", inbox.url)),
                ..listener_mode.clone()
            };
            api.call(ApiRequest::SaveSettings {
                settings: inbox_mode,
            })
            .await
            .expect("saved");
            assert_eq!(
                store.settings().expect("stored").inbox_url.as_deref(),
                Some(inbox.url.as_str()),
                "stored without the trailing slash"
            );
            let status = api.host().listener();
            assert!(status.off && status.base_url.is_none(), "{status:?}");

            let body =
                samples::build(Sample::BuildFailed, &SampleOptions::default()).expect("body");
            let hook = format!("{}/hooks/ci", inbox.url);
            let sent = tokio::task::spawn_blocking(move || {
                gatehouse_core::send::deliver(&hook, "s3cret", &body)
            })
            .await
            .expect("sender")
            .expect("sent");
            assert_eq!(sent.status_code, 200);
            eventually("the delivery reaches this store", || {
                store
                    .count_events(&Default::default())
                    .map(|c| c.total)
                    .unwrap_or(0)
                    == 1
            })
            .await;
            eventually("up to date", || {
                api.host()
                    .inbox()
                    .is_some_and(|i| matches!(i.state, MirrorState::UpToDate { .. }))
            })
            .await;
            let shown = api.host().inbox().expect("following");
            assert!(
                shown.headline.ends_with(": up to date"),
                "{}",
                shown.headline
            );
            assert!(shown.token.is_some(), "where the token is kept is shown");

            let _ = inbox.close.send(true);
            inbox.listener.stop().await.expect("inbox stops");
            eventually("offline once the inbox stops", || {
                api.host()
                    .inbox()
                    .is_some_and(|i| matches!(i.state, MirrorState::Offline { .. }))
            })
            .await;
            let offline = api.host().inbox().expect("following").headline;
            assert!(offline.starts_with("Offline since "), "{offline}");

            // Another URL: the token kept for the first is not sent there.
            let elsewhere = Settings {
                source: SourceMode::Inbox,
                inbox_url: Some("http://127.0.0.1:9".into()),
                ..listener_mode.clone()
            };
            api.call(ApiRequest::SaveSettings {
                settings: elsewhere,
            })
            .await
            .expect("saved");
            let moved = api.host().inbox().expect("following");
            assert!(
                matches!(moved.state, MirrorState::NoToken { .. }) && moved.token.is_none(),
                "{moved:?}"
            );

            api.call(ApiRequest::SaveSettings {
                settings: listener_mode,
            })
            .await
            .expect("back to the listener");
            assert!(api.host().inbox().is_none());
            assert!(api.host().listener().base_url.is_some());
            api.host().stop().await.expect("stop");
        });
    }
}
