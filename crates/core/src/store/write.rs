//! The work the writer does, one function per kind of write. Each runs inside the
//! writer's transaction (in its own savepoint) and queues the notices it causes.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::changes::{self, ChangeKind};
use super::commits;
use super::records::{EndpointInfo, Source};
use super::writer::Tx;
use super::{Notice, read};
use crate::model::{Outcome, Provider, Scope, StreamKey, Subject, Verdict, is_gated};
use crate::receive::endpoint;
use crate::receive::ingest::{Arrival, Delivery, Judgment, judge_delivery};
use crate::time::to_text;
use crate::{Error, Result};

/// What became of a recorded request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct Recorded {
    pub request_id: i64,
    pub verdict: Verdict,
    pub delivery_id: Option<String>,
    pub event_id: Option<i64>,
    pub error: Option<String>,
}

/// How much of a body that failed verification is kept (the rest is counted in `body_size`).
pub const REJECTED_BODY_KEPT: usize = 64 * 1024;

const NEXT_REQUEST_ID: &str = "SELECT COALESCE(MAX(id), 0) + 1 FROM requests";

const INSERT_REQUEST: &str = "
    INSERT INTO requests (id, endpoint_id, endpoint_name, received_at, method, path,
        remote_addr, headers, signature, body, body_size, verdict, status_code, delivery_id,
        error, body_truncated, event_id)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";

const INSERT_EVENT: &str = "
    INSERT INTO events (endpoint_id, endpoint_name, request_id, delivery_id, source, scope,
        outcome, module, action, title, message, profile_id, profile_name, branch_id,
        branch_name, task_id, build_id, commit_id, rejected, expiring, links, occurred_at,
        received_at, payload, profile_key, branch_key, provider, commit_sha)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
        ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)";

/// An event stored under an endpoint name with no local endpoint (copied from an inbox, or
/// synced from an Appcircle account) by its delivery id: ?1 the name, ?2 the delivery id.
/// Through events_dedupe (endpoint_id, delivery_id).
pub(super) const DELIVERY_WITHOUT_ENDPOINT: &str =
    "SELECT id FROM events WHERE endpoint_id IS NULL AND delivery_id = ?2 AND endpoint_name = ?1";

/// Most secrets an endpoint holds at once: the current one and, during a rotation, the next.
pub const MAX_SECRETS: i64 = 2;

pub fn add_endpoint(
    tx: &mut Tx<'_>,
    name: &str,
    provider: Provider,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<EndpointInfo> {
    endpoint::validate_name(name)?;
    endpoint::validate_secret(secret)?;
    if endpoint_id(tx, name)?.is_some() {
        return Err(Error::Conflict(format!(
            "an endpoint named `{name}` already exists"
        )));
    }
    let at = to_text(now);
    tx.conn.prepare_cached(
        "INSERT INTO endpoints (name, provider, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)")?
            .execute(params![name, provider.as_str(), at],
    )?;
    let id = tx.conn.last_insert_rowid();
    tx.conn
        .prepare_cached(
            "INSERT INTO secrets (endpoint_id, secret, created_at) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![id, secret, at])?;
    endpoints_changed(tx, now)?;
    read::endpoint(tx.conn, name)
}

pub fn remove_endpoint(tx: &mut Tx<'_>, name: &str, now: DateTime<Utc>) -> Result<()> {
    let id = require_endpoint(tx, name)?;
    tx.conn
        .execute("DELETE FROM endpoints WHERE id = ?1", [id])?;
    endpoints_changed(tx, now)?;
    Ok(())
}

pub fn rename_endpoint(
    tx: &mut Tx<'_>,
    name: &str,
    new_name: &str,
    now: DateTime<Utc>,
) -> Result<EndpointInfo> {
    endpoint::validate_name(new_name)?;
    let id = require_endpoint(tx, name)?;
    if name != new_name && endpoint_id(tx, new_name)?.is_some() {
        return Err(Error::Conflict(format!(
            "an endpoint named `{new_name}` already exists"
        )));
    }
    tx.conn
        .prepare_cached("UPDATE endpoints SET name = ?1, updated_at = ?2 WHERE id = ?3")?
        .execute(params![new_name, to_text(now), id])?;
    endpoints_changed(tx, now)?;
    read::endpoint(tx.conn, new_name)
}

pub fn add_secret(tx: &mut Tx<'_>, name: &str, secret: &str, now: DateTime<Utc>) -> Result<()> {
    endpoint::validate_secret(secret)?;
    let id = require_endpoint(tx, name)?;
    let secrets = read::secrets(tx.conn, id)?;
    if secrets.len() as i64 >= MAX_SECRETS {
        return Err(Error::Conflict(format!(
            "endpoint `{name}` already has {MAX_SECRETS} secrets; retire the old one first (gatehouse endpoint retire-secret {name})"
        )));
    }
    if secrets.iter().any(|s| s.secret == secret) {
        return Err(Error::Conflict(format!(
            "endpoint `{name}` already has that secret"
        )));
    }
    let at = to_text(now);
    tx.conn
        .prepare_cached(
            "INSERT INTO secrets (endpoint_id, secret, created_at) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![id, secret, at])?;
    tx.conn
        .prepare_cached("UPDATE endpoints SET updated_at = ?1 WHERE id = ?2")?
        .execute(params![at, id])?;
    endpoints_changed(tx, now)?;
    Ok(())
}

pub fn retire_secret(tx: &mut Tx<'_>, name: &str, now: DateTime<Utc>) -> Result<()> {
    let id = require_endpoint(tx, name)?;
    let secrets = read::secrets(tx.conn, id)?;
    let [oldest, _, ..] = secrets.as_slice() else {
        return Err(Error::Conflict(format!(
            "endpoint `{name}` has only one secret; rotate first (gatehouse endpoint rotate {name})"
        )));
    };
    tx.conn
        .execute("DELETE FROM secrets WHERE id = ?1", [oldest.id])?;
    tx.conn
        .prepare_cached("UPDATE endpoints SET updated_at = ?1 WHERE id = ?2")?
        .execute(params![to_text(now), id])?;
    endpoints_changed(tx, now)?;
    Ok(())
}

pub fn set_setting(tx: &mut Tx<'_>, key: &str, value: &str) -> Result<()> {
    tx.conn
        .prepare_cached(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )?
        .execute(params![key, value])?;
    Ok(())
}

/// Room a health probe needs: a delivery of this size must fit.
pub const PROBE_BYTES: i64 = 64 * 1024;

/// Allocates [`PROBE_BYTES`] and frees them again; fails like a delivery would on a full disk.
pub fn probe(tx: &mut Tx<'_>) -> Result<()> {
    tx.conn.execute(
        "INSERT INTO settings (key, value) VALUES ('health_probe', zeroblob(?1))
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [PROBE_BYTES],
    )?;
    tx.conn
        .execute("DELETE FROM settings WHERE key = 'health_probe'", [])?;
    Ok(())
}

pub fn delete_setting(tx: &mut Tx<'_>, key: &str) -> Result<()> {
    tx.conn
        .prepare_cached("DELETE FROM settings WHERE key = ?1")?
        .execute([key])?;
    Ok(())
}

/// Records the request and, for a fresh new delivery, its event. The duplicate check
/// happens here, inside the single writer, so concurrent repeats cannot both be stored.
/// Everything it can refuse is checked before its first write: the listener runs it
/// without a savepoint ([`super::writer::Isolation::Unguarded`]).
pub fn record(
    tx: &mut Tx<'_>,
    arrival: Arrival,
    judgment: Judgment,
    now: DateTime<Utc>,
) -> Result<Recorded> {
    let endpoint_id = endpoint_id(tx, &arrival.endpoint)?
        .ok_or_else(|| Error::NotFound(format!("no endpoint named `{}`", arrival.endpoint)))?;
    // `stored` is the event a repeat points at.
    let (verdict, error, delivery, stored) = match judgment {
        Judgment::Reject { verdict, error } => (verdict, Some(error), None, None),
        Judgment::Deliver(delivery) => {
            // A repeat of a stored delivery is a duplicate even when late: the sender is
            // retrying something we already have, and a 200 stops it.
            let stored = match existing_event(
                tx,
                endpoint_id,
                &arrival.endpoint,
                &delivery.envelope.delivery_id,
            )? {
                Some(id) => Some(id),
                None => run_read_before(tx, &delivery)?,
            };
            let verdict = if stored.is_some() {
                Verdict::Duplicate
            } else if delivery.stale.is_some() {
                Verdict::Stale
            } else {
                Verdict::Accepted
            };
            (
                verdict,
                delivery.stale.clone().filter(|_| verdict == Verdict::Stale),
                Some(delivery),
                stored,
            )
        }
    };
    let delivery_id = delivery.as_ref().map(|d| d.envelope.delivery_id.clone());
    // Anyone who can reach the endpoint can send a body that fails verification: keep
    // enough of it to see what it was, not a megabyte each.
    let mut body = arrival.body.as_deref();
    let mut body_truncated = false;
    if delivery.is_none()
        && let Some(b) = body
        && b.len() > REJECTED_BODY_KEPT
    {
        body = Some(&b[..REJECTED_BODY_KEPT]);
        body_truncated = true;
    }
    let headers = serde_json::to_string(&arrival.headers)
        .map_err(|e| Error::Invalid(format!("cannot store headers: {e}")))?;
    // The request's id is known before it is written (the writer is the only one), so the
    // event can point at it and the request at the event without a second write.
    let request_id: i64 = tx
        .conn
        .prepare_cached(NEXT_REQUEST_ID)?
        .query_row([], |r| r.get(0))?;
    let event_id = match (&delivery, verdict) {
        (Some(d), Verdict::Accepted) => Some(insert_event(
            tx,
            d,
            &Provenance {
                endpoint_id: Some(endpoint_id),
                endpoint_name: &arrival.endpoint,
                request_id: Some(request_id),
                received_at: arrival.received_at,
                source: arrival.source,
                payload: None,
                catch_up: false,
            },
        )?),
        (Some(_), Verdict::Duplicate) => stored,
        _ => None,
    };
    tx.conn.prepare_cached(INSERT_REQUEST)?.execute(params![
        request_id,
        endpoint_id,
        arrival.endpoint,
        to_text(arrival.received_at),
        arrival.method,
        arrival.path,
        arrival.remote_addr,
        headers,
        arrival.signature,
        body,
        arrival.body_size as i64,
        verdict.as_str(),
        verdict.status_code(),
        delivery_id,
        error,
        body_truncated,
        event_id,
    ])?;
    request_recorded(tx, request_id, now)?;
    Ok(Recorded {
        request_id,
        verdict,
        delivery_id,
        event_id,
        error,
    })
}

/// Accepts a stale request: verified again against the endpoint's current secrets, the
/// replay window waived, deduplicated like any delivery.
pub fn accept_stale(tx: &mut Tx<'_>, request_id: i64, now: DateTime<Utc>) -> Result<Recorded> {
    let stored = tx
        .conn
        .query_row(
            "SELECT endpoint_id, endpoint_name, verdict, signature, body, received_at, headers
             FROM requests WHERE id = ?1",
            [request_id],
            |r| {
                Ok((
                    r.get::<_, Option<i64>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<Vec<u8>>>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, String>(6)?,
                ))
            },
        )
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no request with id {request_id}")))?;
    let (endpoint_id, endpoint_name, verdict, signature, body, received_at, headers) = stored;
    if verdict != Verdict::Stale.as_str() {
        return Err(Error::Conflict(format!(
            "request {request_id} is not stale (its verdict is {verdict}); only stale requests can be accepted"
        )));
    }
    let endpoint_id = endpoint_id.ok_or_else(|| {
        Error::Conflict(format!(
            "request {request_id}'s endpoint `{endpoint_name}` was removed"
        ))
    })?;
    let body = body.unwrap_or_default();
    let headers: Vec<(String, String)> = crate::json::read(&headers).unwrap_or_default();
    let delivery = match judge_again(tx, endpoint_id, signature.as_deref(), &headers, &body, now)? {
        Judgment::Deliver(d) => d,
        Judgment::Reject { error, .. } => {
            return Err(Error::Conflict(format!(
                "request {request_id} can no longer be accepted: {error}"
            )));
        }
    };
    let delivery_id = delivery.envelope.delivery_id.clone();
    let stored = match existing_event(tx, endpoint_id, &endpoint_name, &delivery_id)? {
        Some(id) => Some(id),
        None => run_read_before(tx, &delivery)?,
    };
    let (verdict, event_id) = match stored {
        Some(id) => (Verdict::Duplicate, id),
        None => {
            let received_at = crate::time::from_text(&received_at).unwrap_or(now);
            let id = insert_event(
                tx,
                &delivery,
                &Provenance {
                    endpoint_id: Some(endpoint_id),
                    endpoint_name: &endpoint_name,
                    request_id: Some(request_id),
                    received_at,
                    source: Source::Accepted,
                    payload: None,
                    catch_up: false,
                },
            )?;
            (Verdict::Accepted, id)
        }
    };
    tx.conn.prepare_cached(
        "UPDATE requests SET verdict = ?1, event_id = ?2, accepted_at = ?3, error = NULL WHERE id = ?4")?
            .execute(params![verdict.as_str(), event_id, to_text(now), request_id],
    )?;
    request_recorded(tx, request_id, now)?;
    Ok(Recorded {
        request_id,
        verdict,
        delivery_id: Some(delivery_id),
        event_id: Some(event_id),
        error: None,
    })
}

/// The pipeline's verdict on a stored body, against the endpoint's current secrets, with
/// the replay window waived (the user asked for it) and nothing else.
///
/// The proof is the one the request came with, as kept ([`Provider::proofs`]); the headers
/// kept (secrets redacted) give GitHub's and GitLab's delivery id and event.
fn judge_again(
    tx: &Tx<'_>,
    endpoint_id: i64,
    proof: Option<&str>,
    headers: &[(String, String)],
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Judgment> {
    let provider: String = tx
        .conn
        .prepare_cached("SELECT provider FROM endpoints WHERE id = ?1")?
        .query_row([endpoint_id], |r| r.get(0))?;
    let provider = Provider::parse(&provider)?;
    let secrets = read::secrets(tx.conn, endpoint_id)?;
    let keys: Vec<&[u8]> = secrets.iter().map(|s| s.secret.as_bytes()).collect();
    let proofs: Vec<&str> = proof.into_iter().collect();
    // A generous span stands in for "any time".
    Ok(judge_delivery(
        provider,
        &keys,
        &proofs,
        headers,
        body,
        now,
        Duration::days(365 * 1000),
    ))
}

/// Feeds a stored request through the pipeline again (signature checked, window waived),
/// recorded as a new request marked `replayed`; a delivery already stored is a duplicate.
pub fn replay(tx: &mut Tx<'_>, request_id: i64, now: DateTime<Utc>) -> Result<Recorded> {
    let stored = tx
        .conn
        .prepare_cached(
            "SELECT endpoint_id, endpoint_name, path, headers, signature, body FROM requests WHERE id = ?1",
        )?
        .query_row([request_id], |r| {
            Ok((
                r.get::<_, Option<i64>>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<Vec<u8>>>(5)?,
            ))
        })
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no request with id {request_id}")))?;
    let (endpoint_id, endpoint_name, path, headers, signature, body) = stored;
    let endpoint_id = endpoint_id.ok_or_else(|| {
        Error::Conflict(format!(
            "request {request_id}'s endpoint `{endpoint_name}` was removed"
        ))
    })?;
    let body = body.ok_or_else(|| {
        Error::Conflict(format!("request {request_id} has no stored body to replay"))
    })?;
    let headers: Vec<(String, String)> = crate::json::read(&headers).unwrap_or_default();
    let judgment = judge_again(tx, endpoint_id, signature.as_deref(), &headers, &body, now)?;
    let arrival = Arrival {
        endpoint: read::endpoint_name(tx.conn, endpoint_id)?,
        method: "POST".into(),
        path,
        remote_addr: Some(format!("replay of request {request_id}")),
        headers,
        body_size: body.len() as u64,
        body: Some(body),
        signature,
        received_at: now,
        source: Source::Replayed,
    };
    record(tx, arrival, judgment, now)
}

/// How many rows a prune removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Pruned {
    pub events: u64,
    pub requests: u64,
}

/// Deletes history received before `before`, except the events the gate still points at
/// (each stream's latest event and latest end), so the dashboard stays whole.
pub fn prune(tx: &mut Tx<'_>, before: DateTime<Utc>) -> Result<Pruned> {
    let before_time = before;
    let before = to_text(before);
    let events = tx
        .conn
        .prepare_cached(
            "DELETE FROM events WHERE received_at < ?1
               AND id NOT IN (SELECT last_event_id FROM streams)
               AND id NOT IN (SELECT last_finished_event_id FROM streams
                              WHERE last_finished_event_id IS NOT NULL)",
        )?
        .execute([&before])?;
    let requests = tx
        .conn
        .prepare_cached(
            "DELETE FROM requests WHERE received_at < ?1
               AND (event_id IS NULL OR event_id NOT IN (SELECT id FROM events))",
        )?
        .execute([&before])?;
    tx.conn
        .prepare_cached("DELETE FROM builds WHERE COALESCE(finished_at, started_at) < ?1")?
        .execute([&before])?;
    changes::prune(tx.conn, before_time)?;
    Ok(Pruned {
        events: events as u64,
        requests: requests as u64,
    })
}

/// Deletes requests refused before `before` (anything not accepted, duplicate or stale: those
/// point at events or can still be accepted). Events are never touched.
pub fn prune_rejected(tx: &mut Tx<'_>, before: DateTime<Utc>) -> Result<u64> {
    let deleted = tx
        .conn
        .prepare_cached(PRUNE_REJECTED)?
        .execute([to_text(before)])?;
    Ok(deleted as u64)
}

/// Named verdict by verdict, so the `requests_by_verdict` index finds them: the hourly pass
/// reads only refused requests, not the whole history (which would also fill the writer's
/// page cache, the app's memory, at every start).
const PRUNE_REJECTED: &str = "
    DELETE FROM requests
    WHERE verdict IN ('missing_signature', 'bad_signature', 'malformed', 'too_large',
                      'method_not_allowed', 'incomplete')
      AND received_at < ?1
      AND event_id IS NULL";

/// Where a new event comes from: a request to an endpoint here, or an account's read of a
/// CI system's API (no endpoint and no request, so the event keeps its payload itself).
pub(super) struct Provenance<'a> {
    pub endpoint_id: Option<i64>,
    pub endpoint_name: &'a str,
    pub request_id: Option<i64>,
    pub received_at: DateTime<Utc>,
    pub source: Source,
    /// The payload, when no request keeps it.
    pub payload: Option<&'a [u8]>,
    /// One of a batch (an account's read): announced as a catch-up, never one by one.
    pub catch_up: bool,
}

pub(super) fn insert_event(tx: &mut Tx<'_>, d: &Delivery, from: &Provenance<'_>) -> Result<i64> {
    let c = &d.classification;
    let s = &c.subject;
    let e = &d.envelope;
    let occurred_at = to_text(e.timestamp);
    let links = serde_json::Value::Object(e.links.clone()).to_string();
    let key = StreamKey::of(c.provider, c.scope, s);
    tx.conn.prepare_cached(INSERT_EVENT)?.execute(params![
        from.endpoint_id,
        from.endpoint_name,
        from.request_id,
        e.delivery_id,
        from.source.as_str(),
        c.scope.as_str(),
        c.outcome.as_str(),
        c.module,
        e.action,
        e.title,
        e.message,
        s.profile_id,
        s.profile_name,
        s.branch_id,
        s.branch_name,
        s.task_id,
        s.build_id,
        s.commit_id,
        c.rejected,
        c.expiring,
        links,
        occurred_at,
        to_text(from.received_at),
        // A request's payload is stored once, in the request (read back through
        // `request_id`).
        from.payload,
        key.profile,
        key.branch,
        c.provider.as_str(),
        commits::sha_to_store(tx, c.provider, s)?,
    ])?;
    let event_id = tx.conn.last_insert_rowid();
    // A webhook naming both the commit GUID and its hash is rare; what it links is not
    // announced again (the account's read does that for what it learns).
    commits::learn(tx, c.provider, s)?;
    track(tx, c.scope, c.outcome, s, &key, event_id, &occurred_at)?;
    if let (Some(task), Some(started)) = (&s.task_id, c.started_at)
        && c.scope == Scope::Build
        && c.outcome.is_finished()
    {
        // The delivery says when its run began (GitHub, GitLab): a run whose start
        // event never came still has a duration, and it is the run's own.
        tx.conn
            .prepare_cached(RUN_STARTED_AT)?
            .execute(params![task, to_text(started)])?;
    }
    event_recorded(tx, event_id, from.catch_up, from.received_at)?;
    Ok(event_id)
}

/// The event an account's read of the CI system's API already stored for this delivery's
/// run (GitHub's run attempt, GitLab's pipeline) at this point of its life: a webhook that
/// arrives after the poll told the same news is a duplicate of it, as a redelivery is.
/// A stored end stands for the start as well (a start told after the end is old news).
fn run_read_before(tx: &Tx<'_>, d: &Delivery) -> Result<Option<i64>> {
    let c = &d.classification;
    let (Scope::Build, Some(task)) = (c.scope, &c.subject.task_id) else {
        return Ok(None);
    };
    if c.provider == Provider::Appcircle {
        return Ok(None);
    }
    if c.outcome == Outcome::Info {
        return info_end_told(tx, d, true);
    }
    Ok(tx
        .conn
        .prepare_cached(RUN_READ_BEFORE)?
        // An end is any completed point, `Info` ends (skipped, waiting for approval) too:
        // only a finished one can match (builds record no other), so they are accepted.
        .query_row(params![task, c.outcome != Outcome::Started], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .optional()?
        .flatten())
}

/// ?1 the run's task id, ?2 whether the delivery tells its end: the read event for that
/// end, or for its start or end when it tells the start. Through builds' primary key.
const RUN_READ_BEFORE: &str = "
    SELECT COALESCE(f.id, CASE WHEN ?2 THEN NULL ELSE s.id END)
    FROM builds b
    LEFT JOIN events f ON f.id = b.finished_event_id AND f.source = 'synced'
    LEFT JOIN events s ON s.id = b.started_event_id AND s.source = 'synced'
    WHERE b.task_id = ?1";

/// An end that is no result (skipped, waiting for approval, a manual GitLab pipeline) is in
/// no build run, so it is matched by its stream, run and outcome: the event already stored
/// for it (by a read only, when `synced_only`), so that it is stored once whichever way it
/// came first.
pub(super) fn info_end_told(tx: &Tx<'_>, d: &Delivery, synced_only: bool) -> Result<Option<i64>> {
    let c = &d.classification;
    let Some(task) = &c.subject.task_id else {
        return Ok(None);
    };
    let key = StreamKey::of(c.provider, c.scope, &c.subject);
    Ok(tx
        .conn
        .prepare_cached(INFO_END_TOLD)?
        .query_row(
            params![
                c.scope.as_str(),
                key.profile,
                key.branch,
                task,
                c.outcome.as_str(),
                synced_only,
                d.envelope.title
            ],
            |r| r.get::<_, i64>(0),
        )
        .optional()?)
}

/// ?1-?3 the stream (scope, profile key, branch key), ?4 the run's task id, ?5 the outcome,
/// ?6 whether only a read's event counts, ?7 its title (the provider's word: "skipped" and
/// "waits for a manual action" are two ends). Through events_by_stream.
const INFO_END_TOLD: &str = "
    SELECT id FROM events
    WHERE scope = ?1 AND profile_key = ?2 AND branch_key = ?3
      AND task_id = ?4 AND outcome = ?5 AND title IS ?7 AND (NOT ?6 OR source = 'synced')
    ORDER BY occurred_at DESC, id DESC
    LIMIT 1";

/// A finished run's start as its end's delivery gives it: the sender's own word, over when
/// a start event happened to arrive (while it runs, that arrival is what "running since"
/// shows: a retried GitLab pipeline keeps its first creation time).
const RUN_STARTED_AT: &str = "UPDATE builds SET started_at = ?2 WHERE task_id = ?1";

/// Logs a new event in the change log and announces it (whoever wrote it: the listener,
/// an acceptance, a mirror).
pub(super) fn event_recorded(
    tx: &mut Tx<'_>,
    event_id: i64,
    catch_up: bool,
    at: DateTime<Utc>,
) -> Result<()> {
    let seq = changes::append(tx.conn, ChangeKind::Event, Some(event_id), at)?;
    tx.notify_with(|conn| {
        Ok(Notice::Event {
            seq,
            event: Arc::new(read::event(conn, event_id, false)?),
            catch_up,
        })
    })
}

/// What the gate and the build runs read, brought up to date with a new event: its
/// stream's latest event and latest end, and its build run's start or end.
pub(super) fn track(
    tx: &Tx<'_>,
    scope: Scope,
    outcome: Outcome,
    s: &Subject,
    key: &StreamKey,
    event_id: i64,
    occurred_at: &str,
) -> Result<()> {
    let (profile_key, branch_key) = (&key.profile, &key.branch);
    if is_gated(scope) {
        let finished = outcome.is_finished();
        tx.conn.prepare_cached(
            "INSERT INTO streams (scope, profile_key, branch_key, profile_id, profile_name, branch_id,
                 branch_name, last_event_id, last_event_at, last_finished_event_id, last_finished_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,
                 CASE WHEN ?10 THEN ?8 END, CASE WHEN ?10 THEN ?9 END)
             ON CONFLICT (scope, profile_key, branch_key) DO UPDATE SET
                 profile_id = COALESCE(excluded.profile_id, profile_id),
                 profile_name = COALESCE(excluded.profile_name, profile_name),
                 branch_id = COALESCE(excluded.branch_id, branch_id),
                 branch_name = COALESCE(excluded.branch_name, branch_name),
                 last_event_id = CASE WHEN excluded.last_event_at >= last_event_at
                     THEN excluded.last_event_id ELSE last_event_id END,
                 last_event_at = MAX(excluded.last_event_at, last_event_at),
                 last_finished_event_id = CASE
                     WHEN ?10 AND (last_finished_at IS NULL OR ?9 >= last_finished_at) THEN ?8
                     ELSE last_finished_event_id END,
                 last_finished_at = CASE
                     WHEN ?10 AND (last_finished_at IS NULL OR ?9 >= last_finished_at) THEN ?9
                     ELSE last_finished_at END")?
            .execute(params![
                scope.as_str(),
                profile_key,
                branch_key,
                s.profile_id,
                s.profile_name,
                s.branch_id,
                s.branch_name,
                event_id,
                occurred_at,
                finished,
            ],
        )?;
    }
    if let (Scope::Build, Some(task_id)) = (scope, &s.task_id) {
        if outcome == Outcome::Started {
            tx.conn.prepare_cached(
                "INSERT INTO builds (task_id, profile_key, branch_key, started_event_id, started_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (task_id) DO UPDATE SET
                     started_event_id = excluded.started_event_id, started_at = excluded.started_at")?
            .execute(params![task_id, profile_key, branch_key, event_id, occurred_at],
            )?;
        } else if outcome.is_finished() {
            tx.conn.prepare_cached(
                "INSERT INTO builds (task_id, profile_key, branch_key, finished_event_id, finished_at, outcome)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (task_id) DO UPDATE SET finished_event_id = excluded.finished_event_id,
                     finished_at = excluded.finished_at, outcome = excluded.outcome")?
            .execute(params![task_id, profile_key, branch_key, event_id, occurred_at, outcome.as_str()],
            )?;
        }
    }
    Ok(())
}

/// Logs a recorded request (or its new verdict) in the change log and announces it.
pub(super) fn request_recorded(tx: &mut Tx<'_>, request_id: i64, at: DateTime<Utc>) -> Result<()> {
    let seq = changes::append(tx.conn, ChangeKind::Request, Some(request_id), at)?;
    tx.notify_with(|conn| {
        Ok(Notice::Request {
            seq,
            request: Arc::new(read::request(conn, request_id, false)?),
        })
    })
}

/// Logs and announces a change to endpoints or their secrets.
fn endpoints_changed(tx: &mut Tx<'_>, now: DateTime<Utc>) -> Result<()> {
    let seq = changes::append(tx.conn, ChangeKind::Endpoints, None, now)?;
    tx.notify(Notice::Endpoints { seq });
    Ok(())
}

/// Stores the user's settings (as JSON under `key`), logged and announced as a change.
pub fn save_settings(tx: &mut Tx<'_>, key: &str, json: &str, now: DateTime<Utc>) -> Result<()> {
    set_setting(tx, key, json)?;
    let seq = changes::append(tx.conn, ChangeKind::Settings, None, now)?;
    tx.notify(Notice::Settings { seq });
    Ok(())
}

fn endpoint_id(tx: &Tx<'_>, name: &str) -> Result<Option<i64>> {
    Ok(tx
        .conn
        .prepare_cached("SELECT id FROM endpoints WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?)
}

fn require_endpoint(tx: &Tx<'_>, name: &str) -> Result<i64> {
    endpoint_id(tx, name)?.ok_or_else(|| Error::NotFound(format!("no endpoint named `{name}`")))
}

/// The event this delivery already is: received here before, or copied from an inbox under
/// the same endpoint name (mirrored rows have no local endpoint). Both go through
/// events_dedupe (endpoint_id, delivery_id).
fn existing_event(
    tx: &Tx<'_>,
    endpoint_id: i64,
    endpoint_name: &str,
    delivery_id: &str,
) -> Result<Option<i64>> {
    let here: Option<i64> = tx
        .conn
        .prepare_cached("SELECT id FROM events WHERE endpoint_id = ?1 AND delivery_id = ?2")?
        .query_row(params![endpoint_id, delivery_id], |r| r.get(0))
        .optional()?;
    if here.is_some() {
        return Ok(here);
    }
    Ok(tx
        .conn
        .prepare_cached(DELIVERY_WITHOUT_ENDPOINT)?
        .query_row(params![endpoint_name, delivery_id], |r| r.get(0))
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every refusal verdict expires, and nothing that points at an event or can still be
    /// accepted does: the list in the SQL must follow the enum.
    #[test]
    fn the_rejected_prune_names_every_refusal_and_nothing_else() {
        for v in Verdict::ALL {
            let named = PRUNE_REJECTED.contains(&format!("'{}'", v.as_str()));
            let keeps = matches!(v, Verdict::Accepted | Verdict::Duplicate | Verdict::Stale);
            assert_eq!(named, !keeps, "{v}");
        }
    }
}
