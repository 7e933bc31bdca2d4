//! Facts read from Appcircle's API by the account sync ([`crate::accounts::sync`]), stored as events
//! with source `synced`, in one transaction with the walk's new positions and the sync's
//! status: a sync interrupted half-way stores nothing and walks again from where the last
//! complete one ended.
//!
//! A fact is stored once: not when one with the same key was synced before (here, or at an
//! inbox this store mirrors), nor when a webhook already told the news (see [`known`]). The
//! webhook is the better record (signed, with its links), so the sync never adds a second
//! event beside it.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::Notice;
use super::changes::{self, ChangeKind};
use super::commits;
use super::write::{
    DELIVERY_WITHOUT_ENDPOINT, Provenance, event_recorded, info_end_told, insert_event,
    set_setting, track,
};
use super::writer::Tx;
use crate::Result;
use crate::model::{Outcome, Provider, Scope, Source, StreamKey, Subject};
use crate::receive::ingest::Delivery;
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
        received_at, payload, profile_key, branch_key, commit_sha)
    VALUES (NULL, ?1, NULL, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,
        ?15, ?16, ?17, '{}', ?18, ?19, ?20, ?21, ?22, ?23)";

/// A webhook's end of this very build: one range of events_by_stream (a branch's finished
/// events), then the build id.
const BUILD_END_TOLD: &str = "
    SELECT id FROM events
    WHERE scope = 'build' AND profile_key = ?1 AND branch_key = ?2
      AND outcome IN ('succeeded', 'warning', 'failed', 'canceled', 'timed_out')
      AND build_id = ?3
    LIMIT 1";

/// News a webhook already told on this stream: an event of its own (not synced) from the
/// fact's time on, less [`EARLY`] (the API's dates and a webhook's timestamp are taken
/// apart), and when `?5`, a finished one. Through events_by_profile (profile_key,
/// occurred_at): a profile's recent events only. A webhook's build start has no build id
/// (Appcircle sends the empty GUID), so a running build is matched this way.
const STREAM_TOLD: &str = "
    SELECT id FROM events
    WHERE profile_key = ?1 AND occurred_at >= ?2 AND scope = ?3 AND branch_key = ?4
      AND source <> 'synced'
      AND (?5 = 0 OR outcome IN ('succeeded', 'warning', 'failed', 'canceled', 'timed_out'))
    LIMIT 1";

/// How much earlier than the API's date a webhook's timestamp may be and still tell the
/// same news.
const EARLY: chrono::Duration = chrono::Duration::minutes(1);

/// Whether the store has this fact already: synced before, or told by a webhook (the
/// better record: signed, with its links). A build's end by its build id; anything else by
/// a webhook on its stream from its time on. Expiry reminders only by their key (a
/// reminder webhook names no certificate id to match).
fn known(tx: &Tx<'_>, fact: &Fact, key: &StreamKey) -> Result<Option<i64>> {
    let found = |sql: &str, p: &[&dyn rusqlite::ToSql]| -> Result<Option<i64>> {
        Ok(tx
            .conn
            .prepare_cached(sql)?
            .query_row(p, |r| r.get::<_, i64>(0))
            .optional()?)
    };
    // Synced before, here or at an inbox this store mirrors (copies keep the endpoint name
    // and the delivery id).
    if let Some(id) = found(
        DELIVERY_WITHOUT_ENDPOINT,
        params![ACCOUNT_ENDPOINT, fact.key],
    )? {
        return Ok(Some(id));
    }
    let finished = fact.outcome.is_finished();
    match fact.scope {
        Scope::SigningIdentity | Scope::Other => Ok(None),
        Scope::Build if finished => match &fact.subject.build_id {
            Some(build) => found(BUILD_END_TOLD, params![key.profile, key.branch, build]),
            None => Ok(None),
        },
        scope => found(
            STREAM_TOLD,
            params![
                key.profile,
                to_text(fact.occurred_at - EARLY),
                scope.as_str(),
                key.branch,
                finished
            ],
        ),
    }
}

/// Stores `facts` (oldest first) with the walk's new `positions` and the sync's status
/// (JSON, worded by `status` from what was stored), announced as a settings change so that
/// every view shows the new status.
pub fn apply(
    tx: &mut Tx<'_>,
    facts: Vec<Fact>,
    positions: &str,
    status: impl FnOnce(Stored) -> String,
    now: DateTime<Utc>,
) -> Result<Stored> {
    let mut stored = Stored::default();
    for fact in facts {
        let s = &fact.subject;
        let key = StreamKey::of(Provider::Appcircle, fact.scope, s);
        // What the read says of the commit counts even when the fact is known: a webhook
        // told the build first, with Appcircle's commit GUID only (a start names no build).
        // The events given the SHA are announced again (a catch-up, as the read's own), so
        // that an inbox's followers give their copies the SHA too.
        let mut linked = commits::learn(tx, Provider::Appcircle, s)?;
        let told = known(tx, &fact, &key)?;
        if let Some(told) = told
            && commits::link_told(tx, told, s)?
        {
            linked.push(told);
        }
        for id in linked {
            event_recorded(tx, id, true, now)?;
        }
        if told.is_some() {
            stored.known += 1;
            continue;
        }
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
                commits::sha_to_store(tx, Provider::Appcircle, s)?,
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

/// What an account's read of a CI system's API found, to be stored in one transaction:
/// each run as the webhook for it would have been read ([`Delivery`]), and where the read
/// stands and how it went (settings, under the account's own keys).
pub struct RunsRead {
    /// The account's name, which its events carry in place of an endpoint's
    /// ("GitHub account"): with the delivery id, what an earlier read stored is found by.
    pub account: String,
    /// Oldest first.
    pub runs: Vec<Delivery>,
    pub positions_key: String,
    pub positions: String,
    pub status_key: String,
    /// Where the history's retention starts, if it has one: a run that happened before it
    /// is not stored, since retention would prune it and the next fresh answer would bring
    /// it back as news; unless its start is stored, so that its end is never lost.
    pub kept_from: Option<DateTime<Utc>>,
}

/// A run's point already stored, by a webhook or an earlier read: ?1 the run's task id,
/// ?2 whether the read tells its end (a run seen at all has started). Through builds'
/// primary key.
const RUN_TOLD: &str = "
    SELECT 1 FROM builds WHERE task_id = ?1 AND (?2 = 0 OR finished_event_id IS NOT NULL)";

/// Stores a read's runs that are news (see [`RUN_TOLD`]) as `synced` events, with its
/// positions and status (worded by `status` from what was stored), announced as a settings
/// change. A run without a task id is stored once by its delivery id.
pub fn apply_runs(
    tx: &mut Tx<'_>,
    read: RunsRead,
    status: impl FnOnce(Stored) -> String,
    now: DateTime<Utc>,
) -> Result<Stored> {
    let mut stored = Stored::default();
    for run in &read.runs {
        let c = &run.classification;
        let earlier = tx
            .conn
            .prepare_cached(DELIVERY_WITHOUT_ENDPOINT)?
            .query_row(params![read.account, run.envelope.delivery_id], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?
            .is_some();
        if read
            .kept_from
            .is_some_and(|from| run.envelope.timestamp < from)
        {
            let started = match &c.subject.task_id {
                Some(task) => tx
                    .conn
                    .prepare_cached(RUN_TOLD)?
                    .query_row(params![task, false], |r| r.get::<_, i64>(0))
                    .optional()?
                    .is_some(),
                None => false,
            };
            if !started {
                continue;
            }
        }
        let told = match (&c.subject.task_id, c.scope) {
            // Told by a webhook (or read before) as the same no-result end.
            (Some(_), Scope::Build) if c.outcome == Outcome::Info => {
                info_end_told(tx, run, false)?.is_some()
            }
            (Some(task), Scope::Build) => tx
                .conn
                .prepare_cached(RUN_TOLD)?
                // Any completed point counts as an end: an `Info` end (skipped, waiting for
                // approval) is never in builds, so it is stored, once, by its delivery id.
                .query_row(params![task, c.outcome != Outcome::Started], |r| {
                    r.get::<_, i64>(0)
                })
                .optional()?
                .is_some(),
            _ => false,
        };
        if earlier || told {
            stored.known += 1;
            continue;
        }
        let payload = serde_json::to_vec(&run.envelope.item).unwrap_or_default();
        let event_id = insert_event(
            tx,
            run,
            &Provenance {
                endpoint_id: None,
                endpoint_name: &read.account,
                request_id: None,
                received_at: now,
                source: Source::Synced,
                payload: Some(&payload),
                catch_up: true,
            },
        )?;
        stored.events += 1;
        stored.event_ids.push(event_id);
    }
    set_setting(tx, &read.positions_key, &read.positions)?;
    set_setting(tx, &read.status_key, &status(stored.clone()))?;
    let seq = changes::append(tx.conn, ChangeKind::Settings, None, now)?;
    tx.notify(Notice::Settings { seq });
    Ok(stored)
}

/// Stores a sync's status alone (it failed, or the account was connected).
pub fn set_status(tx: &mut Tx<'_>, key: &str, status: &str, now: DateTime<Utc>) -> Result<()> {
    set_setting(tx, key, status)?;
    let seq = changes::append(tx.conn, ChangeKind::Settings, None, now)?;
    tx.notify(Notice::Settings { seq });
    Ok(())
}
