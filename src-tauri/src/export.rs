//! `gatehouse export` and `gatehouse backup`: the history out of Gatehouse, as lines a
//! program reads (JSON Lines) or a spreadsheet opens (CSV), streamed a page at a time; and a
//! consistent copy of the whole database while `serve` or the app runs.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use gatehouse_core::model::{Outcome, Provider, Scope, Verdict};
use gatehouse_core::store::{EventQuery, EventRecord, RequestQuery, RequestRecord, Store};

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

const EVENT_COLUMNS: [&str; 21] = [
    "id",
    "occurred_at",
    "received_at",
    "provider",
    "endpoint",
    "source",
    "scope",
    "outcome",
    "rejected",
    "expiring",
    "title",
    "message",
    "profile_name",
    "branch_name",
    "profile_id",
    "branch_id",
    "task_id",
    "build_id",
    "commit_id",
    "duration_ms",
    "delivery_id",
];

const REQUEST_COLUMNS: [&str; 11] = [
    "id",
    "received_at",
    "endpoint",
    "method",
    "path",
    "remote_addr",
    "verdict",
    "status_code",
    "delivery_id",
    "event_id",
    "error",
];

fn event_row(e: &EventRecord) -> Vec<String> {
    let opt = |s: &Option<String>| s.clone().unwrap_or_default();
    vec![
        e.id.to_string(),
        e.occurred_at.clone(),
        e.received_at.clone(),
        e.provider.to_string(),
        e.endpoint.clone(),
        e.source.as_str().to_owned(),
        e.scope.as_str().to_owned(),
        e.outcome.as_str().to_owned(),
        e.rejected.to_string(),
        e.expiring.to_string(),
        opt(&e.title),
        opt(&e.message),
        opt(&e.profile_name),
        opt(&e.branch_name),
        opt(&e.profile_id),
        opt(&e.branch_id),
        opt(&e.task_id),
        opt(&e.build_id),
        opt(&e.commit_id),
        e.duration_ms.map(|d| d.to_string()).unwrap_or_default(),
        e.delivery_id.clone(),
    ]
}

fn request_row(r: &RequestRecord) -> Vec<String> {
    let opt = |s: &Option<String>| s.clone().unwrap_or_default();
    vec![
        r.id.to_string(),
        r.received_at.clone(),
        r.endpoint.clone(),
        r.method.clone(),
        r.path.clone(),
        opt(&r.remote_addr),
        r.verdict.as_str().to_owned(),
        r.status_code.to_string(),
        opt(&r.delivery_id),
        r.event_id.map(|id| id.to_string()).unwrap_or_default(),
        opt(&r.error),
    ]
}

/// One CSV field: quoted when it holds a comma, quote or line break. Text a spreadsheet
/// would run as a formula (`=`, `+`, `-`, `@` first, or a tab or carriage return) is
/// prefixed with `'`: payload text is anyone's, and must stay text there too.
pub fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn csv_line(out: &mut impl Write, fields: &[String]) -> std::io::Result<()> {
    let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    writeln!(out, "{}", line.join(","))
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
            let header: Vec<String> = REQUEST_COLUMNS.iter().map(|c| c.to_string()).collect();
            written(csv_line(&mut out, &header))?;
        }
        store.export_requests(&query, |r| match a.format {
            Format::Jsonl => written(json_line(&mut out, r)),
            Format::Csv => written(csv_line(&mut out, &request_row(r))),
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
            let header: Vec<String> = EVENT_COLUMNS.iter().map(|c| c.to_string()).collect();
            written(csv_line(&mut out, &header))?;
        }
        store.export_events(&query, |e| match a.format {
            Format::Jsonl => written(json_line(&mut out, e)),
            Format::Csv => written(csv_line(&mut out, &event_row(e))),
        })
    };
    let n = result?;
    written(out.flush())?;
    let what = if a.requests { "requests" } else { "events" };
    eprintln!("Exported {n} {what}.");
    Ok(exit::OK)
}

fn json_line(out: &mut impl Write, value: &impl serde::Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-1+2"), "'-1+2");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
    }
}
