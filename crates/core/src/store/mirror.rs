//! Rows copied from an inbox's stream into this store (see [`crate::follow::mirror`]), applied in
//! one transaction with the position they bring the mirror to, so a change is applied once
//! whatever is interrupted. Events are also deduplicated by (endpoint, deliveryId) against
//! what this machine's own listener stored.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::commits;
use super::records::{EventRecord, RequestRecord};
use super::write::{DELIVERY_WITHOUT_ENDPOINT, event_recorded, request_recorded, track};
use super::writer::Tx;
use crate::model::{Provider, StreamKey, Subject, git_sha};
use crate::time::to_text;
use crate::{Error, Result};

/// One change read from an inbox's stream.
#[derive(Debug, Clone)]
pub enum Incoming {
    Event(Box<EventRecord>),
    Request(Box<RequestRecord>),
    /// Endpoints or settings changed there: nothing to copy, the position still moves.
    Other,
}

/// What applying a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub events: u64,
    pub requests: u64,
    /// Events this store already had (from its own listener, or applied before).
    pub duplicates: u64,
    /// The position after the batch.
    pub last_seq: i64,
}

/// The last seq applied from `inbox` (0 before the first).
pub fn position(conn: &Connection, inbox: &str) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT last_seq FROM mirrors WHERE inbox = ?1")?
        .query_row([inbox], |r| r.get(0))
        .optional()?
        .unwrap_or(0))
}

/// Which of an inbox's change logs the mirror follows ('' before its first `hello`).
fn followed_log(conn: &Connection, inbox: &str) -> Result<String> {
    Ok(conn
        .prepare_cached("SELECT log_id FROM mirrors WHERE inbox = ?1")?
        .query_row([inbox], |r| r.get(0))
        .optional()?
        .unwrap_or_default())
}

/// Where rows copied from `inbox`'s log `log` say they came from.
fn origin(inbox: &str, log: &str) -> String {
    format!("{inbox}#{log}")
}

const SET_POSITION: &str = "
    INSERT INTO mirrors (inbox, last_seq, updated_at) VALUES (?1, ?2, ?3)
    ON CONFLICT (inbox) DO UPDATE SET last_seq = excluded.last_seq, updated_at = excluded.updated_at";

const SET_LOG: &str = "
    INSERT INTO mirrors (inbox, last_seq, updated_at, log_id) VALUES (?1, ?2, ?3, ?4)
    ON CONFLICT (inbox) DO UPDATE SET last_seq = excluded.last_seq,
        updated_at = excluded.updated_at, log_id = excluded.log_id";

/// On an inbox's `hello`: the position to follow `log` from, whose newest seq is `newest`.
/// Another log than the one followed so far (the inbox's database was replaced, and counts
/// from 1 again), or the same one behind the position (restored from a backup), starts the
/// mirror over from 0; the rows it copied stay, and deliveries are still deduplicated by
/// (endpoint, deliveryId).
pub fn begin(
    tx: &mut Tx<'_>,
    inbox: &str,
    log: &str,
    newest: i64,
    now: DateTime<Utc>,
) -> Result<i64> {
    let followed = followed_log(tx.conn, inbox)?;
    let seq = position(tx.conn, inbox)?;
    let seq = if !followed.is_empty() && followed != log {
        tracing::warn!(
            "inbox {inbox} has a new change log ({log}, was {followed}): following it from the start"
        );
        0
    } else if seq > newest {
        tracing::warn!(
            "inbox {inbox}'s change log ends at {newest}, before this mirror's {seq} (restored from a backup?): following it from the start"
        );
        0
    } else {
        seq
    };
    tx.conn
        .prepare_cached(SET_LOG)?
        .execute(params![inbox, seq, to_text(now), log])?;
    Ok(seq)
}

/// Applies `batch` (seq, change) in order, skipping what is at or before the position.
pub fn apply(
    tx: &mut Tx<'_>,
    inbox: &str,
    batch: Vec<(i64, Incoming)>,
    catch_up: bool,
    now: DateTime<Utc>,
) -> Result<Applied> {
    let mut applied = Applied {
        last_seq: position(tx.conn, inbox)?,
        ..Applied::default()
    };
    let origin = origin(inbox, &followed_log(tx.conn, inbox)?);
    let inbox_key = inbox;
    let inbox = origin.as_str();
    for (seq, incoming) in batch {
        if seq <= applied.last_seq {
            continue;
        }
        match incoming {
            Incoming::Event(e) => {
                if apply_event(tx, inbox, &e, catch_up, now)? {
                    applied.events += 1;
                } else {
                    applied.duplicates += 1;
                }
            }
            Incoming::Request(r) => {
                apply_request(tx, inbox, &r, now)?;
                applied.requests += 1;
            }
            Incoming::Other => {}
        }
        applied.last_seq = seq;
    }
    tx.conn.prepare_cached(SET_POSITION)?.execute(params![
        inbox_key,
        applied.last_seq,
        to_text(now)
    ])?;
    Ok(applied)
}

/// Moves the position forward without rows: after a `gap`, what was pruned is not coming.
pub fn skip_to(tx: &mut Tx<'_>, inbox: &str, seq: i64, now: DateTime<Utc>) -> Result<()> {
    if seq > position(tx.conn, inbox)? {
        tx.conn
            .prepare_cached(SET_POSITION)?
            .execute(params![inbox, seq, to_text(now)])?;
    }
    Ok(())
}

const INSERT_MIRRORED_EVENT: &str = "
    INSERT INTO events (endpoint_id, endpoint_name, request_id, delivery_id, source, scope,
        outcome, module, action, title, message, profile_id, profile_name, branch_id,
        branch_name, task_id, build_id, commit_id, rejected, expiring, links, occurred_at,
        received_at, payload, profile_key, branch_key, origin, origin_id, provider, commit_sha)
    VALUES (NULL, ?1, NULL, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
        ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)";

/// Whether this store has the delivery already: copied from `inbox` before, or received by
/// the local listener (or another mirror) under the same endpoint name.
fn known_event(conn: &Connection, inbox: &str, e: &EventRecord) -> Result<bool> {
    let copied: Option<i64> = conn
        .prepare_cached("SELECT id FROM events WHERE origin = ?1 AND origin_id = ?2")?
        .query_row(params![inbox, e.id], |r| r.get(0))
        .optional()?;
    if copied.is_some() {
        return Ok(true);
    }
    // Both lookups go through events_dedupe (endpoint_id, delivery_id).
    let local: Option<i64> = conn
        .prepare_cached(
            "SELECT e.id FROM endpoints ep JOIN events e ON e.endpoint_id = ep.id
             WHERE ep.name = ?1 AND e.delivery_id = ?2",
        )?
        .query_row(params![e.endpoint, e.delivery_id], |r| r.get(0))
        .optional()?;
    if local.is_some() {
        return Ok(true);
    }
    let mirrored: Option<i64> = conn
        .prepare_cached(DELIVERY_WITHOUT_ENDPOINT)?
        .query_row(params![e.endpoint, e.delivery_id], |r| r.get(0))
        .optional()?;
    Ok(mirrored.is_some())
}

/// Copies one event; `false` when this store had it already.
fn apply_event(
    tx: &mut Tx<'_>,
    inbox: &str,
    e: &EventRecord,
    catch_up: bool,
    now: DateTime<Utc>,
) -> Result<bool> {
    if known_event(tx.conn, inbox, e)? {
        // Announced again: the inbox gave it its commit's SHA after it was copied.
        commits::link_copy(tx, inbox, e)?;
        return Ok(false);
    }
    let subject = Subject {
        profile_id: e.profile_id.clone(),
        profile_name: e.profile_name.clone(),
        branch_id: e.branch_id.clone(),
        branch_name: e.branch_name.clone(),
        task_id: e.task_id.clone(),
        build_id: e.build_id.clone(),
        commit_id: e.commit_id.clone(),
        // An inbox older than commit checks sends no SHA: GitHub's and GitLab's commit id
        // is one.
        commit_sha: e.commit_sha.as_deref().and_then(git_sha).or_else(|| {
            (e.provider != Provider::Appcircle)
                .then(|| e.commit_id.as_deref().and_then(git_sha))
                .flatten()
        }),
    };
    let key = StreamKey::of(e.provider, e.scope, &subject);
    let links = serde_json::Value::Object(e.links.clone()).to_string();
    tx.conn
        .prepare_cached(INSERT_MIRRORED_EVENT)?
        .execute(params![
            e.endpoint,
            e.delivery_id,
            e.source.as_str(),
            e.scope.as_str(),
            e.outcome.as_str(),
            e.module,
            e.action,
            e.title,
            e.message,
            e.profile_id,
            e.profile_name,
            e.branch_id,
            e.branch_name,
            e.task_id,
            e.build_id,
            e.commit_id,
            e.rejected,
            e.expiring,
            links,
            e.occurred_at,
            e.received_at,
            e.payload.as_deref().map(str::as_bytes),
            key.profile,
            key.branch,
            inbox,
            e.id,
            e.provider.as_str(),
            commits::sha_to_store(tx, e.provider, &subject)?,
        ])?;
    let event_id = tx.conn.last_insert_rowid();
    // What a copy links here is not announced again: a mirror has no followers of its own.
    commits::learn(tx, e.provider, &subject)?;
    track(
        tx,
        e.scope,
        e.outcome,
        &subject,
        &key,
        event_id,
        &e.occurred_at,
    )?;
    event_recorded(tx, event_id, catch_up, now)?;
    Ok(true)
}

const INSERT_MIRRORED_REQUEST: &str = "
    INSERT INTO requests (endpoint_id, endpoint_name, received_at, method, path, remote_addr,
        headers, signature, body, body_size, verdict, status_code, delivery_id, error,
        body_truncated, event_id, accepted_at, origin, origin_id)
    VALUES (NULL, ?1, ?2, ?3, ?4, ?5, ?6, NULL, NULL, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

const UPDATE_MIRRORED_REQUEST: &str = "
    UPDATE requests SET verdict = ?1, status_code = ?2, error = ?3, event_id = ?4, accepted_at = ?5
    WHERE id = ?6";

/// Copies one request (its body stays at the inbox), or brings an earlier copy up to date
/// (a stale request accepted there).
fn apply_request(
    tx: &mut Tx<'_>,
    inbox: &str,
    r: &RequestRecord,
    now: DateTime<Utc>,
) -> Result<()> {
    // The event it points at, as this store numbers it.
    let event_id: Option<i64> = match r.event_id {
        Some(remote) => tx
            .conn
            .prepare_cached("SELECT id FROM events WHERE origin = ?1 AND origin_id = ?2")?
            .query_row(params![inbox, remote], |row| row.get(0))
            .optional()?,
        None => None,
    };
    let existing: Option<i64> = tx
        .conn
        .prepare_cached("SELECT id FROM requests WHERE origin = ?1 AND origin_id = ?2")?
        .query_row(params![inbox, r.id], |row| row.get(0))
        .optional()?;
    let id = match existing {
        Some(id) => {
            tx.conn
                .prepare_cached(UPDATE_MIRRORED_REQUEST)?
                .execute(params![
                    r.verdict.as_str(),
                    r.status_code,
                    r.error,
                    event_id,
                    r.accepted_at,
                    id
                ])?;
            id
        }
        None => {
            let headers = serde_json::to_string(&r.headers)
                .map_err(|e| Error::Invalid(format!("cannot store headers: {e}")))?;
            tx.conn
                .prepare_cached(INSERT_MIRRORED_REQUEST)?
                .execute(params![
                    r.endpoint,
                    r.received_at,
                    r.method,
                    r.path,
                    r.remote_addr,
                    headers,
                    r.body_size as i64,
                    r.verdict.as_str(),
                    r.status_code,
                    r.delivery_id,
                    r.error,
                    r.body_truncated,
                    event_id,
                    r.accepted_at,
                    inbox,
                    r.id,
                ])?;
            tx.conn.last_insert_rowid()
        }
    };
    request_recorded(tx, id, now)
}
