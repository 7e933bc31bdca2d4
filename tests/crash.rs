//! Crash test: `gatehouse serve` under 8 concurrent senders is killed with SIGKILL at random
//! moments and started again; every delivery that got a 2xx must be in the database.
//! `make test` runs a few rounds (CRASH_ROUNDS, default 3); `make soak` runs many and prints
//! rounds, acknowledged, stored and lost.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{Gatehouse, free_port};
use gatehouse_core::receive::signature::sign;
use gatehouse_core::send::samples::{self, Sample, SampleOptions};
use gatehouse_core::store::{EventQuery, Store};

const SECRET: &str = "crash-test-secret-of-some-length";
const SENDERS: usize = 8;

/// A small xorshift: the pauses are random but the seed is printed, so a run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.next() % (to - from))
    }
}

fn rounds() -> usize {
    std::env::var("CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
}

/// One POST; `Some(true)` for a 2xx, `Some(false)` for another answer, `None` when the
/// server was not there (killed, restarting).
fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> Option<bool> {
    let sig = sign(SECRET.as_bytes(), body);
    match agent
        .post(url)
        .set("ac_signature", &sig)
        .set("content-type", "application/json")
        .send_bytes(body)
    {
        Ok(r) => Some((200..300).contains(&r.status())),
        Err(ureq::Error::Status(..)) => Some(false),
        Err(ureq::Error::Transport(_)) => None,
    }
}

#[test]
fn every_acknowledged_delivery_survives_sigkill() {
    let g = Gatehouse::new();
    g.ok(&["endpoint", "add", "crash", "--secret", SECRET]);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let url = format!("http://{listen}/hooks/crash");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64 | 1)
        .unwrap_or(0x9e37_79b9_7f4a_7c15);
    eprintln!("crash test seed {seed}");
    let mut rng = Rng(seed);

    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(HashSet::new()));
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let (stop, acknowledged, url) = (stop.clone(), acknowledged.clone(), url.clone());
            thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(10))
                    .build();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let id = format!("sender-{s}-{i}");
                    let body = samples::build(
                        Sample::BuildSucceeded,
                        &SampleOptions {
                            delivery_id: Some(id.clone()),
                            ..Default::default()
                        },
                    )
                    .expect("sample");
                    match post(&agent, &url, &body) {
                        Some(true) => {
                            acknowledged.lock().expect("lock").insert(id);
                            i += 1;
                        }
                        // Not stored or not answered: send the same delivery again, as a
                        // sender that saw no 2xx does.
                        Some(false) | None => thread::sleep(Duration::from_millis(20)),
                    }
                }
            })
        })
        .collect();

    let rounds = rounds();
    let started = Instant::now();
    for round in 0..rounds {
        let mut server = common::Server::start(g.data_dir(), &["--listen", &listen]);
        thread::sleep(rng.millis(200, 900));
        server.kill();
        eprintln!(
            "round {}: killed after {} acknowledged",
            round + 1,
            acknowledged.lock().expect("lock").len()
        );
    }
    stop.store(true, Ordering::Relaxed);
    for s in senders {
        s.join().expect("sender");
    }

    let store = Store::open_dir(g.data_dir()).expect("the database opens after kill -9");
    let mut stored = HashSet::new();
    loop {
        let page = store
            .events(&EventQuery {
                limit: Some(10_000),
                offset: Some(stored.len() as u32),
                ..Default::default()
            })
            .expect("events");
        if page.is_empty() {
            break;
        }
        stored.extend(page.into_iter().map(|e| e.delivery_id));
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    let lost: Vec<&String> = acknowledged.difference(&stored).collect();
    eprintln!(
        "crash test: {rounds} rounds in {:.1?}, {} acknowledged, {} stored, {} lost",
        started.elapsed(),
        acknowledged.len(),
        stored.len(),
        lost.len()
    );
    assert!(
        !acknowledged.is_empty(),
        "deliveries were acknowledged between kills"
    );
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");
}
