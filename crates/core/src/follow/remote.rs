//! Calling an inbox's API from the command line: `gatehouse status --remote URL` is a
//! release gate on a machine that has no Gatehouse data of its own (a CI job).

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// Sends `request` (an `ApiRequest` as JSON) to `url`'s rpc and returns its `result` as `T`;
/// the inbox's errors come back as the same kinds of [`Error`].
pub fn call<T: DeserializeOwned>(url: &str, token: &str, request: &serde_json::Value) -> Result<T> {
    let agent = crate::outbound::agent()
        .timeout_connect(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build();
    let endpoint = format!("{}/api/v1/rpc", url.trim_end_matches('/'));
    let response = agent
        .post(&endpoint)
        .set("Authorization", &format!("Bearer {token}"))
        .set("Content-Type", "application/json")
        .send_string(&request.to_string());
    let (status, text) = match response {
        Ok(r) => (r.status(), r.into_string()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string()),
        Err(e) => return Err(Error::Transport(format!("cannot reach {endpoint}: {e}"))),
    };
    let text =
        text.map_err(|e| Error::Transport(format!("{endpoint}: the answer was cut off: {e}")))?;
    let body = crate::json::value(&text).map_err(|_| {
        Error::Transport(format!(
            "{endpoint} answered HTTP {status} with something that is not Gatehouse's API"
        ))
    })?;
    if !(200..300).contains(&status) {
        let message = body["message"].as_str().unwrap_or("no message").to_owned();
        return Err(match body["kind"].as_str() {
            Some("unauthorized") => {
                Error::Unauthorized(format!("the inbox refused the token: {message}"))
            }
            Some("forbidden") => Error::Forbidden(message),
            Some("not_found") => Error::NotFound(message),
            Some("invalid") => Error::Invalid(message),
            Some("conflict") => Error::Conflict(message),
            Some("unavailable") => Error::StoreUnavailable(message),
            _ => Error::Transport(format!("{endpoint} answered HTTP {status}: {message}")),
        });
    }
    serde_json::from_value(body["result"].clone()).map_err(|e| {
        Error::Transport(format!(
            "{endpoint} answered in a shape this version does not know: {e}"
        ))
    })
}
