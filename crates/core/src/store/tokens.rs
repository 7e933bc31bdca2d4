//! The inbox's access tokens: stored by their SHA-256 only (see [`crate::serve::token`]).

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::writer::Tx;
use crate::serve::token::{self, Role};
use crate::time::to_text;
use crate::{Error, Result};

/// A token as listed: never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(export)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

const SELECT_TOKEN: &str = "SELECT id, name, role, created_at, last_used_at FROM tokens";

pub(super) fn token_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<(i64, String, String, String, Option<String>)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

pub(super) fn info(row: (i64, String, String, String, Option<String>)) -> Result<TokenInfo> {
    let (id, name, role, created_at, last_used_at) = row;
    Ok(TokenInfo {
        id,
        name,
        role: Role::parse(&role)?,
        created_at,
        last_used_at,
    })
}

/// Stores the hash of `secret` under `name`.
pub fn add(
    tx: &mut Tx<'_>,
    name: &str,
    role: Role,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<TokenInfo> {
    token::validate_name(name)?;
    let taken: Option<i64> = tx
        .conn
        .prepare_cached("SELECT id FROM tokens WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?;
    if taken.is_some() {
        return Err(Error::Conflict(format!(
            "a token named `{name}` already exists"
        )));
    }
    tx.conn
        .prepare_cached(
            "INSERT INTO tokens (name, role, hash, created_at) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            name,
            role.as_str(),
            token::hash(secret).as_slice(),
            to_text(now)
        ])?;
    by_id(tx.conn, tx.conn.last_insert_rowid())
}

/// The id of the token named `name`.
pub fn id_by_name(conn: &Connection, name: &str) -> Result<i64> {
    conn.prepare_cached("SELECT id FROM tokens WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::NotFound(format!("no token named `{name}`")))
}

/// Deletes the token with `id`. Its browser sessions are closed by the caller first
/// ([`super::Store::revoke_token`]); its open streams end at their next check.
pub fn delete(tx: &mut Tx<'_>, id: i64) -> Result<()> {
    tx.conn
        .prepare_cached("DELETE FROM tokens WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// Notes when a token was last used.
pub fn touch(tx: &mut Tx<'_>, id: i64, now: DateTime<Utc>) -> Result<()> {
    tx.conn
        .prepare_cached("UPDATE tokens SET last_used_at = ?1 WHERE id = ?2")?
        .execute(params![to_text(now), id])?;
    Ok(())
}

pub fn list(conn: &Connection) -> Result<Vec<TokenInfo>> {
    let rows = conn
        .prepare_cached(&format!("{SELECT_TOKEN} ORDER BY name"))?
        .query_map([], token_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    rows.into_iter().map(info).collect()
}

/// The token whose hash matches `secret`'s, if any.
pub fn find(conn: &Connection, secret: &str) -> Result<Option<TokenInfo>> {
    let row = conn
        .prepare_cached(&format!("{SELECT_TOKEN} WHERE hash = ?1"))?
        .query_row([token::hash(secret).as_slice()], token_row)
        .optional()?;
    row.map(info).transpose()
}

/// Whether any token exists: the API is off until one does.
pub fn any(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM tokens)")?
        .query_row([], |r| r.get(0))?)
}

fn by_id(conn: &Connection, id: i64) -> Result<TokenInfo> {
    let row = conn
        .prepare_cached(&format!("{SELECT_TOKEN} WHERE id = ?1"))?
        .query_row([id], token_row)?;
    info(row)
}
