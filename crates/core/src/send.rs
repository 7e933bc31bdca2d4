//! Signs a body as Appcircle does and POSTs it: `gatehouse send` and the app's
//! "send a test delivery" both go through here.

use serde::Serialize;
use ts_rs::TS;

use crate::signature;
use crate::{Error, Result};

/// What the receiving end answered.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export)]
pub struct SendOutcome {
    pub status_code: u16,
    pub delivery_id: Option<String>,
    /// The answer's body: JSON when it parses, else the text.
    pub response: serde_json::Value,
}

/// Blocking: call it from a blocking thread in async code.
pub fn deliver(url: &str, secret: &str, body: &[u8]) -> Result<SendOutcome> {
    let delivery_id = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("deliveryId")
                .and_then(|d| d.as_str())
                .map(str::to_owned)
        });
    let agent = ureq::AgentBuilder::new()
        .timeout(std::time::Duration::from_secs(30))
        .build();
    let answer = agent
        .post(url)
        .set("Content-Type", "application/json")
        .set(
            "User-Agent",
            concat!("gatehouse-send/", env!("CARGO_PKG_VERSION")),
        )
        .set(signature::HEADER, &signature::sign(secret.as_bytes(), body))
        .send_bytes(body);
    let (status_code, text) = match answer {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(ureq::Error::Transport(t)) => {
            return Err(Error::Transport(format!("could not deliver to {url}: {t}")));
        }
    };
    let response = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    Ok(SendOutcome {
        status_code,
        delivery_id,
        response,
    })
}
