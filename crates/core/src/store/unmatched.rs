//! Requests to endpoints that do not exist, counted in memory and written in bulk.
//!
//! A 404 costs no disk write of its own: anyone can send them, with any name. The writer
//! flushes the tally every few seconds in one statement per name; at most
//! [`MAX_DISTINCT_NAMES`] names are kept apart, the rest are added up under [`OTHER_NAMES`].

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::records::UnmatchedCount;
use crate::time::to_text;

/// Distinct names tracked between two flushes (and so, per flush, rows touched).
pub const MAX_DISTINCT_NAMES: usize = 256;
/// Distinct names kept in the database; beyond it, hits on new names join [`OTHER_NAMES`]
/// (a scanner trying names for ever fills no more than this many rows).
pub const MAX_STORED_NAMES: i64 = 1_000;
/// Where hits on names beyond [`MAX_DISTINCT_NAMES`] are counted.
pub const OTHER_NAMES: &str = "(other names)";
/// Longest name kept; longer ones are cut (they are only ever shown).
pub const MAX_NAME_CHARS: usize = 128;

#[derive(Debug, Clone)]
pub struct Tally {
    pub hits: u64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// Counts waiting for the next flush.
#[derive(Debug, Default)]
pub struct UnmatchedTally {
    pending: Mutex<HashMap<String, Tally>>,
}

impl UnmatchedTally {
    pub fn count(&self, name: &str, at: DateTime<Utc>) {
        let Ok(mut pending) = self.pending.lock() else {
            return;
        };
        let mut name: String = name.chars().take(MAX_NAME_CHARS).collect();
        if !pending.contains_key(&name) && pending.len() >= MAX_DISTINCT_NAMES {
            name = OTHER_NAMES.to_owned();
        }
        add(&mut pending, name, 1, at, at);
    }

    /// Takes everything counted so far (to be written by the writer).
    pub fn take(&self) -> HashMap<String, Tally> {
        self.pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default()
    }

    /// Puts counts back after a flush that did not commit, within the same bound on names.
    pub fn restore(&self, counts: HashMap<String, Tally>) {
        if let Ok(mut pending) = self.pending.lock() {
            for (mut name, t) in counts {
                if !pending.contains_key(&name) && pending.len() >= MAX_DISTINCT_NAMES {
                    name = OTHER_NAMES.to_owned();
                }
                add(&mut pending, name, t.hits, t.first_seen, t.last_seen);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pending.lock().map(|p| p.is_empty()).unwrap_or(true)
    }

    /// Adds what is still pending to `stored` (read from the database), so listings are
    /// current before the flush.
    pub fn merge_into(&self, stored: &mut Vec<UnmatchedCount>) {
        let Ok(pending) = self.pending.lock() else {
            return;
        };
        for (name, t) in pending.iter() {
            match stored.iter_mut().find(|s| &s.name == name) {
                Some(s) => {
                    s.hits += t.hits;
                    s.last_seen = s.last_seen.clone().max(to_text(t.last_seen));
                }
                None => stored.push(UnmatchedCount {
                    name: name.clone(),
                    hits: t.hits,
                    first_seen: to_text(t.first_seen),
                    last_seen: to_text(t.last_seen),
                }),
            }
        }
        stored.sort_by(|a, b| b.last_seen.cmp(&a.last_seen));
    }
}

fn add(
    pending: &mut HashMap<String, Tally>,
    name: String,
    hits: u64,
    first: DateTime<Utc>,
    last: DateTime<Utc>,
) {
    let t = pending.entry(name).or_insert(Tally {
        hits: 0,
        first_seen: first,
        last_seen: last,
    });
    t.hits += hits;
    t.first_seen = t.first_seen.min(first);
    t.last_seen = t.last_seen.max(last);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_names_are_bounded_and_no_hit_is_lost() {
        let tally = UnmatchedTally::default();
        let now = crate::clock::Clock::system().now();
        for i in 0..10_000 {
            tally.count(&format!("probe-{i}"), now);
        }
        tally.count("probe-1", now);
        let counts = tally.take();
        assert_eq!(counts.len(), MAX_DISTINCT_NAMES + 1);
        assert_eq!(counts.values().map(|t| t.hits).sum::<u64>(), 10_001);
        assert_eq!(counts["probe-1"].hits, 2);
        assert_eq!(counts[OTHER_NAMES].hits, 10_000 - MAX_DISTINCT_NAMES as u64);
        assert!(tally.is_empty());
        tally.count("a-new-name", now);
        tally.restore(counts);
        let restored = tally.take();
        assert!(
            restored.len() <= MAX_DISTINCT_NAMES + 1,
            "bounded after a restore too"
        );
        assert_eq!(restored.values().map(|t| t.hits).sum::<u64>(), 10_002);
    }
}
