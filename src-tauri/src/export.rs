//! `gatehouse export` and `gatehouse backup`: the history out of Gatehouse, as lines a
//! program reads (JSON Lines) or a spreadsheet opens (CSV), streamed a page at a time; and a
//! consistent copy of the whole database while `serve` or the app runs.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use gatehouse_core::export::{
    EVENT_COLUMNS, REQUEST_COLUMNS, csv_header, csv_line, event_row, request_row,
};
use gatehouse_core::model::{Outcome, Provider, Scope, Verdict};
use gatehouse_core::store::{EventQuery, RequestQuery, Store};

use crate::error::Result;
use crate::exit;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object a line, as `events --json` prints them
    Jsonl,
    /// A header line, then one row a line (RFC 4180 quoting)
    Csv,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: Format,
    /// The request history instead of the events (headers, not bodies)
    #[arg(long)]
    pub requests: bool,
    /// appcircle, github, gitlab
    #[arg(long, value_name = "PROVIDER", conflicts_with = "requests")]
    pub provider: Option<Provider>,
    #[arg(long, conflicts_with = "requests")]
    pub scope: Option<Scope>,
    #[arg(long, conflicts_with = "requests")]
    pub outcome: Option<Outcome>,
    /// Profile id or name
    #[arg(long, conflicts_with = "requests")]
    pub profile: Option<String>,
    /// Branch id or name
    #[arg(long, conflicts_with = "requests")]
    pub branch: Option<String>,
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Only events at or after this time (RFC 3339)
    #[arg(long, conflicts_with = "requests")]
    pub since: Option<String>,
    /// Only events before this time (RFC 3339)
    #[arg(long, conflicts_with = "requests")]
    pub until: Option<String>,
    /// With --requests: only this verdict
    #[arg(long, requires = "requests")]
    pub verdict: Option<Verdict>,
}

/// A failed write stops the export. (A reader that goes away, `gatehouse export | head`,
/// ends the process quietly by SIGPIPE, as for every command: see main.rs.)
fn written(result: std::io::Result<()>) -> gatehouse_core::Result<()> {
    result.map_err(|e| gatehouse_core::Error::System(format!("cannot write the export: {e}")))
}

pub fn export(store: &Store, a: ExportArgs) -> Result<i32> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = if a.requests {
        let query = RequestQuery {
            verdict: a.verdict,
            endpoint: a.endpoint,
            ..Default::default()
        };
        if a.format == Format::Csv {
            written(out.write_all(csv_header(&REQUEST_COLUMNS).as_bytes()))?;
        }
        store.export_requests(&query, |r| match a.format {
            Format::Jsonl => written(json_line(&mut out, r)),
            Format::Csv => written(out.write_all(csv_line(&request_row(r)).as_bytes())),
        })
    } else {
        let query = EventQuery {
            provider: a.provider,
            scope: a.scope,
            outcome: a.outcome,
            profile: a.profile,
            branch: a.branch,
            endpoint: a.endpoint,
            since: a.since,
            until: a.until,
            ..Default::default()
        };
        if a.format == Format::Csv {
            written(out.write_all(csv_header(&EVENT_COLUMNS).as_bytes()))?;
        }
        store.export_events(&query, |e| match a.format {
            Format::Jsonl => written(json_line(&mut out, e)),
            Format::Csv => written(out.write_all(csv_line(&event_row(e)).as_bytes())),
        })
    };
    let n = result?;
    written(out.flush())?;
    let what = if a.requests { "requests" } else { "events" };
    eprintln!("Exported {n} {what}.");
    Ok(exit::OK)
}

/// One JSON line, made with `to_vec` as the API's answers are (one copy of each type's
/// serializer in the binary, not one per writer).
fn json_line(out: &mut impl Write, value: &impl serde::Serialize) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(value)?;
    line.push(b'\n');
    out.write_all(&line)
}

#[derive(clap::Args, Debug)]
pub struct BackupArgs {
    /// Where the copy goes (a new file: a backup never overwrites one)
    pub file: PathBuf,
}

pub fn backup(store: &Store, a: BackupArgs) -> Result<i32> {
    store.backup(&a.file)?;
    let size = std::fs::metadata(&a.file).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "Backed up to {} ({:.1} MB): a consistent copy; open it with `gatehouse --data-dir DIR` after naming it {} in DIR.",
        a.file.display(),
        size as f64 / 1e6,
        gatehouse_core::store::DB_FILE
    );
    Ok(exit::OK)
}
