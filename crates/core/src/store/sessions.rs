//! Browser sessions of the web dashboard, opened with an access token (see
//! [`crate::serve`]): kept by the SHA-256 of their id only, ended by sign-out, by expiry, or
//! by revoking their token.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::tokens::{self, TokenInfo};
use super::writer::Tx;
use crate::Result;
use crate::serve::token;
use crate::time::to_text;

const INSERT_SESSION: &str = "
    INSERT INTO sessions (hash, token_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)";

/// The token behind a live session: joined, so a revoked token's sessions are gone at once
/// even before their rows are.
const SESSION_TOKEN: &str = "
    SELECT t.id, t.name, t.role, t.created_at, t.last_used_at
    FROM sessions s JOIN tokens t ON t.id = s.token_id
    WHERE s.hash = ?1 AND s.expires_at > ?2";

/// Opens a session for `token_id` whose id is `secret`; expired sessions are swept out.
pub fn open(
    tx: &mut Tx<'_>,
    token_id: i64,
    secret: &str,
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
) -> Result<()> {
    tx.conn
        .prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
        .execute([to_text(now)])?;
    tx.conn.prepare_cached(INSERT_SESSION)?.execute(params![
        token::hash(secret).as_slice(),
        token_id,
        to_text(now),
        to_text(expires)
    ])?;
    Ok(())
}

/// The token of the live session whose id is `secret`.
pub fn find(conn: &Connection, secret: &str, now: DateTime<Utc>) -> Result<Option<TokenInfo>> {
    let row = conn
        .prepare_cached(SESSION_TOKEN)?
        .query_row(
            params![token::hash(secret).as_slice(), to_text(now)],
            tokens::token_row,
        )
        .optional()?;
    row.map(tokens::info).transpose()
}

/// Ends the session whose id is `secret` (nothing if there is none).
pub fn close(tx: &mut Tx<'_>, secret: &str) -> Result<()> {
    tx.conn
        .prepare_cached("DELETE FROM sessions WHERE hash = ?1")?
        .execute([token::hash(secret).as_slice()])?;
    Ok(())
}

/// Ends every session opened with `token_id` (the token is being revoked).
pub fn close_all(tx: &mut Tx<'_>, token_id: i64) -> Result<()> {
    tx.conn
        .prepare_cached("DELETE FROM sessions WHERE token_id = ?1")?
        .execute([token_id])?;
    Ok(())
}
