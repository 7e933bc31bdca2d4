//! Events by the git commit they are about: what a commit's checks are read from
//! (crate::rules::checks). A commit is found by its SHA (`events.commit_sha`); Appcircle's
//! events name Appcircle's own commit GUID instead, which the account's read ties to a SHA
//! (`appcircle_commits`), and a distribution or publish is tied to its commit only through
//! the build it names: never guessed from its time or profile.

use rusqlite::{Connection, OptionalExtension, params};

use super::read::{event_row, event_select};
use super::records::EventRecord;
use super::writer::Tx;
use crate::Result;
use crate::model::{Provider, Subject};

/// Fewest hex digits a commit is asked for by (as `git` abbreviates them).
pub const MIN_PREFIX: usize = 7;

/// Most candidates an ambiguous prefix lists.
pub const MAX_CANDIDATES: usize = 10;

/// Newest events with a commit read when listing recent commits: bounds the read whatever
/// the filter (a branch no commit is on reads this many rows, not the whole history).
pub const RECENT_SCAN: u32 = 5_000;

/// An Appcircle commit's SHA, once known. A commit's hash never changes.
const LEARN_APPCIRCLE_COMMIT: &str =
    "INSERT OR IGNORE INTO appcircle_commits (commit_id, sha) VALUES (?1, ?2)";

/// Keeps the SHA of an Appcircle commit GUID when an event names both (the account's read
/// of a build): a webhook naming only the GUID is then found by the SHA too.
pub(super) fn learn(tx: &mut Tx<'_>, provider: Provider, s: &Subject) -> Result<()> {
    if let (Provider::Appcircle, Some(guid), Some(sha)) = (provider, &s.commit_id, &s.commit_sha) {
        tx.conn
            .prepare_cached(LEARN_APPCIRCLE_COMMIT)?
            .execute(params![guid, sha])?;
    }
    Ok(())
}

/// The least SHA in [?1, ?2): one seek of events_by_commit.
const NEXT_EVENT_SHA: &str =
    "SELECT min(commit_sha) FROM events WHERE commit_sha >= ?1 AND commit_sha < ?2";
/// The same in what the Appcircle account taught (appcircle_commits_by_sha).
const NEXT_APPCIRCLE_SHA: &str =
    "SELECT min(sha) FROM appcircle_commits WHERE sha >= ?1 AND sha < ?2";

/// The commits whose SHA starts with `prefix` (lowercase hex), at most [`MAX_CANDIDATES`]
/// and in order. One index seek per candidate: a commit with a thousand events costs what
/// one with a single event does.
pub fn matching(conn: &Connection, prefix: &str) -> Result<Vec<String>> {
    // Every hex digit sorts before `g`: [prefix, prefix + "g") is exactly the SHAs that start
    // with it, a range a BINARY index serves (LIKE would not: it ignores case).
    let end = format!("{prefix}g");
    let mut found: Vec<String> = Vec::new();
    for sql in [NEXT_EVENT_SHA, NEXT_APPCIRCLE_SHA] {
        let mut stmt = conn.prepare_cached(sql)?;
        let mut from = prefix.to_owned();
        while found.len() <= MAX_CANDIDATES {
            let next: Option<String> = stmt
                .query_row(params![from, end], |r| r.get(0))
                .optional()?
                .flatten();
            let Some(sha) = next else { break };
            // The next seek starts just after this SHA.
            from = format!("{sha}\u{1}");
            if !found.contains(&sha) {
                found.push(sha);
            }
        }
    }
    found.sort();
    found.truncate(MAX_CANDIDATES + 1);
    Ok(found)
}

/// The ids of a commit's events: ?1 its SHA. Three index reads: its SHA
/// (events_by_commit), the Appcircle GUIDs taught for it (appcircle_commits_by_sha, then
/// events_by_appcircle_commit), and the distributions and publishes naming one of those
/// builds (events_by_appcircle_build).
const COMMIT_EVENT_IDS: &str = "
    WITH direct(id, build_id) AS (
        SELECT id, CASE WHEN provider = 'appcircle' AND scope = 'build' THEN build_id END
            FROM events WHERE commit_sha = ?1
        UNION
        SELECT id, CASE WHEN scope = 'build' THEN build_id END
            FROM events
            WHERE provider = 'appcircle'
              AND commit_id IN (SELECT commit_id FROM appcircle_commits WHERE sha = ?1)
    )
    SELECT id FROM direct
    UNION
    SELECT id FROM events
        WHERE provider = 'appcircle' AND scope <> 'build'
          AND build_id IN (SELECT build_id FROM direct WHERE build_id IS NOT NULL)";

/// The SHA of Appcircle build `?1` (a build id), as its own event or the commit GUID it
/// names tells it (events_by_appcircle_build).
const SHA_OF_APPCIRCLE_BUILD: &str = "
    SELECT COALESCE(e.commit_sha, ac.sha) AS sha
    FROM events e LEFT JOIN appcircle_commits ac ON ac.commit_id = e.commit_id
    WHERE e.provider = 'appcircle' AND e.build_id = ?1 AND e.scope = 'build'
      AND COALESCE(e.commit_sha, ac.sha) IS NOT NULL
    LIMIT 1";

const SHA_OF_APPCIRCLE_COMMIT: &str = "SELECT sha FROM appcircle_commits WHERE commit_id = ?1";

/// The commit event `e` is of, as [`events_of`] would find it: its SHA, its Appcircle
/// commit's, or (a distribution or publish) its build's.
pub fn sha_of(conn: &Connection, e: &EventRecord) -> Result<Option<String>> {
    if e.commit_sha.is_some() || e.provider != Provider::Appcircle {
        return Ok(e.commit_sha.clone());
    }
    if let Some(guid) = &e.commit_id {
        let sha: Option<String> = conn
            .prepare_cached(SHA_OF_APPCIRCLE_COMMIT)?
            .query_row([guid], |r| r.get(0))
            .optional()?;
        if sha.is_some() {
            return Ok(sha);
        }
    }
    match &e.build_id {
        Some(build) if e.scope != crate::model::Scope::Build => Ok(conn
            .prepare_cached(SHA_OF_APPCIRCLE_BUILD)?
            .query_row([build], |r| r.get(0))
            .optional()?),
        _ => Ok(None),
    }
}

/// Scopes a commit has checks in: the gated ones (crate::model::is_gated). A run's jobs
/// and checks (`other`) are details of its run, and signing identities are of no commit.
const CHECK_SCOPES: &str =
    "('build', 'testing_distribution', 'publish_to_stores', 'enterprise_app_store')";

/// The events of commit `sha` in gated scopes, oldest first (by their own time).
pub fn events_of(conn: &Connection, sha: &str) -> Result<Vec<EventRecord>> {
    let sql = format!(
        "{} WHERE e.id IN ({COMMIT_EVENT_IDS}) AND e.scope IN {CHECK_SCOPES}
         ORDER BY e.occurred_at, e.id",
        event_select(false)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([sha], event_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The newest events with a commit, newest first (events_by_commit_time).
const RECENT_COMMIT_EVENTS: &str = "
    SELECT commit_sha, branch_name, occurred_at FROM events
    WHERE commit_sha IS NOT NULL
    ORDER BY occurred_at DESC, id DESC
    LIMIT ?1";

/// A commit as the newest events name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentCommit {
    pub sha: String,
    /// Its newest event's time.
    pub last_at: String,
}

/// The `limit` newest commits (by their newest event), on `branch` if given: a commit is on
/// a branch when one of its events names it.
pub fn recent(conn: &Connection, branch: Option<&str>, limit: usize) -> Result<Vec<RecentCommit>> {
    let mut stmt = conn.prepare_cached(RECENT_COMMIT_EVENTS)?;
    let mut rows = stmt.query([RECENT_SCAN])?;
    let mut out: Vec<RecentCommit> = Vec::new();
    while let Some(row) = rows.next()? {
        let sha: String = row.get(0)?;
        let on: Option<String> = row.get(1)?;
        if branch.is_some_and(|b| on.as_deref() != Some(b)) || out.iter().any(|c| c.sha == sha) {
            continue;
        }
        out.push(RecentCommit {
            sha,
            last_at: row.get(2)?,
        });
        if out.len() == limit {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(conn: &Connection, sql: &str) -> String {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let n = stmt.parameter_count();
        let rows = stmt
            .query_map(
                rusqlite::params_from_iter(std::iter::repeat_n("ab", n)),
                |r| r.get::<_, String>(3),
            )
            .expect("plan")
            .collect::<Result<Vec<_>, _>>()
            .expect("rows");
        rows.join("; ")
    }

    /// A commit's reads stay index reads at a million events: a reworded query or a
    /// dropped index would silently turn them into scans of the history.
    #[test]
    fn a_commits_reads_use_their_indexes() {
        let mut conn = Connection::open_in_memory().expect("open");
        super::super::schema::migrate(&mut conn).expect("schema");
        let ids = plan(&conn, COMMIT_EVENT_IDS);
        for index in [
            "events_by_commit",
            "appcircle_commits_by_sha",
            "events_by_appcircle_commit",
            "events_by_appcircle_build",
        ] {
            assert!(ids.contains(index), "{index}: {ids}");
        }
        assert!(!ids.contains("SCAN events"), "{ids}");
        let next = plan(&conn, NEXT_EVENT_SHA);
        assert!(next.contains("events_by_commit"), "{next}");
        let next = plan(&conn, NEXT_APPCIRCLE_SHA);
        assert!(next.contains("appcircle_commits_by_sha"), "{next}");
        let build = plan(&conn, SHA_OF_APPCIRCLE_BUILD);
        assert!(build.contains("events_by_appcircle_build"), "{build}");
        let recent = plan(&conn, RECENT_COMMIT_EVENTS);
        assert!(recent.contains("events_by_commit_time"), "{recent}");
    }
}
