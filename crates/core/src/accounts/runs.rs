//! What a CI system read by repository gives the CI accounts ([`crate::accounts::ci`]),
//! whichever it is: one trait per provider's API reader (GitHub's, GitLab's), beside its
//! webhook reader in `receive/providers`, which reads the runs it finds.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::Result;
use crate::receive::ingest::Delivery;

/// Where the last read stood, per repository (an ETag, the runs still running, the
/// newest update seen): the reader's own keys, kept between reads by the store.
pub type Positions = BTreeMap<String, String>;

/// What one read found.
#[derive(Debug, Default)]
pub struct Reading {
    /// Each run as its webhook would have told it, oldest first.
    pub runs: Vec<Delivery>,
    pub positions: Positions,
    pub requests: u64,
    /// Of them, answered 304 (free of GitHub's rate limit).
    pub unchanged: u64,
    /// A run of the account is running or queued (the schedule then reads fast).
    pub running: bool,
    /// The repositories that could not be read while others were.
    pub failed: Vec<crate::Error>,
}

/// A provider's API, read for one account's repositories. Blocking: callers run it off the
/// async threads.
pub trait RunsApi: Send {
    /// Checks the token on each repository at once (connect): an error names the first
    /// that cannot be read.
    fn check(&mut self, repos: &[String], now: DateTime<Utc>) -> Result<()>;

    /// Reads each repository from `positions` on. One that cannot be read is reported in
    /// [`Reading::failed`] and keeps its positions; when none can be, the read fails.
    fn read(
        &mut self,
        repos: &[String],
        positions: &Positions,
        now: DateTime<Utc>,
    ) -> Result<Reading>;

    /// No request may be made before this (a rate limit), if not now.
    fn held_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>>;
}
