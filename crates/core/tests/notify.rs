//! Notification rules against real stored events and gates.

use std::time::{Duration, Instant};

use chrono::Utc;
use gatehouse_core::model::Source;
use gatehouse_core::receive::ingest::{Arrival, judge};
use gatehouse_core::receive::signature::sign;
use gatehouse_core::rules::gate::{self, Gate, GateFilter};
use gatehouse_core::rules::notify::{BURST_WINDOW, CatchUp, Notifier};
use gatehouse_core::send::samples::{self, Sample, SampleOptions};
use gatehouse_core::settings::Settings;
use gatehouse_core::store::{EventRecord, Store};

const SECRET: &str = "notify-test-secret";

struct World {
    store: Store,
    _dir: tempfile::TempDir,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_dir(dir.path()).expect("store");
        store.add_endpoint("ci", SECRET).await.expect("endpoint");
        World { store, _dir: dir }
    }

    fn gate(&self) -> Gate {
        gate::evaluate(
            self.store.streams().expect("streams"),
            &GateFilter::default(),
        )
    }

    /// Stores a sample as a live delivery, or as `source`; returns the stored event.
    async fn deliver(&self, sample: Sample, profile: &str, source: Source) -> EventRecord {
        let body = samples::build(
            sample,
            &SampleOptions {
                profile: Some(profile.into()),
                branch: Some("main".into()),
                ..Default::default()
            },
        )
        .expect("sample");
        let sig = sign(SECRET.as_bytes(), &body);
        let judgment = judge(
            &[SECRET.as_bytes()],
            &[&sig],
            &body,
            Utc::now(),
            chrono::Duration::minutes(10),
        );
        let arrival = Arrival {
            endpoint: "ci".into(),
            method: "POST".into(),
            path: "/hooks/ci".into(),
            remote_addr: None,
            headers: vec![],
            signature: Some(sig),
            body_size: body.len() as u64,
            body: Some(body),
            received_at: Utc::now(),
            source,
        };
        let recorded = self
            .store
            .record(arrival, judgment)
            .await
            .expect("recorded");
        self.store
            .event(recorded.event_id.expect("event"))
            .expect("event")
    }
}

#[tokio::test]
async fn failure_then_back_to_green_and_silence_for_the_rest() {
    let w = World::new().await;
    let settings = Settings::default();
    let mut n = Notifier::new(&w.gate());
    let t = Instant::now();

    let started = w
        .deliver(Sample::BuildStarted, "My App", Source::Live)
        .await;
    assert!(
        n.on_event(&started, &w.gate(), &settings, false, t)
            .is_empty(),
        "starts are quiet by default"
    );

    let failed = w.deliver(Sample::BuildFailed, "My App", Source::Live).await;
    let shown = n.on_event(&failed, &w.gate(), &settings, false, t);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].summary, "Build failed: My App / main");
    assert_eq!(shown[0].event_id, Some(failed.id));
    assert!(shown[0].critical);

    let ok = w
        .deliver(Sample::BuildSucceeded, "My App", Source::Live)
        .await;
    let shown = n.on_event(&ok, &w.gate(), &settings, false, t);
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0].summary, "Back to green: My App / main");

    let again = w
        .deliver(Sample::BuildSucceeded, "My App", Source::Live)
        .await;
    assert!(
        n.on_event(&again, &w.gate(), &settings, false, t)
            .is_empty(),
        "green stays quiet"
    );

    let rejected = w
        .deliver(Sample::PublishRejected, "Store", Source::Live)
        .await;
    assert_eq!(
        n.on_event(&rejected, &w.gate(), &settings, false, t)[0].summary,
        "Rejected: Store"
    );
    let expiring = w
        .deliver(Sample::CertificateExpiring, "-", Source::Live)
        .await;
    let later = t + BURST_WINDOW;
    assert!(
        n.on_event(&expiring, &w.gate(), &settings, false, later)[0]
            .summary
            .starts_with("Expiring soon")
    );
}

#[tokio::test]
async fn accepted_and_replayed_deliveries_never_notify() {
    let w = World::new().await;
    let mut n = Notifier::new(&w.gate());
    for source in [Source::Accepted, Source::Replayed] {
        let e = w.deliver(Sample::BuildFailed, "App", source).await;
        assert!(
            n.on_event(&e, &w.gate(), &Settings::default(), false, Instant::now())
                .is_empty()
        );
    }
}

#[tokio::test]
async fn bursts_coalesce_and_quiet_time_holds_back() {
    let w = World::new().await;
    let settings = Settings::default();
    let mut n = Notifier::new(&w.gate());
    let t = Instant::now();
    let mut shown = 0;
    for i in 0..6 {
        let e = w
            .deliver(Sample::BuildFailed, &format!("App {i}"), Source::Live)
            .await;
        shown += n.on_event(&e, &w.gate(), &settings, false, t).len();
    }
    assert_eq!(shown, 3, "three show on their own");
    assert!(
        n.flush(false, t + Duration::from_secs(1)).is_none(),
        "the burst is still going"
    );
    let summary = n
        .flush(false, t + BURST_WINDOW)
        .expect("summary after the window");
    assert_eq!(summary.summary, "3 events in a burst");
    assert!(summary.body.contains("App 3") && summary.event_id.is_none());

    let later = t + BURST_WINDOW * 3;
    let e = w
        .deliver(Sample::BuildTimeout, "Quiet App", Source::Live)
        .await;
    assert!(
        n.on_event(&e, &w.gate(), &settings, true, later).is_empty(),
        "held while quiet"
    );
    assert!(n.flush(true, later).is_none());
    let held = n.flush(false, later).expect("summary when quiet ends");
    assert!(held.summary.contains("held") && held.body.contains("Quiet App"));
}

/// A backlog from an inbox: one summary, on each stream's latest state. A build that failed
/// and then passed on the way is not reported; one that was red before and is green now is.
#[tokio::test]
async fn a_backlog_becomes_one_summary_on_the_latest_state_of_each_stream() {
    let w = World::new().await;
    let settings = Settings::default();
    w.deliver(Sample::BuildFailed, "Red", Source::Live).await;
    let mut n = Notifier::new(&w.gate());

    let mut caught = n.catch_up();
    for (sample, profile) in [
        (Sample::BuildFailed, "Flaky"),
        (Sample::BuildSucceeded, "Flaky"),
        (Sample::BuildSucceeded, "Red"),
        (Sample::BuildFailed, "Acme iOS"),
        (Sample::BuildStarted, "Acme Android"),
        (Sample::BuildFailed, "Acme Android"),
        (Sample::PublishRejected, "Store"),
    ] {
        let e = w.deliver(sample, profile, Source::Live).await;
        caught.count(1);
        caught.add(&e);
    }
    // A live event handled before the backlog is all stored folds part of it into the
    // notifier's states; the catch-up still compares with the states before the backlog.
    let live = w
        .deliver(Sample::BuildStarted, "Elsewhere", Source::Live)
        .await;
    n.on_event(&live, &w.gate(), &settings, false, Instant::now());
    let shown = n
        .on_caught_up(caught, "While you were away", &w.gate(), &settings, false)
        .expect("one summary");
    assert_eq!(shown.summary, "While you were away: 7 events");
    let lines: Vec<&str> = shown.body.lines().collect();
    assert!(
        lines[0].starts_with("2 builds failed: ")
            && lines[0].contains("Acme iOS / main")
            && lines[0].contains("Acme Android / main"),
        "{lines:?}"
    );
    assert!(!shown.body.contains("Flaky"), "{}", shown.body);
    assert!(lines.contains(&"1 back to green: Red / main"), "{lines:?}");
    assert!(lines.contains(&"1 version rejected: Store"), "{lines:?}");
    assert!(shown.critical);

    // The states were remembered: a live success of a stream the backlog left red is
    // back to green, one event at a time again.
    let ok = w
        .deliver(Sample::BuildSucceeded, "Acme iOS", Source::Live)
        .await;
    let live = n.on_event(&ok, &w.gate(), &settings, false, Instant::now());
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].summary, "Back to green: Acme iOS / main");

    // An empty backlog says nothing; one in quiet time is held for the end of it.
    assert!(
        n.on_caught_up(
            CatchUp::default(),
            "While you were away",
            &w.gate(),
            &settings,
            false
        )
        .is_none()
    );
    let mut quiet = n.catch_up();
    quiet.count(1);
    quiet.add(
        &w.deliver(Sample::BuildSucceeded, "Calm", Source::Live)
            .await,
    );
    assert!(
        n.on_caught_up(quiet, "While you were away", &w.gate(), &settings, true)
            .is_none()
    );
    let held = n.flush(false, Instant::now()).expect("held summary");
    assert_eq!(held.summary, "1 event while notifications were held");
    assert!(
        held.body.contains("While you were away: 1 event"),
        "{}",
        held.body
    );
}

/// A failed GitHub job (shown beside its run) does not notify: its run does. Appcircle's
/// events of the same scope and outcome still do.
#[tokio::test]
async fn a_runs_details_do_not_notify_beside_the_run() {
    let w = World::new().await;
    let settings = Settings::default();
    let mut n = Notifier::new(&w.gate());
    let failed = w.deliver(Sample::BuildFailed, "App", Source::Live).await;
    let mut detail = failed.clone();
    detail.scope = gatehouse_core::model::Scope::Other;
    let mut job = detail.clone();
    job.provider = gatehouse_core::model::Provider::Github;
    let now = Instant::now();
    assert!(
        n.on_event(&job, &w.gate(), &settings, false, now)
            .is_empty()
    );
    assert_eq!(
        n.on_event(&detail, &w.gate(), &settings, false, now).len(),
        1,
        "Appcircle's other failures still notify"
    );
}
