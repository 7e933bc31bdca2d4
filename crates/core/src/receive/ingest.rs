//! The pure middle of the pipeline: what the listener saw, and the verdict on it before
//! the store records it. No I/O here, so every rule is unit-tested with plain values.

use chrono::{DateTime, Duration, Utc};

use crate::model::{Classification, Provider, Source, Verdict};
use crate::receive::envelope::Envelope;
use crate::receive::providers::Headers;

/// A request to an existing endpoint, as it will be recorded.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub endpoint: String,
    pub method: String,
    pub path: String,
    pub remote_addr: Option<String>,
    /// Header names and values, secret-bearing values already redacted.
    pub headers: Vec<(String, String)>,
    /// The request's proof as its provider keeps it ([`Provider::proofs`]: a signature, or a
    /// GitLab token's SHA-256), apart from `headers`, so that a stale delivery can be
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

/// Prove, read, classify and check the window, in that order: nothing is parsed before
/// its proof (signature or token) shows it came from someone holding the secret. The
/// window applies only where the provider dates its deliveries.
pub fn judge_delivery(
    provider: Provider,
    secrets: &[&[u8]],
    proofs: &[&str],
    headers: &Headers,
    body: &[u8],
    now: DateTime<Utc>,
    window: Duration,
) -> Judgment {
    match provider.read(secrets, proofs, headers, body, now) {
        Err((verdict, error)) => Judgment::reject(verdict, error),
        Ok((envelope, classification)) => {
            let stale = if provider.has_window() {
                stale_reason(envelope.timestamp, now, window)
            } else {
                None
            };
            Judgment::Deliver(Box::new(Delivery {
                envelope,
                classification,
                stale,
            }))
        }
    }
}

/// [`judge_delivery`] of an Appcircle delivery whose `ac_signature` values are
/// `signature_values` (what samples, tests and benchmarks send).
pub fn judge(
    secrets: &[&[u8]],
    signature_values: &[&str],
    body: &[u8],
    now: DateTime<Utc>,
    window: Duration,
) -> Judgment {
    judge_delivery(
        Provider::Appcircle,
        secrets,
        signature_values,
        &[],
        body,
        now,
        window,
    )
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
    use crate::receive::signature::sign;

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
