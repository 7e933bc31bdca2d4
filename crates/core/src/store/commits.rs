//! Events by the git commit they are about: what a commit's checks are read from
//! (crate::rules::checks). A commit is found by its SHA (`events.commit_sha`). Appcircle's
//! events name Appcircle's own commit GUID instead: the account's read learns the GUID's
//! SHA (`appcircle_commits`), and an Appcircle event is given it when it is stored, or when
//! it is learnt, by its build. A distribution or publish is tied to its commit only through
//! the build it names: never guessed from its time or profile.

use rusqlite::{Connection, OptionalExtension, params};

use super::read::{event_row, event_select};
use super::records::EventRecord;
use super::writer::Tx;
use crate::Result;
use crate::model::{Provider, Scope, Subject, names_profile};

/// Fewest hex digits a commit is asked for by (as `git` abbreviates them).
pub const MIN_PREFIX: usize = 7;

/// Most candidates an ambiguous prefix lists.
pub const MAX_CANDIDATES: usize = 10;

/// The newest events read when listing recent commits: the list is of what happened
/// lately, and bounded whatever the history's size (no index of its own for ingest to pay).
pub const RECENT_SCAN: u32 = 20_000;

const SHA_OF_APPCIRCLE_COMMIT: &str = "SELECT sha FROM appcircle_commits WHERE commit_id = ?1";

/// The SHA the account's read learnt for Appcircle's commit `guid` (a primary-key read).
fn appcircle_sha(conn: &Connection, guid: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached(SHA_OF_APPCIRCLE_COMMIT)?
        .query_row([guid], |r| r.get(0))
        .optional()?)
}

/// The SHA an event is stored with: its own, or, for Appcircle's, its commit GUID's once
/// the account's read learnt it (a read; no write).
pub(super) fn sha_to_store(tx: &Tx<'_>, provider: Provider, s: &Subject) -> Result<Option<String>> {
    match (&s.commit_sha, provider, &s.commit_id) {
        (Some(sha), _, _) => Ok(Some(sha.clone())),
        (None, Provider::Appcircle, Some(guid)) => appcircle_sha(tx.conn, guid),
        _ => Ok(None),
    }
}

/// An Appcircle commit's SHA, once known. A commit's hash never changes.
const LEARN_APPCIRCLE_COMMIT: &str =
    "INSERT OR IGNORE INTO appcircle_commits (commit_id, sha) VALUES (?1, ?2)";

/// The build's events stored before its SHA was known (a webhook ahead of the account's
/// read): ?1 the SHA, ?2 the build id (events_by_appcircle_build).
const LINK_APPCIRCLE_BUILD: &str = "
    UPDATE events SET commit_sha = ?1
    WHERE provider = 'appcircle' AND build_id = ?2 AND commit_sha IS NULL
    RETURNING id";

/// Keeps the SHA of an Appcircle commit GUID when an event names both (the account's read
/// of a build), and gives it to that build's events stored before; returns those events
/// (the account's read announces them again, so that a mirror's copies get the SHA too).
pub(super) fn learn(tx: &mut Tx<'_>, provider: Provider, s: &Subject) -> Result<Vec<i64>> {
    let (Provider::Appcircle, Some(guid), Some(sha)) = (provider, &s.commit_id, &s.commit_sha)
    else {
        return Ok(Vec::new());
    };
    let new = tx
        .conn
        .prepare_cached(LEARN_APPCIRCLE_COMMIT)?
        .execute(params![guid, sha])?;
    let (1, Some(build)) = (new, &s.build_id) else {
        return Ok(Vec::new());
    };
    let linked = tx
        .conn
        .prepare_cached(LINK_APPCIRCLE_BUILD)?
        .query_map(params![sha, build], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(linked)
}

/// The event a webhook told that the account's read found again: ?1 the SHA, ?2 the event,
/// ?3 the commit GUID both name (never another commit's event).
const LINK_TOLD: &str = "
    UPDATE events SET commit_sha = ?1
    WHERE id = ?2 AND provider = 'appcircle' AND commit_id = ?3 AND commit_sha IS NULL";

/// Gives the event a webhook told (`told`) the SHA the account's read knows for the same
/// commit: a build's start names no build id, so only this match finds it. Whether it did.
pub(super) fn link_told(tx: &mut Tx<'_>, told: i64, s: &Subject) -> Result<bool> {
    let (Some(guid), Some(sha)) = (&s.commit_id, &s.commit_sha) else {
        return Ok(false);
    };
    let changed = tx
        .conn
        .prepare_cached(LINK_TOLD)?
        .execute(params![sha, told, guid])?;
    Ok(changed == 1)
}

/// A mirror's copy of an event the inbox gave a SHA after copying it (announced again):
/// ?1 the SHA, ?2 the inbox, ?3 the event's id there (events_by_origin).
const LINK_COPY: &str = "
    UPDATE events SET commit_sha = ?1
    WHERE origin = ?2 AND origin_id = ?3 AND commit_sha IS NULL";

pub(super) fn link_copy(tx: &mut Tx<'_>, inbox: &str, e: &EventRecord) -> Result<()> {
    if let Some(sha) = e.commit_sha.as_deref().and_then(crate::model::git_sha) {
        tx.conn
            .prepare_cached(LINK_COPY)?
            .execute(params![sha, inbox, e.id])?;
    }
    Ok(())
}

/// The least SHA in [?1, ?2): one seek of events_by_commit (whose condition is repeated
/// so that SQLite may use it).
const NEXT_SHA: &str = "
    SELECT min(commit_sha) FROM events
    WHERE commit_sha >= ?1 AND commit_sha < ?2 AND scope <> 'other'";

/// The commits whose SHA starts with `prefix` (lowercase hex), at most one more than
/// [`MAX_CANDIDATES`], in order. One index seek per candidate: a commit with a thousand
/// events costs what one with a single event does.
pub fn matching(conn: &Connection, prefix: &str) -> Result<Vec<String>> {
    // Every hex digit sorts before `g`: [prefix, prefix + "g") is exactly the SHAs that start
    // with it, a range a BINARY index serves (LIKE would not: it ignores case).
    let end = format!("{prefix}g");
    let mut stmt = conn.prepare_cached(NEXT_SHA)?;
    let mut found: Vec<String> = Vec::new();
    let mut from = prefix.to_owned();
    while found.len() <= MAX_CANDIDATES {
        let next: Option<String> = stmt
            .query_row(params![from, end], |r| r.get(0))
            .optional()?
            .flatten();
        let Some(sha) = next else { break };
        // The next seek starts just after this SHA.
        from = format!("{sha}\u{1}");
        found.push(sha);
    }
    Ok(found)
}

/// The ids of a commit's events in gated scopes: ?1 its SHA. Its events
/// (events_by_commit), then the distributions and publishes naming one of its Appcircle
/// builds (events_by_appcircle_build). A run's jobs and checks (`other`) are details of its
/// run, and signing identities are of no commit.
const COMMIT_EVENT_IDS: &str = "
    WITH direct(id, scope, build_id) AS (
        SELECT id, scope, CASE WHEN provider = 'appcircle' AND scope = 'build' THEN build_id END
            FROM events WHERE commit_sha = ?1 AND scope <> 'other'
    )
    SELECT id FROM direct
        WHERE scope IN ('build', 'testing_distribution', 'publish_to_stores',
                        'enterprise_app_store')
    UNION
    SELECT id FROM events
        WHERE provider = 'appcircle'
          -- `+`: by the build, never by a scan of the scope's index.
          AND +scope IN ('testing_distribution', 'publish_to_stores', 'enterprise_app_store')
          AND build_id IN (SELECT build_id FROM direct WHERE build_id IS NOT NULL)";

/// The events of commit `sha` in gated scopes, oldest first (by their own time): each
/// looked up by its id, never by a scan of its scope.
pub fn events_of(conn: &Connection, sha: &str) -> Result<Vec<EventRecord>> {
    let sql = format!(
        "{} WHERE e.id IN ({COMMIT_EVENT_IDS}) ORDER BY e.occurred_at, e.id",
        event_select(false)
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([sha], event_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// The SHA of Appcircle build `?1` (a build id), as one of its build events has it
/// (events_by_appcircle_build).
const SHA_OF_APPCIRCLE_BUILD: &str = "
    SELECT commit_sha FROM events
    WHERE provider = 'appcircle' AND build_id = ?1 AND scope = 'build'
      AND commit_sha IS NOT NULL
    LIMIT 1";

/// The commit event `e` is of, as [`events_of`] would find it: its SHA, its Appcircle
/// commit's, or (a distribution or publish) its build's.
pub fn sha_of(conn: &Connection, e: &EventRecord) -> Result<Option<String>> {
    if e.commit_sha.is_some() || e.provider != Provider::Appcircle {
        return Ok(e.commit_sha.clone());
    }
    if let Some(guid) = &e.commit_id
        && let Some(sha) = appcircle_sha(conn, guid)?
    {
        return Ok(Some(sha));
    }
    match &e.build_id {
        Some(build) if e.scope != Scope::Build => Ok(conn
            .prepare_cached(SHA_OF_APPCIRCLE_BUILD)?
            .query_row([build], |r| r.get(0))
            .optional()?),
        _ => Ok(None),
    }
}

/// The newest events, newest first, of which those with a commit are kept
/// (events_by_time, [`RECENT_SCAN`] rows at most).
const RECENT_COMMIT_EVENTS: &str = "
    SELECT commit_sha, branch_name, profile_name FROM (
        SELECT commit_sha, branch_name, profile_name, scope FROM events
        ORDER BY occurred_at DESC, id DESC
        LIMIT ?1
    )
    WHERE commit_sha IS NOT NULL AND scope IN ('build', 'testing_distribution',
        'publish_to_stores', 'enterprise_app_store')";

/// Which recent commits: on a branch, of a repository or profile.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommitFilter<'a> {
    /// A branch name, exactly.
    pub branch: Option<&'a str>,
    /// A GitHub or GitLab repository (`acme/app`, any of its workflows) or an Appcircle
    /// profile's name, in any case.
    pub repository: Option<&'a str>,
}

impl CommitFilter<'_> {
    fn matches(&self, branch: Option<&str>, profile: Option<&str>) -> bool {
        let on_branch = self.branch.is_none_or(|b| branch == Some(b));
        let of_repository = self
            .repository
            .is_none_or(|r| profile.is_some_and(|p| names_profile(p, r)));
        on_branch && of_repository
    }
}

/// The SHAs of the `limit` newest commits (by their newest event) among the newest
/// [`RECENT_SCAN`] events that `filter` keeps: a commit is on a branch, or of a repository,
/// when one of its events says so.
pub fn recent(conn: &Connection, filter: CommitFilter<'_>, limit: usize) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(RECENT_COMMIT_EVENTS)?;
    let mut rows = stmt.query([RECENT_SCAN])?;
    let mut out: Vec<String> = Vec::new();
    while let Some(row) = rows.next()? {
        let sha: String = row.get(0)?;
        let (branch, profile): (Option<String>, Option<String>) = (row.get(1)?, row.get(2)?);
        if !filter.matches(branch.as_deref(), profile.as_deref()) || out.contains(&sha) {
            continue;
        }
        out.push(sha);
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
        for index in ["events_by_commit", "events_by_appcircle_build"] {
            assert!(ids.contains(index), "{index}: {ids}");
        }
        assert!(!ids.contains("SCAN events"), "{ids}");
        // The events themselves by their ids: not by a scope's index (a scan of it).
        let events = plan(
            &conn,
            &format!("{} WHERE e.id IN ({COMMIT_EVENT_IDS})", event_select(false)),
        );
        assert!(
            events.contains("SEARCH e USING INTEGER PRIMARY KEY"),
            "{events}"
        );
        assert!(!events.contains("events_by_scope"), "{events}");
        let next = plan(&conn, NEXT_SHA);
        assert!(next.contains("events_by_commit"), "{next}");
        let link = plan(&conn, LINK_APPCIRCLE_BUILD);
        assert!(link.contains("events_by_appcircle_build"), "{link}");
        let build = plan(&conn, SHA_OF_APPCIRCLE_BUILD);
        assert!(build.contains("events_by_appcircle_build"), "{build}");
        let recent = plan(&conn, RECENT_COMMIT_EVENTS);
        assert!(recent.contains("events_by_time"), "{recent}");
    }
}
