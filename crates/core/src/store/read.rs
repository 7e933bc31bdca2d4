//! Read queries. Plain functions over a connection, so the writer can reuse them to read
//! back what it just wrote.

use chrono::{DateTime, Duration, Utc};
use rusqlite::types::ToSql;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::{Deserialize, Serialize};

use super::records::*;
use crate::model::{Outcome, Provider, Scope, Verdict};
use crate::time::{from_text, parse_liberal, to_text};
use crate::{Error, Result};

/// Stored JSON that no longer parses (a damaged row, a hand edit) is logged and read as
/// empty, so one bad row cannot hide the rest of a listing, and never goes unnoticed.
pub fn stored_json<T: serde::de::DeserializeOwned + Default>(json: &str, what: &str) -> T {
    crate::json::read(json).unwrap_or_else(|e| {
        tracing::warn!("stored {what} do not parse ({e}); shown as empty");
        T::default()
    })
}

pub fn secrets(conn: &Connection, endpoint_id: i64) -> Result<Vec<Secret>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, secret, created_at FROM secrets WHERE endpoint_id = ?1 ORDER BY id",
    )?;
    let rows = stmt.query_map([endpoint_id], |r| {
        Ok(Secret {
            id: r.get(0)?,
            secret: r.get(1)?,
            created_at: r.get(2)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn endpoint_name(conn: &Connection, id: i64) -> Result<String> {
    conn.prepare_cached("SELECT name FROM endpoints WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no endpoint with id {id}")))
}

pub fn endpoint_secrets(conn: &Connection, name: &str) -> Result<Option<(i64, Vec<Secret>)>> {
    let id: Option<i64> = conn
        .prepare_cached("SELECT id FROM endpoints WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?;
    match id {
        Some(id) => Ok(Some((id, secrets(conn, id)?))),
        None => Ok(None),
    }
}

/// Counts come from `tallies` (kept by triggers) and the latest request from the end of its
/// index: listing endpoints costs the same at a thousand requests or a million.
const ENDPOINT_COLUMNS: &str = "e.id, e.name, e.provider,
    (SELECT COUNT(*) FROM secrets s WHERE s.endpoint_id = e.id),
    e.created_at, e.updated_at,
    COALESCE((SELECT n FROM tallies t WHERE t.kind = 'requests' AND t.endpoint_id = e.id), 0),
    COALESCE((SELECT n FROM tallies t WHERE t.kind = 'events' AND t.endpoint_id = e.id), 0),
    (SELECT r.received_at FROM requests r WHERE r.endpoint_id = e.id ORDER BY r.id DESC LIMIT 1)";

fn endpoint_row(r: &Row<'_>) -> rusqlite::Result<EndpointInfo> {
    Ok(EndpointInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        provider: Provider::parse(&r.get::<_, String>(2)?).unwrap_or_default(),
        secret_count: r.get(3)?,
        created_at: r.get(4)?,
        updated_at: r.get(5)?,
        request_count: r.get::<_, i64>(6)? as u64,
        event_count: r.get::<_, i64>(7)? as u64,
        last_request_at: r.get(8)?,
    })
}

pub fn endpoints(conn: &Connection) -> Result<Vec<EndpointInfo>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM endpoints e ORDER BY e.name"
    ))?;
    let rows = stmt.query_map([], endpoint_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn endpoint(conn: &Connection, name: &str) -> Result<EndpointInfo> {
    conn.query_row(
        &format!("SELECT {ENDPOINT_COLUMNS} FROM endpoints e WHERE e.name = ?1"),
        [name],
        endpoint_row,
    )
    .optional()?
    .ok_or_else(|| Error::NotFound(format!("no endpoint named `{name}`")))
}

/// Events with their build run (for the duration) and, when asked, their payload: the body
/// of the request that carried them (stored once), or the copy older databases kept.
pub(super) fn event_select(with_payload: bool) -> String {
    format!(
        "SELECT e.id, e.delivery_id, COALESCE(ep.name, e.endpoint_name), e.request_id, e.source,
             e.scope, e.outcome, e.module, e.action, e.title, e.message, e.profile_id, e.profile_name,
             e.branch_id, e.branch_name, e.task_id, e.build_id, e.commit_id, e.rejected, e.expiring,
             e.links, e.occurred_at, e.received_at, b.started_at, {}, e.provider, e.commit_sha
         FROM events e
         LEFT JOIN endpoints ep ON ep.id = e.endpoint_id
         LEFT JOIN builds b ON b.task_id = e.task_id AND e.scope = 'build'",
        if with_payload {
            "COALESCE(e.payload, (SELECT r.body FROM requests r WHERE r.id = e.request_id))"
        } else {
            "NULL"
        }
    )
}

pub(super) fn event_row(r: &Row<'_>) -> rusqlite::Result<EventRecord> {
    let scope: String = r.get(5)?;
    let outcome: Outcome = r.get::<_, String>(6)?.parse().unwrap_or(Outcome::Info);
    let occurred_at: String = r.get(21)?;
    let started_at: Option<String> = r.get(23)?;
    let duration_ms = started_at
        .filter(|_| outcome.is_finished())
        .and_then(|s| Some(from_text(&occurred_at)? - from_text(&s)?))
        .map(|d| d.num_milliseconds())
        .filter(|ms| *ms >= 0);
    let links: String = r.get(20)?;
    let payload: Option<Vec<u8>> = r.get(24)?;
    let provider: String = r.get(25)?;
    Ok(EventRecord {
        id: r.get(0)?,
        delivery_id: r.get(1)?,
        endpoint: r.get(2)?,
        provider: Provider::parse(&provider).unwrap_or_default(),
        request_id: r.get(3)?,
        source: Source::parse(&r.get::<_, String>(4)?),
        scope: Scope::from_module(&scope).unwrap_or(Scope::Other),
        outcome,
        module: r.get(7)?,
        action: r.get(8)?,
        title: r.get(9)?,
        message: r.get(10)?,
        profile_id: r.get(11)?,
        profile_name: r.get(12)?,
        branch_id: r.get(13)?,
        branch_name: r.get(14)?,
        task_id: r.get(15)?,
        build_id: r.get(16)?,
        commit_id: r.get(17)?,
        commit_sha: r.get(26)?,
        rejected: r.get(18)?,
        expiring: r.get(19)?,
        links: stored_json(&links, "event links"),
        duration_ms,
        occurred_at,
        received_at: r.get(22)?,
        payload: payload.map(|p| String::from_utf8_lossy(&p).into_owned()),
    })
}

pub fn event(conn: &Connection, id: i64, with_payload: bool) -> Result<EventRecord> {
    conn.prepare_cached(&format!("{} WHERE e.id = ?1", event_select(with_payload)))?
        .query_row([id], event_row)
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no event with id {id}")))
}

/// Builds a WHERE clause from optional filters without string-pasting values.
#[derive(Default)]
struct Filter {
    clauses: Vec<String>,
    params: Vec<Box<dyn ToSql>>,
}

impl Filter {
    /// Numbers each `?` in `clause` after the parameters already added.
    fn add(&mut self, clause: &str, values: Vec<Box<dyn ToSql>>) {
        let mut numbered = String::new();
        let mut parts = clause.split('?');
        numbered.push_str(parts.next().unwrap_or_default());
        for (part, value) in parts.zip(values) {
            self.params.push(value);
            numbered.push_str(&format!("?{}{part}", self.params.len()));
        }
        self.clauses.push(numbered);
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    fn page(&mut self, limit: Option<u32>, offset: Option<u32>) -> String {
        let limit = limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
        self.params.push(Box::new(limit));
        self.params.push(Box::new(offset.unwrap_or(0)));
        format!(
            " LIMIT ?{} OFFSET ?{}",
            self.params.len() - 1,
            self.params.len()
        )
    }
}

fn time_bound(s: &str) -> Result<String> {
    parse_liberal(s)
        .map(to_text)
        .ok_or_else(|| Error::Invalid(format!("`{s}` is not a date and time (use RFC 3339)")))
}

/// Stream keys that a profile id or name stands for: the profiles the gate follows by that
/// id or name, and the text itself where events are keyed by it (other scopes).
const PROFILE_KEYS: &str = "
    SELECT profile_key FROM streams WHERE profile_id = ?1 OR profile_name = ?1 COLLATE NOCASE
    UNION
    SELECT profile_key FROM events WHERE profile_key = ?1";

fn profile_keys(conn: &Connection, profile: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(PROFILE_KEYS)?;
    let keys = stmt
        .query_map([profile], |r| r.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(keys)
}

/// The WHERE clause and parameters for an event query.
fn event_filter(conn: &Connection, q: &EventQuery) -> Result<(String, Vec<Box<dyn ToSql>>)> {
    let mut f = Filter::default();
    // With a profile, its index is the way in: a unary `+` keeps the planner from picking
    // the scope or outcome index instead, which would fetch a row per event to test it.
    let plus = if q.profile.is_some() { "+" } else { "" };
    if let Some(task) = &q.task {
        f.add("e.task_id = ?", vec![Box::new(task.clone())]);
    }
    if let Some(provider) = q.provider {
        f.add(
            &format!("{plus}e.provider = ?"),
            vec![Box::new(provider.as_str())],
        );
    }
    if let Some(scope) = q.scope {
        f.add(
            &format!("{plus}e.scope = ?"),
            vec![Box::new(scope.as_str())],
        );
    }
    if let Some(outcome) = q.outcome {
        f.add(
            &format!("{plus}e.outcome = ?"),
            vec![Box::new(outcome.as_str())],
        );
    }
    if let Some(p) = &q.profile {
        // By stream key (an id, else a name: crate::model::StreamKey), so one index range
        // answers, in time order; a name given for a profile keyed by its id is looked up.
        let keys = profile_keys(conn, p)?;
        let marks = vec!["?"; keys.len().max(1)].join(", ");
        let values: Vec<Box<dyn ToSql>> = if keys.is_empty() {
            vec![Box::new(p.clone())]
        } else {
            keys.into_iter()
                .map(|k| Box::new(k) as Box<dyn ToSql>)
                .collect()
        };
        f.add(&format!("e.profile_key IN ({marks})"), values);
    }
    if let Some(b) = &q.branch {
        f.add(
            "(e.branch_id = ? OR e.branch_name = ? COLLATE NOCASE)",
            vec![Box::new(b.clone()), Box::new(b.clone())],
        );
    }
    if let Some(name) = &q.endpoint {
        f.add(
            "COALESCE(ep.name, e.endpoint_name) = ?",
            vec![Box::new(name.clone())],
        );
    }
    if let Some(text) = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let pattern = format!(
            "%{}%",
            text.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        f.add(
            "(e.title LIKE ? ESCAPE '\\' OR e.message LIKE ? ESCAPE '\\' OR e.action LIKE ? ESCAPE '\\')",
            vec![Box::new(pattern.clone()), Box::new(pattern.clone()), Box::new(pattern)],
        );
    }
    if let Some(since) = &q.since {
        f.add("e.occurred_at >= ?", vec![Box::new(time_bound(since)?)]);
    }
    if let Some(until) = &q.until {
        f.add("e.occurred_at < ?", vec![Box::new(time_bound(until)?)]);
    }
    Ok((f.sql(), f.params))
}

pub fn events(conn: &Connection, q: &EventQuery) -> Result<Vec<EventRecord>> {
    let (filter, params) = event_filter(conn, q)?;
    let mut f = Filter {
        clauses: Vec::new(),
        params,
    };
    let page = f.page(q.limit, q.offset);
    let sql = format!(
        "{}{filter} ORDER BY e.occurred_at DESC, e.id DESC{page}",
        event_select(false)
    );
    let mut stmt = conn.prepare(&sql)?;
    let params: Vec<&dyn ToSql> = f.params.iter().map(|p| p.as_ref()).collect();
    let rows = stmt.query_map(params.as_slice(), event_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One page of an export: the events `q` matches whose id is above `after`, lowest id first.
/// Keyset paging: each page is one index range, and memory holds one page whatever the
/// history's size ([`crate::store::Store::export_events`]).
pub fn events_after(
    conn: &Connection,
    q: &EventQuery,
    after: i64,
    limit: u32,
) -> Result<Vec<EventRecord>> {
    let (filter, mut params) = event_filter(conn, q)?;
    params.push(Box::new(after));
    let after_clause = format!("e.id > ?{}", params.len());
    params.push(Box::new(limit));
    let sql = format!(
        "{}{} ORDER BY e.id LIMIT ?{}",
        event_select(false),
        if filter.is_empty() {
            format!(" WHERE {after_clause}")
        } else {
            format!("{filter} AND {after_clause}")
        },
        params.len()
    );
    let mut stmt = conn.prepare(&sql)?;
    let params: Vec<&dyn ToSql> = params.iter().map(|p| p.as_ref()).collect();
    let rows = stmt.query_map(params.as_slice(), event_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One page of a request export, as [`events_after`] (bodies are not exported).
pub fn requests_after(
    conn: &Connection,
    q: &RequestQuery,
    after: i64,
    limit: u32,
) -> Result<Vec<RequestRecord>> {
    let mut f = request_filter(q);
    f.add("r.id > ?", vec![Box::new(after)]);
    f.params.push(Box::new(limit));
    let sql = format!(
        "{}{} ORDER BY r.id LIMIT ?{}",
        request_select(false),
        f.sql(),
        f.params.len()
    );
    let mut stmt = conn.prepare(&sql)?;
    let params: Vec<&dyn ToSql> = f.params.iter().map(|p| p.as_ref()).collect();
    let rows = stmt.query_map(params.as_slice(), request_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn request_select(with_body: bool) -> String {
    format!(
        "SELECT r.id, COALESCE(ep.name, r.endpoint_name), r.received_at, r.method, r.path, r.remote_addr,
             r.verdict, r.status_code, r.delivery_id, r.error, r.event_id, r.accepted_at, r.body_size,
             r.headers, r.body_truncated, {}
         FROM requests r LEFT JOIN endpoints ep ON ep.id = r.endpoint_id",
        if with_body { "r.body" } else { "NULL" }
    )
}

fn request_row(r: &Row<'_>) -> rusqlite::Result<RequestRecord> {
    let headers: String = r.get(13)?;
    let body: Option<Vec<u8>> = r.get(15)?;
    Ok(RequestRecord {
        id: r.get(0)?,
        endpoint: r.get(1)?,
        received_at: r.get(2)?,
        method: r.get(3)?,
        path: r.get(4)?,
        remote_addr: r.get(5)?,
        verdict: r.get::<_, String>(6)?.parse().unwrap_or(Verdict::Malformed),
        status_code: r.get(7)?,
        delivery_id: r.get(8)?,
        error: r.get(9)?,
        event_id: r.get(10)?,
        accepted_at: r.get(11)?,
        body_size: r.get::<_, i64>(12)? as u64,
        headers: stored_json(&headers, "request headers"),
        body: body.map(|b| String::from_utf8_lossy(&b).into_owned()),
        body_truncated: r.get(14)?,
    })
}

pub fn request(conn: &Connection, id: i64, with_body: bool) -> Result<RequestRecord> {
    conn.prepare_cached(&format!("{} WHERE r.id = ?1", request_select(with_body)))?
        .query_row([id], request_row)
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no request with id {id}")))
}

/// The WHERE clause and parameters for a request query.
fn request_filter(q: &RequestQuery) -> Filter {
    let mut f = Filter::default();
    if let Some(verdict) = q.verdict {
        f.add("r.verdict = ?", vec![Box::new(verdict.as_str())]);
    }
    if let Some(name) = &q.endpoint {
        f.add(
            "COALESCE(ep.name, r.endpoint_name) = ?",
            vec![Box::new(name.clone())],
        );
    }
    f
}

pub fn requests(conn: &Connection, q: &RequestQuery) -> Result<Vec<RequestRecord>> {
    let mut f = request_filter(q);
    let page = f.page(q.limit, q.offset);
    let sql = format!(
        "{}{} ORDER BY r.id DESC{page}",
        request_select(false),
        f.sql()
    );
    let mut stmt = conn.prepare(&sql)?;
    let params: Vec<&dyn ToSql> = f.params.iter().map(|p| p.as_ref()).collect();
    let rows = stmt.query_map(params.as_slice(), request_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn unmatched(conn: &Connection) -> Result<Vec<UnmatchedCount>> {
    let mut stmt = conn.prepare(
        "SELECT name, hits, first_seen, last_seen FROM unmatched ORDER BY last_seen DESC LIMIT 100",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(UnmatchedCount {
            name: r.get(0)?,
            hits: r.get::<_, i64>(1)? as u64,
            first_seen: r.get(2)?,
            last_seen: r.get(3)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub fn setting(conn: &Connection, key: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
            r.get(0)
        })
        .optional()?)
}

/// One stream the gate follows: a build profile and branch, or a profile of another module.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamRow {
    /// Who sends its events.
    pub provider: Provider,
    pub scope: Scope,
    /// What the stream is keyed by: the profile id, else its name, else empty.
    pub profile_key: String,
    pub branch_key: String,
    pub profile_id: Option<String>,
    pub profile_name: Option<String>,
    pub branch_id: Option<String>,
    pub branch_name: Option<String>,
    /// The latest event of any kind (by the delivery's timestamp).
    pub last_event: Option<EventRecord>,
    /// The latest finished event, if any.
    pub last_finished: Option<EventRecord>,
    /// A build started after the latest end and has not finished (builds only).
    pub running_since: Option<String>,
    /// That start is more than [`RUNNING_LIMIT_HOURS`] old: its end was probably never told,
    /// so it is no longer counted as running ("running for 2 days?").
    pub stale: bool,
    /// The median duration of recent successful runs (builds only).
    pub expected_duration_ms: Option<i64>,
    /// The latest finished outcomes, newest first (at most [`RECENT_OUTCOMES`]).
    pub recent: Vec<RecentOutcome>,
}

/// One dot in a stream's history row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct RecentOutcome {
    pub event_id: i64,
    pub outcome: Outcome,
    pub occurred_at: String,
}

/// How many past outcomes a stream carries.
pub const RECENT_OUTCOMES: u32 = 10;

/// How long a build may go without its end before we stop calling it running: past it, the
/// stream shows the start as stale and keeps its last finished outcome.
pub const RUNNING_LIMIT_HOURS: i64 = 24;

const STREAMS: &str = "
    SELECT scope, profile_key, branch_key, profile_id, profile_name, branch_id, branch_name,
        last_finished_event_id, last_finished_at, last_event_id
    FROM streams";

/// The newest build start of a stream after its latest end (however old: the caller tells
/// running from stale).
const RUNNING_SINCE: &str = "
    SELECT MAX(started_at) FROM builds
    WHERE profile_key = ?1 AND branch_key = ?2 AND finished_at IS NULL
      AND started_at IS NOT NULL AND (?3 IS NULL OR started_at > ?3)";

/// A stream's latest finished outcomes: one range of the `events_by_stream` index.
const RECENT_OUTCOMES_SQL: &str = "
    SELECT id, outcome, occurred_at FROM events
    WHERE scope = ?1 AND profile_key = ?2 AND branch_key = ?3
      AND outcome IN ('succeeded', 'warning', 'failed', 'canceled', 'timed_out')
    ORDER BY occurred_at DESC, id DESC LIMIT ?4";

/// Start and end of a stream's latest successful runs, for the expected duration.
const RECENT_SUCCESSFUL_RUNS: &str = "
    SELECT started_at, finished_at FROM builds
    WHERE profile_key = ?1 AND branch_key = ?2 AND finished_at IS NOT NULL
      AND started_at IS NOT NULL AND outcome IN ('succeeded', 'warning')
    ORDER BY finished_at DESC LIMIT ?3";

/// How many past successful runs the expected duration is the median of.
pub const EXPECTED_DURATION_RUNS: u32 = 10;

pub fn streams(conn: &Connection, now: DateTime<Utc>) -> Result<Vec<StreamRow>> {
    let mut stmt = conn.prepare_cached(STREAMS)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, Option<i64>>(7)?,
                r.get::<_, Option<String>>(8)?,
                r.get::<_, i64>(9)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let horizon = to_text(now - Duration::hours(RUNNING_LIMIT_HOURS));
    let mut running = conn.prepare_cached(RUNNING_SINCE)?;
    let mut recent = conn.prepare_cached(RECENT_OUTCOMES_SQL)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let (scope_name, profile_key, branch_key, profile_id, profile_name, branch_id, branch_name) =
            (row.0, row.1, row.2, row.3, row.4, row.5, row.6);
        let (last_id, last_at, last_event_id) = (row.7, row.8, row.9);
        let scope = Scope::from_module(&scope_name).unwrap_or(Scope::Other);
        let last_finished = last_id.map(|id| event(conn, id, false)).transpose()?;
        let last_event = match &last_finished {
            Some(e) if e.id == last_event_id => Some(e.clone()),
            _ => Some(event(conn, last_event_id, false)?),
        };
        let recent = recent
            .query_map(
                params![scope_name, profile_key, branch_key, RECENT_OUTCOMES],
                |r| {
                    Ok(RecentOutcome {
                        event_id: r.get(0)?,
                        outcome: r.get::<_, String>(1)?.parse().unwrap_or(Outcome::Info),
                        occurred_at: r.get(2)?,
                    })
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        let (running_since, expected_duration_ms) = if scope == Scope::Build {
            (
                running.query_row(params![profile_key, branch_key, last_at], |r| {
                    r.get::<_, Option<String>>(0)
                })?,
                expected_duration(conn, &profile_key, &branch_key)?,
            )
        } else {
            (None, None)
        };
        out.push(StreamRow {
            provider: last_event.as_ref().map(|e| e.provider).unwrap_or_default(),
            scope,
            profile_key,
            branch_key,
            profile_id,
            profile_name,
            branch_id,
            branch_name,
            last_event,
            last_finished,
            stale: running_since
                .as_ref()
                .is_some_and(|since| *since <= horizon),
            running_since,
            expected_duration_ms,
            recent,
        });
    }
    Ok(out)
}

/// The median duration of the stream's latest successful runs, if it has any.
fn expected_duration(
    conn: &Connection,
    profile_key: &str,
    branch_key: &str,
) -> Result<Option<i64>> {
    let mut stmt = conn.prepare_cached(RECENT_SUCCESSFUL_RUNS)?;
    let mut durations: Vec<i64> = stmt
        .query_map(
            params![profile_key, branch_key, EXPECTED_DURATION_RUNS],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
        )?
        .filter_map(|row| {
            let (start, end) = row.ok()?;
            let ms = (from_text(&end)? - from_text(&start)?).num_milliseconds();
            (ms >= 0).then_some(ms)
        })
        .collect();
    if durations.is_empty() {
        return Ok(None);
    }
    durations.sort_unstable();
    Ok(Some(durations[durations.len() / 2]))
}

/// One finished build run, for the duration and pass-rate charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[ts(export)]
pub struct BuildRun {
    pub task_id: String,
    pub branch_key: String,
    pub outcome: Outcome,
    pub started_at: Option<String>,
    pub finished_at: String,
    pub duration_ms: Option<i64>,
}

/// The latest finished runs of a build profile (one branch, or all), newest first.
pub fn build_runs(
    conn: &Connection,
    profile_key: &str,
    branch_key: Option<&str>,
    limit: u32,
) -> Result<Vec<BuildRun>> {
    let mut stmt = conn.prepare_cached(
        "SELECT task_id, branch_key, outcome, started_at, finished_at FROM builds
         WHERE profile_key = ?1 AND (?2 IS NULL OR branch_key = ?2) AND finished_at IS NOT NULL
         ORDER BY finished_at DESC LIMIT ?3",
    )?;
    let rows = stmt.query_map(params![profile_key, branch_key, limit], |r| {
        let started_at: Option<String> = r.get(3)?;
        let finished_at: String = r.get(4)?;
        let duration_ms = started_at
            .as_deref()
            .and_then(|s| Some(from_text(&finished_at)? - from_text(s)?))
            .map(|d| d.num_milliseconds())
            .filter(|ms| *ms >= 0);
        Ok(BuildRun {
            task_id: r.get(0)?,
            branch_key: r.get(1)?,
            outcome: r
                .get::<_, Option<String>>(2)?
                .and_then(|o| o.parse().ok())
                .unwrap_or(Outcome::Info),
            started_at,
            finished_at,
            duration_ms,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many events match a query, as far as counting went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventCount {
    pub total: u64,
    /// Counting stopped at `total`: at least that many match.
    pub capped: bool,
}

/// Filtered counts stop here (or at the end of the page asked for, if further): a count of
/// every match of a rare filter over a million events would scan them all for one number,
/// and "2,000+" tells a person as much (a common word at a million events: 22 ms counting to
/// 10,000, 5 ms to 2,000).
pub const COUNT_CAP: u64 = 2_000;

const TOTAL_EVENTS: &str =
    "SELECT COALESCE((SELECT n FROM tallies WHERE kind = 'events' AND endpoint_id = 0), 0)";

/// How many events match `q`: exact from the tally when nothing filters, else counted up to
/// [`COUNT_CAP`] or the end of the page asked for.
pub fn count_events(conn: &Connection, q: &EventQuery) -> Result<EventCount> {
    let (sql, params) = event_filter(conn, q)?;
    if sql.is_empty() {
        let total: i64 = conn
            .prepare_cached(TOTAL_EVENTS)?
            .query_row([], |r| r.get(0))?;
        return Ok(EventCount {
            total: total.max(0) as u64,
            capped: false,
        });
    }
    let page_end = u64::from(q.offset.unwrap_or(0))
        + u64::from(q.limit.unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT));
    let cap = COUNT_CAP.max(page_end);
    let mut stmt = conn.prepare(&format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM events e LEFT JOIN endpoints ep ON ep.id = e.endpoint_id{sql} LIMIT {})",
        cap + 1
    ))?;
    let params: Vec<&dyn ToSql> = params.iter().map(|p| p.as_ref()).collect();
    let n = stmt
        .query_row(params.as_slice(), |r| r.get::<_, i64>(0))?
        .max(0) as u64;
    Ok(EventCount {
        total: n.min(cap),
        capped: n > cap,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(conn: &Connection, sql: &str, params: &[&dyn ToSql]) -> String {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let rows = stmt
            .query_map(params, |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        rows.join("; ")
    }

    /// The queries that must stay fast at a million events use the indexes made for them
    /// (a dropped or reworded index would silently turn them into scans).
    #[test]
    fn large_history_queries_use_their_indexes() {
        let mut conn = Connection::open_in_memory().expect("open");
        super::super::schema::migrate(&mut conn).expect("schema");
        let recent = plan(&conn, RECENT_OUTCOMES_SQL, &[&"build", &"p", &"b", &10]);
        assert!(
            recent.contains("COVERING INDEX events_by_stream"),
            "{recent}"
        );
        let runs = plan(&conn, RECENT_SUCCESSFUL_RUNS, &[&"p", &"b", &10]);
        assert!(runs.contains("COVERING INDEX builds_by_stream"), "{runs}");
        let (filter, params) = event_filter(
            &conn,
            &EventQuery {
                profile: Some("App".into()),
                outcome: Some(Outcome::Failed),
                ..Default::default()
            },
        )
        .expect("filter");
        let params: Vec<&dyn ToSql> = params.iter().map(|p| p.as_ref()).collect();
        let page = plan(
            &conn,
            &format!(
                "SELECT e.id FROM events e LEFT JOIN endpoints ep ON ep.id = e.endpoint_id{filter} ORDER BY e.occurred_at DESC"
            ),
            &params,
        );
        assert!(page.contains("events_by_profile"), "{page}");
    }
}
