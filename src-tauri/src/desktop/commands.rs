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
pub fn open_link(app: tauri::AppHandle, url: String) -> Result<(), ApiError> {
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
