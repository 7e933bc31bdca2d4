//! Signs a body as its provider does (or adds GitLab's token) and POSTs it: `gatehouse
//! send` and the app's "send a test delivery" both go through here.

pub mod samples;

use serde::Serialize;
use ts_rs::TS;

use crate::model::Provider;
use crate::receive::signature;
use crate::send::samples::Outgoing;
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

/// An Appcircle delivery of `body`. Blocking: call it from a blocking thread in async code.
pub fn deliver(url: &str, secret: &str, body: &[u8]) -> Result<SendOutcome> {
    let outgoing = Outgoing {
        body: body.to_vec(),
        headers: Vec::new(),
        delivery_id: None,
    };
    deliver_as(Provider::Appcircle, url, secret, &outgoing)
}

/// `outgoing` as `provider` sends it: Appcircle's `ac_signature`, GitHub's
/// `X-Hub-Signature-256: sha256=…`, GitLab's `X-Gitlab-Token`. Blocking.
pub fn deliver_as(
    provider: Provider,
    url: &str,
    secret: &str,
    outgoing: &Outgoing,
) -> Result<SendOutcome> {
    let body = outgoing.body.as_slice();
    let delivery_id = outgoing.delivery_id.clone().or_else(|| {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                v.get("deliveryId")
                    .and_then(|d| d.as_str())
                    .map(str::to_owned)
            })
    });
    let agent = crate::outbound::agent()
        .timeout(std::time::Duration::from_secs(30))
        .build();
    let signed = signature::sign(secret.as_bytes(), body);
    let (proof_header, proof) = match provider {
        Provider::Appcircle => (signature::HEADER, signed),
        Provider::Github => ("X-Hub-Signature-256", format!("sha256={signed}")),
        Provider::Gitlab => ("X-Gitlab-Token", secret.to_owned()),
    };
    let mut request = agent
        .post(url)
        .set("Content-Type", "application/json")
        .set(
            "User-Agent",
            concat!("gatehouse-send/", env!("CARGO_PKG_VERSION")),
        )
        .set(proof_header, &proof);
    for (name, value) in &outgoing.headers {
        request = request.set(name, value);
    }
    let answer = request.send_bytes(body);
    let (status_code, text) = match answer {
        Ok(r) => (r.status(), r.into_string().unwrap_or_default()),
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default()),
        Err(ureq::Error::Transport(t)) => {
            return Err(Error::Transport(format!("could not deliver to {url}: {t}")));
        }
    };
    let response = crate::json::value(&text).unwrap_or(serde_json::Value::String(text));
    Ok(SendOutcome {
        status_code,
        delivery_id,
        response,
    })
}
