//! Endpoints and their secrets, cached in memory for the listener: every request needs them,
//! and a round trip to the blocking pool for two queries cost more than verifying the
//! signature. The cache is checked against a generation counter that triggers bump on any
//! change to `endpoints` or `secrets`, whoever made it (this process, or the CLI from
//! another): one single-row read per request, and a change applies to the next request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use rusqlite::Connection;

use super::read;
use super::records::Secret;
use crate::Result;
use crate::model::Provider;

/// One endpoint as the listener needs it.
#[derive(Debug)]
pub struct CachedEndpoint {
    pub id: i64,
    /// Who sends to it: how its requests are proven and read.
    pub provider: Provider,
    pub secrets: Vec<Secret>,
}

const GENERATION: &str = "SELECT value FROM generations WHERE name = 'endpoints'";
const ALL_ENDPOINTS: &str = "SELECT id, name, provider FROM endpoints";

#[derive(Default)]
struct Snapshot {
    generation: Option<i64>,
    endpoints: HashMap<String, Arc<CachedEndpoint>>,
}

/// The cache, with its own read connection (so it never waits for the read pool).
pub struct EndpointCache {
    conn: Mutex<Connection>,
    snapshot: RwLock<Snapshot>,
}

impl EndpointCache {
    pub fn new(conn: Connection) -> EndpointCache {
        EndpointCache {
            conn: Mutex::new(conn),
            snapshot: RwLock::new(Snapshot::default()),
        }
    }

    /// The endpoint named `name`, or `None`; reloads everything when the generation moved.
    pub fn get(&self, name: &str) -> Result<Option<Arc<CachedEndpoint>>> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| crate::Error::StoreUnavailable("the endpoint cache is poisoned".into()))?;
        let generation: i64 = conn
            .prepare_cached(GENERATION)?
            .query_row([], |r| r.get(0))?;
        if let Ok(snapshot) = self.snapshot.read()
            && snapshot.generation == Some(generation)
        {
            return Ok(snapshot.endpoints.get(name).cloned());
        }
        let fresh = load(&conn, generation)?;
        let found = fresh.endpoints.get(name).cloned();
        if let Ok(mut snapshot) = self.snapshot.write() {
            *snapshot = fresh;
        }
        Ok(found)
    }
}

fn load(conn: &Connection, generation: i64) -> Result<Snapshot> {
    // One read transaction, so the generation and the rows agree.
    conn.execute_batch("BEGIN")?;
    let loaded = (|| {
        let generation: i64 = conn
            .prepare_cached(GENERATION)?
            .query_row([], |r| r.get(0))
            .unwrap_or(generation);
        let rows: Vec<(i64, String, String)> = conn
            .prepare_cached(ALL_ENDPOINTS)?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut endpoints = HashMap::with_capacity(rows.len());
        for (id, name, provider) in rows {
            let secrets = read::secrets(conn, id)?;
            let provider = Provider::parse(&provider).unwrap_or_default();
            endpoints.insert(
                name,
                Arc::new(CachedEndpoint {
                    id,
                    provider,
                    secrets,
                }),
            );
        }
        Ok(Snapshot {
            generation: Some(generation),
            endpoints,
        })
    })();
    let _ = conn.execute_batch("COMMIT");
    loaded
}
