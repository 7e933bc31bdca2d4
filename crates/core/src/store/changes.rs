//! The change log: every committed change the inbox's subscribers follow gets the next
//! `seq`, in the transaction that commits it. A subscriber resumes after the last `seq` it
//! saw; what it missed is read back from here and the rows the changes point at.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use serde::Serialize;

use super::{Notice, read};
use crate::Result;
use crate::time::to_text;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Event,
    Request,
    Endpoints,
    Settings,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Event => "event",
            ChangeKind::Request => "request",
            ChangeKind::Endpoints => "endpoints",
            ChangeKind::Settings => "settings",
        }
    }

    fn parse(s: &str) -> Option<ChangeKind> {
        Some(match s {
            "event" => ChangeKind::Event,
            "request" => ChangeKind::Request,
            "endpoints" => ChangeKind::Endpoints,
            "settings" => ChangeKind::Settings,
            _ => return None,
        })
    }
}

/// Appends a change; returns its `seq`.
pub fn append(
    conn: &Connection,
    kind: ChangeKind,
    subject: Option<i64>,
    now: DateTime<Utc>,
) -> Result<i64> {
    conn.prepare_cached("INSERT INTO changes (kind, subject_id, at) VALUES (?1, ?2, ?3)")?
        .execute(params![kind.as_str(), subject, to_text(now)])?;
    Ok(conn.last_insert_rowid())
}

/// Where the log stands: the oldest `seq` still kept and the newest handed out (0 when none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogBounds {
    pub oldest: Option<i64>,
    pub newest: i64,
    /// This log's identity: another id at the same URL is another log (a replaced database).
    pub log: String,
}

const BOUNDS: &str = "
    SELECT (SELECT MIN(seq) FROM changes),
           COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0),
           (SELECT id FROM change_log)";

pub fn bounds(conn: &Connection) -> Result<LogBounds> {
    Ok(conn.prepare_cached(BOUNDS)?.query_row([], |r| {
        Ok(LogBounds {
            oldest: r.get(0)?,
            newest: r.get(1)?,
            log: r.get(2)?,
        })
    })?)
}

/// Up to `limit` changes after `after`, oldest first, each as the notice it was when it
/// happened (rows read as they are now; events with their payload, for mirrors). A change whose row is gone (a refused request
/// expired by retention) is left out.
pub fn after(conn: &Connection, after: i64, limit: usize) -> Result<Vec<Notice>> {
    let rows: Vec<(i64, String, Option<i64>)> = conn
        .prepare_cached(
            "SELECT seq, kind, subject_id FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?
        .query_map(params![after, limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut notices = Vec::with_capacity(rows.len());
    for (seq, kind, subject) in rows {
        let notice = match (ChangeKind::parse(&kind), subject) {
            (Some(ChangeKind::Event), Some(id)) => match read::event(conn, id, true) {
                Ok(event) => Notice::Event {
                    seq,
                    event: Arc::new(event),
                    catch_up: false,
                },
                Err(crate::Error::NotFound(_)) => continue,
                Err(e) => return Err(e),
            },
            (Some(ChangeKind::Request), Some(id)) => match read::request(conn, id, false) {
                Ok(request) => Notice::Request {
                    seq,
                    request: Arc::new(request),
                },
                Err(crate::Error::NotFound(_)) => continue,
                Err(e) => return Err(e),
            },
            (Some(ChangeKind::Endpoints), _) => Notice::Endpoints { seq },
            (Some(ChangeKind::Settings), _) => Notice::Settings { seq },
            _ => {
                tracing::warn!("change {seq} has an unknown kind `{kind}`; skipped");
                continue;
            }
        };
        notices.push(notice);
    }
    Ok(notices)
}

/// Deletes changes made before `before` (retention); the newest `seq` stays reserved.
pub fn prune(conn: &Connection, before: DateTime<Utc>) -> Result<u64> {
    Ok(conn
        .prepare_cached("DELETE FROM changes WHERE at < ?1")?
        .execute([to_text(before)])? as u64)
}
