//! Property tests over what the network controls: the signature header, the body (parsed
//! and classified) and the whole `judge`, on arbitrary bytes and headers. The stable
//! toolchain here cannot run coverage-guided fuzzers, so these are the fuzz targets.
//!
//! `cargo test` runs each for PROPTEST_CASES inputs (256 by default). With FUZZ_SECONDS set
//! (`make fuzz`), each target runs for that long with fresh random seeds and the test
//! prints how many inputs it executed and how many failed.

use std::time::{Duration, Instant};

use gatehouse_core::clock::Clock;
use gatehouse_core::model::Verdict;
use gatehouse_core::receive::envelope::Envelope;
use gatehouse_core::receive::ingest::{Judgment, judge};
use gatehouse_core::receive::providers::appcircle::classify;
use gatehouse_core::receive::signature::{self, SignatureError, sign};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

const SECRET: &[u8] = b"property-test-secret";
/// Where the test's clock stands (`Clock::manual`): `judge` runs at this instant, and it is
/// one of the timestamps the envelopes carry, so that some generated deliveries fall inside
/// the replay window. Nothing here reads the system's clock, so the date never goes stale.
const NOW: &str = "2026-11-29T10:00:00Z";

/// The test's clock, set to [`NOW`].
fn clock() -> Clock {
    let at = gatehouse_core::time::from_text(NOW).expect("a fixed now");
    Clock::manual(at).0
}

/// Runs `property` over `strategy`: PROPTEST_CASES inputs, or for FUZZ_SECONDS.
fn run<S: Strategy>(
    name: &str,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: std::fmt::Debug,
{
    let fuzz_for = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs);
    let Some(fuzz_for) = fuzz_for else {
        let mut runner = TestRunner::new(Config::default());
        if let Err(e) = runner.run(&strategy, &property) {
            panic!("{name}: {e}");
        }
        return;
    };
    let started = Instant::now();
    let (mut executed, mut failures) = (0u64, Vec::new());
    while started.elapsed() < fuzz_for {
        let cases = 2_000;
        let mut runner = TestRunner::new(Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        });
        match runner.run(&strategy, &property) {
            Ok(()) => executed += u64::from(cases),
            Err(e) => {
                executed += u64::from(cases);
                failures.push(e.to_string());
            }
        }
    }
    println!(
        "fuzz {name}: {executed} inputs in {:.1?}, {} failures",
        started.elapsed(),
        failures.len()
    );
    assert!(failures.is_empty(), "{name}: {failures:?}");
}

/// Header values as a client might send them: hex of any length and case, noise, spaces.
fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-fA-F]{0,70}",
        " ?[0-9a-f]{64} ?",
        "sha256=[0-9a-f]{64}",
        ".{0,80}",
    ]
}

#[test]
fn the_signature_check_never_panics_and_accepts_only_the_right_mac() {
    run(
        "signature",
        (
            proptest::collection::vec(any::<u8>(), 0..512),
            header_value(),
        ),
        |(body, header)| {
            let right = sign(SECRET, &body);
            let verdict = signature::verify(&[SECRET], &body, &header);
            let is_right = header.trim().eq_ignore_ascii_case(&right);
            prop_assert_eq!(verdict.is_ok(), is_right, "header {:?}", header);
            // The right MAC in either case verifies; one flipped digit never does.
            prop_assert_eq!(
                signature::verify(&[SECRET], &body, &right.to_uppercase()),
                Ok(0)
            );
            let mut flipped = right.into_bytes();
            flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
            let flipped = String::from_utf8(flipped).expect("hex");
            prop_assert_eq!(
                signature::verify(&[SECRET], &body, &flipped),
                Err(SignatureError::Mismatch)
            );
            Ok(())
        },
    );
}

/// JSON objects shaped like Appcircle's envelope, with arbitrary values where it matters.
fn envelope_json() -> impl Strategy<Value = Vec<u8>> {
    let text = ".{0,60}";
    let scalar = prop_oneof![
        text.prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
    ];
    (
        proptest::option::of(scalar.clone()),
        prop_oneof![
            scalar.clone(),
            (0i64..4_000_000_000).prop_map(serde_json::Value::from),
            Just(serde_json::Value::from(NOW)),
        ],
        proptest::option::of(text),
        proptest::option::of(text),
        proptest::option::of(text),
        proptest::collection::btree_map("[a-zA-Z]{1,12}", scalar, 0..6),
    )
        .prop_map(|(id, timestamp, action, title, message, item)| {
            let mut map = serde_json::Map::new();
            if let Some(id) = id {
                map.insert("deliveryId".into(), id);
            }
            map.insert("timestamp".into(), timestamp);
            for (k, v) in [("action", action), ("title", title), ("message", message)] {
                if let Some(v) = v {
                    map.insert(k.into(), v.into());
                }
            }
            map.insert(
                "item".into(),
                serde_json::Value::Object(item.into_iter().collect()),
            );
            serde_json::to_vec(&serde_json::Value::Object(map)).expect("json")
        })
}

#[test]
fn parsing_and_classifying_any_body_never_panics() {
    run(
        "envelope",
        prop_oneof![
            envelope_json(),
            proptest::collection::vec(any::<u8>(), 0..256)
        ],
        |body| {
            if let Ok(envelope) = Envelope::parse(&body) {
                prop_assert!(!envelope.delivery_id.is_empty());
                let c = classify(&envelope);
                // A finished outcome is never also "started"; rejected implies failing.
                prop_assert!(!c.rejected || c.outcome.is_failing() || !c.outcome.is_finished());
            }
            Ok(())
        },
    );
}

#[test]
fn judge_delivers_only_what_is_signed_and_never_panics() {
    let now = clock().now();
    run(
        "judge",
        (
            prop_oneof![
                envelope_json(),
                proptest::collection::vec(any::<u8>(), 0..256)
            ],
            proptest::collection::vec(header_value(), 0..3),
            any::<bool>(),
        ),
        |(body, mut headers, sign_it)| {
            if sign_it {
                headers = vec![sign(SECRET, &body)];
            }
            let values: Vec<&str> = headers.iter().map(String::as_str).collect();
            let judgment = judge(
                &[SECRET],
                &values,
                &body,
                now,
                chrono::Duration::minutes(10),
            );
            let signed =
                values.len() == 1 && values[0].trim().eq_ignore_ascii_case(&sign(SECRET, &body));
            match judgment {
                Judgment::Deliver(_) => prop_assert!(signed, "delivered without a signature"),
                Judgment::Reject { verdict, .. } => match verdict {
                    Verdict::MissingSignature | Verdict::BadSignature => prop_assert!(!signed),
                    Verdict::Malformed => prop_assert!(signed, "parsed before verifying"),
                    other => prop_assert!(false, "judge never says {:?}", other),
                },
            }
            Ok(())
        },
    );
}
