//! Facts read from Appcircle's API by the account sync ([`crate::sync`]), stored as events
//! with source `synced`, in one transaction with the walk's new positions and the sync's
//! status: a sync interrupted half-way stores nothing and walks again from where the last
//! complete one ended.
//!
//! A fact is stored once: a fact with the same key was synced before (here, or at an inbox
//! this store mirrors), or, for a build, a webhook already told of that build's end (or, for
//! a running build, of the build at all). The webhook is the better record (signed, with
//! its links), so the sync never adds a second event beside it.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::Notice;
use super::changes::{self, ChangeKind};
use super::write::{event_recorded, set_setting, track};
use super::writer::Tx;
use crate::Result;
use crate::classify::{Outcome, Scope, Subject};
use crate::ingest::Source;
use crate::stream::StreamKey;
use crate::time::to_text;

/// The endpoint name synced events carry: not an endpoint (it has a space, which no
/// endpoint name may), so history can show where they came from.
pub const ACCOUNT_ENDPOINT: &str = "Appcircle account";

/// The settings key of the walk's positions (what each profile and branch was at).
pub const POSITIONS_KEY: &str = "appcircle_positions";
/// The settings key of the last sync's outcome.
pub const STATUS_KEY: &str = "appcircle_sync";

/// One thing the API says is so, classified like a webhook would be.
#[derive(Debug, Clone)]
pub struct Fact {
    /// What makes it this fact and no other ("build 5f1… 1"): its delivery id, so that it is
    /// stored once however often it is read.
    pub key: String,
    pub scope: Scope,
    pub outcome: Outcome,
    /// Worded like the webhook's title for the same news ("Build Failed").
    pub title: String,
    pub message: String,
    pub subject: Subject,
    pub rejected: bool,
    pub expiring: bool,
    pub occurred_at: DateTime<Utc>,
    /// What the API answered for it (JSON), shown as the event's payload.
    pub payload: String,
}

/// What storing a sync's facts did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stored {
    /// New events.
    pub events: u64,
    /// Their ids, oldest first.
    pub event_ids: Vec<i64>,
    /// Facts this store had already (synced before, or told by a webhook).
    pub known: u64,
}

const INSERT_SYNCED_EVENT: &str = "
    INSERT INTO events (endpoint_id, endpoint_name, request_id, delivery_id, source, scope,
        outcome, module, action, title, message, profile_id, profile_name, branch_id,
        branch_name, task_id, build_id, commit_id, rejected, expiring, links, occurred_at,
        received_at, payload, profile_key, branch_key)
    VALUES (NULL, ?1, NULL, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
        ?15, ?16, ?17, '{}', ?18, ?19, ?20, ?21, ?22)";

/// A fact synced before, here or at an inbox this store mirrors (mirrored rows keep the
/// endpoint name and delivery id): through events_dedupe (endpoint_id, delivery_id).
const SYNCED_BEFORE: &str = "
    SELECT id FROM events WHERE endpoint_id IS NULL AND delivery_id = ?1 AND endpoint_name = ?2";

/// Any event of this build, by its build id within its branch (through events_by_profile:
/// no index on build_id, which every delivery would pay for) or by its task id.
const BUILD_KNOWN: &str = "
    SELECT id FROM events
    WHERE scope = 'build'
      AND ((profile_id = ?1 AND branch_id = ?2 AND build_id = ?3) OR task_id = ?4)
      AND (?5 = 0 OR outcome IN ('succeeded', 'warning', 'failed', 'canceled', 'timed_out'))
    LIMIT 1";

fn known(tx: &Tx<'_>, fact: &Fact) -> Result<bool> {
    let before: Option<i64> = tx
        .conn
        .prepare_cached(SYNCED_BEFORE)?
        .query_row(params![fact.key, ACCOUNT_ENDPOINT], |r| r.get(0))
        .optional()?;
    if before.is_some() {
        return Ok(true);
    }
    if fact.scope != Scope::Build {
        return Ok(false);
    }
    let s = &fact.subject;
    if s.build_id.is_none() && s.task_id.is_none() {
        return Ok(false);
    }
    // A synced end is known once a webhook told of an end of that build; a synced start
    // once a webhook told of the build at all (its end is newer news than the start).
    let by_webhook: Option<i64> = tx
        .conn
        .prepare_cached(BUILD_KNOWN)?
        .query_row(
            params![
                s.profile_id,
                s.branch_id,
                s.build_id,
                s.task_id,
                fact.outcome.is_finished()
            ],
            |r| r.get(0),
        )
        .optional()?;
    Ok(by_webhook.is_some())
}

/// Stores `facts` (oldest first) with the walk's new `positions` and the sync's status
/// (JSON, worded by `status` from what was stored), announced as a settings change so every view shows the new status.
pub fn apply(
    tx: &mut Tx<'_>,
    facts: Vec<Fact>,
    positions: &str,
    status: impl FnOnce(Stored) -> String,
    now: DateTime<Utc>,
) -> Result<Stored> {
    let mut stored = Stored::default();
    for fact in facts {
        if known(tx, &fact)? {
            stored.known += 1;
            continue;
        }
        let s = &fact.subject;
        let key = StreamKey::of(fact.scope, s);
        let occurred_at = to_text(fact.occurred_at);
        tx.conn
            .prepare_cached(INSERT_SYNCED_EVENT)?
            .execute(params![
                ACCOUNT_ENDPOINT,
                fact.key,
                Source::Synced.as_str(),
                fact.scope.as_str(),
                fact.outcome.as_str(),
                fact.scope.label(),
                fact.title,
                fact.message,
                s.profile_id,
                s.profile_name,
                s.branch_id,
                s.branch_name,
                s.task_id,
                s.build_id,
                s.commit_id,
                fact.rejected,
                fact.expiring,
                occurred_at,
                to_text(now),
                fact.payload.as_bytes(),
                key.profile,
                key.branch,
            ])?;
        let event_id = tx.conn.last_insert_rowid();
        track(
            tx,
            fact.scope,
            fact.outcome,
            s,
            &key,
            event_id,
            &occurred_at,
        )?;
        // Marked as a catch-up: synced facts never notify one by one.
        event_recorded(tx, event_id, true, now)?;
        stored.events += 1;
        stored.event_ids.push(event_id);
    }
    set_setting(tx, POSITIONS_KEY, positions)?;
    set_setting(tx, STATUS_KEY, &status(stored.clone()))?;
    let seq = changes::append(tx.conn, ChangeKind::Settings, None, now)?;
    tx.notify(Notice::Settings { seq });
    Ok(stored)
}

/// Stores a sync's status alone (it failed, or the account was connected).
pub fn set_status(tx: &mut Tx<'_>, status: &str, now: DateTime<Utc>) -> Result<()> {
    set_setting(tx, STATUS_KEY, status)?;
    let seq = changes::append(tx.conn, ChangeKind::Settings, None, now)?;
    tx.notify(Notice::Settings { seq });
    Ok(())
}
