//! The senders Gatehouse understands, one module each: how a request proves it came from
//! the sender (header, algorithm, constant-time compare on the raw bytes), where its delivery
//! id is (the dedupe key), whether it dates itself (a replay window), and how it reads into
//! the shared model ([`crate::model`]). A fourth provider is one more module here, its arm
//! in each `match` below and in `samples` and `send` (its samples, how it signs), a
//! `Provider` variant, and its label and set-up steps in the UI; the compiler lists each.

pub mod appcircle;
pub mod github;
pub mod gitlab;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::model::{Classification, Outcome, Provider, Scope, Subject, Verdict};
use crate::receive::envelope::Envelope;
use crate::receive::signature::SignatureError;

/// A request's headers as the providers read them: lowercase names, values as text.
pub type Headers = [(String, String)];

/// The values of header `name` (lowercase), in order.
pub fn values<'a>(headers: &'a Headers, name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The first value of header `name`, trimmed; `None` when absent or empty.
pub fn first<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    values(headers, name)
        .into_iter()
        .map(str::trim)
        .find(|v| !v.is_empty())
}

/// Why a request is refused before it is read: its verdict and the reason for the sender.
pub type Refused = (Verdict, String);

/// A proven request, read: its envelope (id, time, words, links) and its classification.
pub type Parsed = (Envelope, Classification);

impl Provider {
    /// The header whose value proves where a request came from.
    pub fn proof_header(self) -> &'static str {
        match self {
            Provider::Appcircle => crate::receive::signature::HEADER,
            Provider::Github => github::SIGNATURE_HEADER,
            Provider::Gitlab => gitlab::TOKEN_HEADER,
        }
    }

    /// What is kept of a request's proof, so that it can be verified again later (accepted
    /// when stale, replayed): the signatures as sent, or, for GitLab, whose proof is the
    /// secret itself, the SHA-256 of each token (never the token).
    pub fn proofs(self, headers: &Headers) -> Vec<String> {
        let sent = values(headers, self.proof_header());
        match self {
            Provider::Gitlab => sent.into_iter().map(gitlab::token_proof).collect(),
            _ => sent.into_iter().map(str::to_owned).collect(),
        }
    }

    /// Whether its deliveries carry their own time to hold a replay window against
    /// (Appcircle's `timestamp`). GitHub and GitLab send none: their replay protection is the
    /// delivery id.
    pub fn has_window(self) -> bool {
        matches!(self, Provider::Appcircle)
    }

    /// Verifies `proofs` (all values of [`Provider::proof_header`], as kept by
    /// [`Provider::proofs`]) against the endpoint's secrets, then reads the body: nothing is
    /// parsed before the proof passes.
    pub fn read(
        self,
        secrets: &[&[u8]],
        proofs: &[&str],
        headers: &Headers,
        body: &[u8],
        received_at: DateTime<Utc>,
    ) -> Result<Parsed, Refused> {
        match self {
            Provider::Appcircle => {
                let checked = crate::receive::signature::single_header(proofs)
                    .and_then(|h| crate::receive::signature::verify(secrets, body, h));
                checked.map_err(|e| refusal(e, self.proof_header(), "64 hex digits"))?;
                let envelope =
                    Envelope::parse(body).map_err(|e| (Verdict::Malformed, e.to_string()))?;
                let classification = appcircle::classify(&envelope);
                Ok((envelope, classification))
            }
            Provider::Github => {
                github::verify(secrets, proofs, headers, body)?;
                github::read(headers, body, received_at)
            }
            Provider::Gitlab => {
                gitlab::verify(secrets, proofs)?;
                gitlab::read(headers, body, received_at)
            }
        }
    }
}

/// The sender's reason for a proof that failed, naming its header and the form it must
/// have (`missing X-Hub-Signature-256 header`).
pub fn refusal(e: SignatureError, header: &str, form: &str) -> Refused {
    match e {
        SignatureError::Missing => (
            Verdict::MissingSignature,
            format!("missing {header} header"),
        ),
        SignatureError::Malformed => (
            Verdict::BadSignature,
            format!("{header} header is not {form}"),
        ),
        SignatureError::Ambiguous => (
            Verdict::BadSignature,
            format!("more than one {header} header"),
        ),
        SignatureError::Mismatch => (
            Verdict::BadSignature,
            format!("{header} does not match any active secret"),
        ),
    }
}

/// What one GitHub or GitLab delivery says, before it becomes an envelope and a
/// classification ([`Reading::into_read`]).
pub(crate) struct Reading {
    pub title: String,
    pub message: Option<String>,
    pub outcome: Outcome,
    pub scope: Scope,
    pub subject: Subject,
    /// The delivery's own time, from the payload (neither sends one in its headers).
    pub at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    /// The page to open for it (http(s) only is kept).
    pub link: Option<String>,
}

/// Where a delivery came from and how it is named, beside what it says.
pub(crate) struct Origin {
    pub provider: Provider,
    pub delivery_id: String,
    /// `event|action`, as Appcircle's actions are spelled.
    pub action: String,
    /// The event's name as the sender gave it.
    pub module: Option<String>,
    pub received_at: DateTime<Utc>,
}

impl Reading {
    /// A stored shape of one delivery: `item` is its body, kept whole.
    pub(crate) fn into_read(self, origin: Origin, item: Value) -> Parsed {
        let mut links = Map::new();
        if let Some(url) = self
            .link
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        {
            links.insert("detail".into(), Value::String(url));
        }
        let envelope = Envelope {
            delivery_id: origin.delivery_id,
            timestamp: self.at.unwrap_or(origin.received_at),
            action: Some(origin.action),
            title: Some(self.title),
            message: self.message,
            item,
            links,
        };
        let classification = Classification {
            provider: origin.provider,
            scope: self.scope,
            outcome: self.outcome,
            module: origin.module,
            rejected: false,
            expiring: false,
            subject: self.subject,
            started_at: self.started_at,
        };
        (envelope, classification)
    }
}

/// The JSON object a proven body holds; anything else is malformed.
pub(crate) fn object(body: &[u8]) -> Result<Value, Refused> {
    let json = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let value: Value = serde_json::from_slice(json)
        .map_err(|e| (Verdict::Malformed, format!("body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err((Verdict::Malformed, "body is not a JSON object".into()));
    }
    Ok(value)
}

/// The text at `path` in `value` (a string, or a number written out).
pub(crate) fn text(value: &Value, path: &[&str]) -> Option<String> {
    let mut v = value;
    for key in path {
        v = v.get(key)?;
    }
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// SHA-256 of `text`, lowercase hex.
fn sha256_hex(text: &[u8]) -> String {
    hex::encode(Sha256::digest(text))
}
