//! The pure middle of the pipeline: what the listener saw, and the verdict on it before
//! the store records it. No I/O here, so every rule is unit-tested with plain values.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::classify::{Classification, classify};
use crate::envelope::Envelope;
use crate::signature::{self, SignatureError};

/// What became of a request. Stored as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(ts_rs::TS)]
#[ts(export)]
pub enum Verdict {
    /// Verified, fresh, new: stored as an event.
    Accepted,
    /// Verified, but this endpoint already stored that `deliveryId`.
    Duplicate,
    MissingSignature,
    BadSignature,
    /// Verified, but not an envelope we can use (not JSON, no `deliveryId`, ...).
    Malformed,
    /// Verified, but its timestamp is outside the replay window; the user may accept it.
    Stale,
    TooLarge,
    MethodNotAllowed,
    /// The body did not arrive whole (client hung up or was too slow).
    Incomplete,
}

impl Verdict {
    /// Whether the body passed signature verification (so it came from the sender).
    pub fn is_verified(self) -> bool {
        matches!(
            self,
            Verdict::Accepted | Verdict::Duplicate | Verdict::Stale
        )
    }

    pub const ALL: [Verdict; 9] = [
        Verdict::Accepted,
        Verdict::Duplicate,
        Verdict::MissingSignature,
        Verdict::BadSignature,
        Verdict::Malformed,
        Verdict::Stale,
        Verdict::TooLarge,
        Verdict::MethodNotAllowed,
        Verdict::Incomplete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Duplicate => "duplicate",
            Verdict::MissingSignature => "missing_signature",
            Verdict::BadSignature => "bad_signature",
            Verdict::Malformed => "malformed",
            Verdict::Stale => "stale",
            Verdict::TooLarge => "too_large",
            Verdict::MethodNotAllowed => "method_not_allowed",
            Verdict::Incomplete => "incomplete",
        }
    }

    /// The HTTP status the sender gets. Never 410: senders read it as "disable me".
    pub fn status_code(self) -> u16 {
        match self {
            Verdict::Accepted | Verdict::Duplicate => 200,
            Verdict::MissingSignature | Verdict::BadSignature => 401,
            Verdict::Malformed | Verdict::Stale | Verdict::Incomplete => 400,
            Verdict::TooLarge => 413,
            Verdict::MethodNotAllowed => 405,
        }
    }
}

impl std::str::FromStr for Verdict {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let key = s.trim().to_ascii_lowercase().replace(['-', ' '], "_");
        let alias = match key.as_str() {
            "invalid_signature" | "signature_mismatch" | "unauthorized" => "bad_signature",
            "unsigned" | "no_signature" => "missing_signature",
            "expired" | "too_old" | "outside_window" => "stale",
            "invalid" | "invalid_json" | "bad_request" => "malformed",
            "payload_too_large" | "oversized" => "too_large",
            "dup" | "duplicated" => "duplicate",
            other => other,
        };
        Verdict::ALL
            .into_iter()
            .find(|v| v.as_str() == alias)
            .ok_or_else(|| {
                let names: Vec<_> = Verdict::ALL.iter().map(|v| v.as_str()).collect();
                format!("unknown verdict `{s}` (one of: {})", names.join(", "))
            })
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an event entered the store; notifications fire only for `live`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(ts_rs::TS)]
#[ts(export)]
pub enum Source {
    /// Arrived in time and was accepted on the spot.
    Live,
    /// Was stale, and the user accepted it from the request history.
    Accepted,
    /// A stored delivery fed through the pipeline again by the user.
    Replayed,
    /// Read from Appcircle's API by the account sync, not signed and pushed: never notified
    /// one by one (a sync ends in one summary at most).
    Synced,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Live => "live",
            Source::Accepted => "accepted",
            Source::Replayed => "replayed",
            Source::Synced => "synced",
        }
    }

    pub fn parse(s: &str) -> Source {
        match s {
            "accepted" => Source::Accepted,
            "replayed" => Source::Replayed,
            "synced" => Source::Synced,
            _ => Source::Live,
        }
    }
}

/// A request to an existing endpoint, as it will be recorded.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub endpoint: String,
    pub method: String,
    pub path: String,
    pub remote_addr: Option<String>,
    /// Header names and values, secret-bearing values already redacted.
    pub headers: Vec<(String, String)>,
    /// The raw `ac_signature` value, kept apart from `headers` so a stale delivery can be
    /// verified again when the user accepts it; never printed.
    pub signature: Option<String>,
    /// `None` when the body was not read (too large, wrong method).
    pub body: Option<Vec<u8>>,
    pub body_size: u64,
    pub received_at: DateTime<Utc>,
    /// Live from the network, or fed again by the user (replay).
    pub source: Source,
}

/// A verified, parsed delivery on its way to the store.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub envelope: Envelope,
    pub classification: Classification,
    /// Set when the timestamp is outside the window: recorded, not yet an event.
    pub stale: Option<String>,
}

/// The listener's verdict before the store adds its own (duplicate or not).
#[derive(Debug, Clone)]
pub enum Judgment {
    Deliver(Box<Delivery>),
    Reject { verdict: Verdict, error: String },
}

impl Judgment {
    pub fn reject(verdict: Verdict, error: impl Into<String>) -> Self {
        Judgment::Reject {
            verdict,
            error: error.into(),
        }
    }
}

/// Verify, parse, classify and check the window, in that order: nothing is parsed before
/// its signature proves it came from someone holding the secret.
pub fn judge(
    secrets: &[&[u8]],
    signature_values: &[&str],
    body: &[u8],
    now: DateTime<Utc>,
    window: Duration,
) -> Judgment {
    let checked = signature::single_header(signature_values)
        .and_then(|header| signature::verify(secrets, body, header));
    match checked {
        Ok(_) => {}
        Err(SignatureError::Missing) => {
            return Judgment::reject(
                Verdict::MissingSignature,
                SignatureError::Missing.to_string(),
            );
        }
        Err(e) => return Judgment::reject(Verdict::BadSignature, e.to_string()),
    }
    let envelope = match Envelope::parse(body) {
        Ok(envelope) => envelope,
        Err(e) => return Judgment::reject(Verdict::Malformed, e.to_string()),
    };
    let stale = stale_reason(envelope.timestamp, now, window);
    let classification = classify(&envelope);
    Judgment::Deliver(Box::new(Delivery {
        envelope,
        classification,
        stale,
    }))
}

/// `None` when `timestamp` is within `window` of `now`, edges included.
pub fn stale_reason(
    timestamp: DateTime<Utc>,
    now: DateTime<Utc>,
    window: Duration,
) -> Option<String> {
    let skew = now - timestamp;
    if skew.abs() <= window {
        return None;
    }
    let direction = if skew > Duration::zero() {
        "old"
    } else {
        "in the future"
    };
    Some(format!(
        "timestamp {} is {}s {direction}; the replay window is ±{}s",
        crate::time::to_text(timestamp),
        skew.num_seconds().abs(),
        window.num_seconds()
    ))
}

/// Header names whose values are credentials or could help forge one: stored as `[redacted]`.
pub fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "signature",
        "secret",
        "token",
        "auth",
        "cookie",
        "api-key",
        "apikey",
        "password",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// What a redacted header value reads as.
pub const REDACTED: &str = "[redacted]";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::sign;

    fn at(s: &str) -> DateTime<Utc> {
        crate::time::parse_liberal(s).expect("test time")
    }

    fn body(ts: &str) -> Vec<u8> {
        format!(r#"{{"deliveryId":"d1","timestamp":"{ts}","action":"Build|BuildStart"}}"#)
            .into_bytes()
    }

    const NOW: &str = "2026-01-01T12:00:00Z";

    fn judge_now(body: &[u8], sig: &[&str]) -> Judgment {
        judge(&[b"secret-1"], sig, body, at(NOW), Duration::minutes(10))
    }

    #[test]
    fn fresh_signed_delivery_is_delivered() {
        let b = body(NOW);
        let sig = sign(b"secret-1", &b);
        let Judgment::Deliver(d) = judge_now(&b, &[&sig]) else {
            panic!("expected delivery")
        };
        assert_eq!(d.envelope.delivery_id, "d1");
        assert!(d.stale.is_none());
    }

    #[test]
    fn window_edges_are_inclusive() {
        let w = Duration::minutes(10);
        let now = at(NOW);
        assert!(stale_reason(at("2026-01-01T11:50:00Z"), now, w).is_none());
        assert!(stale_reason(at("2026-01-01T12:10:00Z"), now, w).is_none());
        let old = stale_reason(at("2026-01-01T11:49:59.999Z"), now, w).expect("stale");
        assert!(old.contains("old"), "{old}");
        let future = stale_reason(at("2026-01-01T12:10:00.001Z"), now, w).expect("stale");
        assert!(future.contains("future"), "{future}");
    }

    #[test]
    fn stale_delivery_is_still_parsed_for_later_acceptance() {
        let b = body("2022-10-26T14:55:08.4622757+00:00");
        let sig = sign(b"secret-1", &b);
        let Judgment::Deliver(d) = judge_now(&b, &[&sig]) else {
            panic!("expected delivery")
        };
        assert!(d.stale.is_some());
    }

    #[test]
    fn signature_is_checked_before_parsing() {
        let garbage = b"not json at all";
        let Judgment::Reject { verdict, .. } = judge_now(garbage, &["00"]) else {
            panic!("expected rejection")
        };
        assert_eq!(verdict, Verdict::BadSignature);
        let sig = sign(b"secret-1", garbage);
        let Judgment::Reject { verdict, error } = judge_now(garbage, &[&sig]) else {
            panic!("expected rejection")
        };
        assert_eq!(verdict, Verdict::Malformed);
        assert!(error.contains("JSON"), "{error}");
    }

    #[test]
    fn missing_and_doubled_signatures() {
        let b = body(NOW);
        let sig = sign(b"secret-1", &b);
        let verdict_of = |j: Judgment| match j {
            Judgment::Reject { verdict, .. } => Some(verdict),
            Judgment::Deliver(_) => None,
        };
        assert_eq!(
            verdict_of(judge_now(&b, &[])),
            Some(Verdict::MissingSignature)
        );
        assert_eq!(
            verdict_of(judge_now(&b, &[""])),
            Some(Verdict::MissingSignature)
        );
        assert_eq!(
            verdict_of(judge_now(&b, &[&sig, &sig])),
            Some(Verdict::BadSignature)
        );
        let other = sign(b"another-secret", &b);
        assert_eq!(
            verdict_of(judge_now(&b, &[&other])),
            Some(Verdict::BadSignature)
        );
    }

    #[test]
    fn status_codes_never_say_gone() {
        for v in Verdict::ALL {
            assert_ne!(v.status_code(), 410);
            assert_eq!(v.as_str().parse::<Verdict>(), Ok(v));
        }
        assert_eq!(Verdict::Stale.status_code(), 400);
        assert_eq!(
            "invalid-signature".parse::<Verdict>(),
            Ok(Verdict::BadSignature)
        );
        assert!("whatever".parse::<Verdict>().is_err());
        assert_eq!(Verdict::BadSignature.status_code(), 401);
    }

    #[test]
    fn secret_bearing_headers() {
        for h in [
            "ac_signature",
            "Authorization",
            "X-Hub-Signature-256",
            "Cookie",
            "x-api-key",
        ] {
            assert!(is_secret_header(h), "{h}");
        }
        for h in ["content-type", "user-agent", "x-forwarded-for"] {
            assert!(!is_secret_header(h), "{h}");
        }
    }
}
