//! Many clients at once against `gatehouse serve`: every 2xx is stored exactly once.

mod common;

use std::collections::HashMap;
use std::thread;

use common::{Gatehouse, post};
use gatehouse_core::receive::signature::sign;
use gatehouse_core::send::samples::{self, Sample, SampleOptions};

const SECRET: &str = "concurrency-test-secret";
const CLIENTS: usize = 8;
const PER_CLIENT: usize = 250;

fn delivery(id: &str) -> Vec<u8> {
    let options = SampleOptions {
        delivery_id: Some(id.to_owned()),
        ..Default::default()
    };
    samples::build(Sample::BuildSucceeded, &options).expect("sample")
}

#[test]
fn eight_clients_each_sending_250_distinct_deliveries() {
    let g = Gatehouse::new();
    g.ok(&["endpoint", "add", "load", "--secret", SECRET]);
    let server = g.serve(&[]);
    let url = server.hook("load");

    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let url = url.clone();
            thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for i in 0..PER_CLIENT {
                    let id = format!("client-{c}-delivery-{i}");
                    let body = delivery(&id);
                    let sig = sign(SECRET.as_bytes(), &body);
                    let (status, json) = post(&url, &[("ac_signature", &sig)], &body);
                    if (200..300).contains(&status) {
                        assert_eq!(json["status"], "accepted", "{id}: {json}");
                        acknowledged.push(id);
                    }
                }
                acknowledged
            })
        })
        .collect();
    let acknowledged: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client"))
        .collect();
    assert_eq!(
        acknowledged.len(),
        CLIENTS * PER_CLIENT,
        "loopback with a healthy disk acknowledges all"
    );

    let events = g.json(&["events", "--json", "--limit", "10000"]);
    let mut stored: HashMap<String, usize> = HashMap::new();
    for e in events.as_array().expect("array") {
        *stored
            .entry(e["delivery_id"].as_str().expect("id").to_owned())
            .or_default() += 1;
    }
    for id in &acknowledged {
        assert_eq!(stored.get(id), Some(&1), "{id} stored exactly once");
    }
    assert_eq!(
        stored.len(),
        acknowledged.len(),
        "nothing stored that was not sent"
    );

    let requests = g.json(&["requests", "--json", "--limit", "10000"]);
    assert_eq!(
        requests.as_array().map(Vec::len),
        Some(CLIENTS * PER_CLIENT)
    );
    assert!(server.stop());
}

#[test]
fn the_same_deliveries_from_eight_clients_at_once_are_stored_once() {
    let g = Gatehouse::new();
    g.ok(&["endpoint", "add", "race", "--secret", SECRET]);
    let server = g.serve(&[]);
    let url = server.hook("race");
    let shared: Vec<String> = (0..50).map(|i| format!("shared-{i}")).collect();

    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (url, ids) = (url.clone(), shared.clone());
            thread::spawn(move || {
                ids.iter()
                    .map(|id| {
                        let body = delivery(id);
                        let sig = sign(SECRET.as_bytes(), &body);
                        let (status, json) = post(&url, &[("ac_signature", &sig)], &body);
                        assert_eq!(status, 200);
                        json["status"].as_str().unwrap_or_default().to_owned()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let answers: Vec<String> = clients
        .into_iter()
        .flat_map(|c| c.join().expect("client"))
        .collect();
    let accepted = answers.iter().filter(|a| *a == "accepted").count();
    let duplicates = answers.iter().filter(|a| *a == "duplicate").count();
    assert_eq!((accepted, duplicates), (50, 50 * (CLIENTS - 1)));
    let events = g.json(&["events", "--json", "--limit", "10000"]);
    assert_eq!(events.as_array().map(Vec::len), Some(50));
    assert!(server.stop());
}
