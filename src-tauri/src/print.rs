//! Human-readable and JSON output for the CLI.

use std::io::Write;

use chrono::{DateTime, Utc};
use gatehouse_core::model::subject_name;
use gatehouse_core::rules::checks::{CheckState, CommitChecks};
use gatehouse_core::rules::gate::{Gate, GateState, Stream, stale_words};
use gatehouse_core::settings::RequiredChecks;
use gatehouse_core::store::{EndpointInfo, EventRecord, RequestRecord, TokenInfo};
use gatehouse_core::text::{is_unsafe, neutralise as terminal_text};
use serde::Serialize;

use crate::error::{AppError, Result};

/// Pretty JSON on stdout; field names are the stable snake_case ones documented in the README.
/// Characters a terminal would act on are written as `\uXXXX` escapes: the same JSON value,
/// byte for byte what a parser reads, but nothing that moves the cursor or reverses text.
///
/// The value is written compact first, as the API writes its answers, and that JSON is printed
/// again: each type's serializer is large, and a formatter of its own would put a second copy
/// of every one in the binary, where this way only `Value`'s goes through it (field order is
/// kept: the workspace builds serde_json with `preserve_order`).
pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<()> {
    let invalid = |e: serde_json::Error| AppError::Invalid(format!("cannot write JSON: {e}"));
    let compact = serde_json::to_vec(value).map_err(invalid)?;
    let value: serde_json::Value = serde_json::from_slice(&compact).map_err(invalid)?;
    let mut out = std::io::stdout().lock();
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut out, TerminalSafeFormatter::default());
    value.serialize(&mut serializer).map_err(invalid)?;
    writeln!(out)?;
    Ok(())
}

/// Pretty printing, with the string characters [`is_unsafe`] flags escaped.
#[derive(Default)]
struct TerminalSafeFormatter(serde_json::ser::PrettyFormatter<'static>);

impl serde_json::ser::Formatter for TerminalSafeFormatter {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut rest = fragment;
        while let Some((at, c)) = rest.char_indices().find(|(_, c)| is_unsafe(*c)) {
            writer.write_all(&rest.as_bytes()[..at])?;
            write!(writer, "\\u{:04x}", c as u32)?;
            rest = &rest[at + c.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }

    // The rest delegates to the pretty formatter (indentation state lives there).
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

const MAX_CELL: usize = 48;

fn cell(s: &str) -> String {
    let s = terminal_text(s, false);
    if s.chars().count() > MAX_CELL {
        let cut: String = s.chars().take(MAX_CELL - 1).collect();
        format!("{cut}…")
    } else {
        s
    }
}

fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|r| r.iter().map(|c| cell(c)).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(c.chars().count()))))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row);
    }
}

/// `2026-11-29T14:07:23.123456Z` → `2026-11-29 14:07:23`
fn short_time(t: &str) -> String {
    t.get(..19).unwrap_or(t).replace('T', " ")
}

/// An optional stored value, safe to print.
fn opt(s: &Option<String>) -> String {
    s.as_deref()
        .map(|s| terminal_text(s, false))
        .unwrap_or_else(|| "-".into())
}

/// A stored value, safe to print.
pub fn text(s: &str) -> String {
    terminal_text(s, false)
}

pub fn duration(ms: i64) -> String {
    let secs = ms / 1000;
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {}s", s / 60, s % 60),
        s => format!("{}h {}m", s / 3600, (s % 3600) / 60),
    }
}

/// Endpoints with their payload URLs, or "not listening" where nothing answers.
pub fn endpoints(list: &[EndpointInfo], base_url: Option<&str>) {
    if list.is_empty() {
        println!("No endpoints yet. Create one: gatehouse endpoint add NAME");
        return;
    }
    let rows = list
        .iter()
        .map(|e| {
            vec![
                e.name.clone(),
                e.provider.to_string(),
                e.secret_count.to_string(),
                e.request_count.to_string(),
                e.event_count.to_string(),
                base_url.map_or_else(
                    || "(not listening)".to_owned(),
                    |base| format!("{base}/hooks/{}", e.name),
                ),
            ]
        })
        .collect();
    table(
        &["NAME", "PROVIDER", "SECRETS", "REQUESTS", "EVENTS", "URL"],
        rows,
    );
}

pub fn tokens(list: &[TokenInfo]) {
    if list.is_empty() {
        println!("No tokens yet; the API is off. Create one: gatehouse token add NAME [--admin]");
        return;
    }
    let rows = list
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.role.as_str().to_owned(),
                t.created_at.clone(),
                t.last_used_at.clone().unwrap_or_else(|| "never".into()),
            ]
        })
        .collect();
    table(&["NAME", "ROLE", "CREATED", "LAST USED"], rows);
}

fn profile_and_branch(e: &EventRecord) -> String {
    subject_name(&e.profile_name, &e.profile_id, &e.branch_name, &e.branch_id)
        .unwrap_or_else(|| "-".into())
}

pub fn events(list: &[EventRecord]) {
    if list.is_empty() {
        println!("No events match.");
        return;
    }
    let rows = list
        .iter()
        .map(|e| {
            vec![
                e.id.to_string(),
                short_time(&e.occurred_at),
                e.scope.as_str().to_owned(),
                e.outcome.as_str().to_owned(),
                profile_and_branch(e),
                opt(&e.title),
                e.duration_ms.map(duration).unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "OCCURRED (UTC)",
            "SCOPE",
            "OUTCOME",
            "PROFILE / BRANCH",
            "TITLE",
            "TOOK",
        ],
        rows,
    );
}

pub fn event_detail(e: &EventRecord) -> Result<()> {
    println!("Event {} ({} {})", e.id, e.scope, e.outcome);
    println!("  title:     {}", opt(&e.title));
    println!("  message:   {}", opt(&e.message));
    println!("  action:    {}", opt(&e.action));
    println!(
        "  profile:   {} ({})",
        opt(&e.profile_name),
        opt(&e.profile_id)
    );
    println!(
        "  branch:    {} ({})",
        opt(&e.branch_name),
        opt(&e.branch_id)
    );
    println!("  task:      {}", opt(&e.task_id));
    println!("  occurred:  {}", text(&e.occurred_at));
    println!(
        "  received:  {} via {} ({})",
        text(&e.received_at),
        text(&e.endpoint),
        e.source.as_str()
    );
    if let Some(ms) = e.duration_ms {
        println!("  took:      {}", duration(ms));
    }
    for (name, url) in &e.links {
        println!(
            "  link {}: {}",
            text(name),
            text(url.as_str().unwrap_or_default())
        );
    }
    println!("Payload (as received):");
    println!(
        "{}",
        terminal_text(e.payload.as_deref().unwrap_or("(not stored)"), true)
    );
    Ok(())
}

pub fn requests(list: &[RequestRecord]) {
    if list.is_empty() {
        println!("No requests match.");
        return;
    }
    let rows = list
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                short_time(&r.received_at),
                r.endpoint.clone(),
                r.status_code.to_string(),
                r.verdict.as_str().to_owned(),
                opt(&r.delivery_id),
                opt(&r.error),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "RECEIVED (UTC)",
            "ENDPOINT",
            "CODE",
            "VERDICT",
            "DELIVERY",
            "ERROR",
        ],
        rows,
    );
}

pub fn request_detail(r: &RequestRecord) {
    println!(
        "Request {}: {} {} → {} {}",
        r.id,
        text(&r.method),
        text(&r.path),
        r.status_code,
        r.verdict
    );
    println!(
        "  received:  {} from {}",
        text(&r.received_at),
        opt(&r.remote_addr)
    );
    println!("  delivery:  {}", opt(&r.delivery_id));
    if r.error.is_some() {
        println!("  error:     {}", opt(&r.error));
    }
    if let Some(id) = r.event_id {
        println!("  event:     {id}");
    }
    if let Some(at) = &r.accepted_at {
        println!("  accepted:  {at} (from history)");
    }
    println!("Headers:");
    for (name, value) in &r.headers {
        println!("  {}: {}", text(name), text(value));
    }
    if r.body_truncated {
        println!(
            "Body ({} bytes; only the first {} kept, it failed verification):",
            r.body_size,
            r.body.as_deref().map_or(0, str::len)
        );
    } else {
        println!("Body ({} bytes):", r.body_size);
    }
    println!(
        "{}",
        terminal_text(r.body.as_deref().unwrap_or("(not stored)"), true)
    );
}

fn mark(s: &Stream) -> &'static str {
    match (s.state, s.running) {
        (GateState::Failing, _) => "✗",
        (_, true) => "●",
        // A start whose end never came: neither running nor the result beside it.
        _ if s.stale => "~",
        (GateState::Passing, _) => "✓",
        (GateState::Unknown, _) => "?",
    }
}

/// The gate as a table; `now` words a stale start ("running for 2 days?").
pub fn gate(g: &Gate, now: DateTime<Utc>) {
    let failing = g.failing().count();
    let passing = g
        .streams
        .iter()
        .filter(|s| s.state == GateState::Passing)
        .count();
    let running = g.streams.iter().filter(|s| s.running).count();
    let stale = g.streams.iter().filter(|s| s.stale).count();
    let stale = if stale > 0 {
        format!(", {stale} stale")
    } else {
        String::new()
    };
    println!(
        "Gate: {} ({failing} failing, {passing} passing, {running} running{stale})",
        g.state.as_str().to_uppercase()
    );
    if g.streams.is_empty() {
        println!("Nothing has arrived yet for what you asked about.");
        return;
    }
    let rows = g
        .streams
        .iter()
        .map(|s| {
            let who = subject_name(&s.profile_name, &s.profile_id, &s.branch_name, &s.branch_id)
                .unwrap_or_else(|| "-".into());
            vec![
                mark(s).to_owned(),
                s.scope.as_str().to_owned(),
                who,
                s.outcome
                    .map(|o| o.as_str().to_owned())
                    .unwrap_or_else(|| "-".into()),
                match (&s.running_since, s.stale) {
                    (Some(since), true) => stale_words(since, now),
                    _ => opt(&s.title),
                },
                s.occurred_at.as_deref().map(short_time).unwrap_or_default(),
                s.duration_ms.map(duration).unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "",
            "SCOPE",
            "PROFILE / BRANCH",
            "LAST END",
            "TITLE",
            "AT (UTC)",
            "TOOK",
        ],
        rows,
    );
}

fn check_mark(state: CheckState) -> &'static str {
    match state {
        CheckState::Passed => "✓",
        CheckState::Failed => "✗",
        CheckState::Running => "●",
        CheckState::Missing => "?",
        CheckState::Neutral => "-",
    }
}

/// A commit's checks as GitHub lists them: the summary, then one row per check (required
/// first), then their links.
pub fn commit_checks(c: &CommitChecks) {
    let on = if c.branches.is_empty() {
        String::new()
    } else {
        format!(" on {}", text(&c.branches.join(", ")))
    };
    println!(
        "Commit {}{on}: {} ({})",
        text(&c.short),
        c.state.as_str().to_uppercase(),
        text(&c.summary)
    );
    match &c.rule {
        Some(rule) => println!("Required by the rule for `{}`.", text(rule)),
        None => println!("No rule for its branches: every check that reported is required."),
    }
    let rows = c
        .checks
        .iter()
        .map(|check| {
            vec![
                check_mark(check.state).to_owned(),
                check.name.clone(),
                if check.required { "required" } else { "" }.to_owned(),
                check.state.as_str().to_owned(),
                check.runs.to_string(),
                check
                    .occurred_at
                    .as_deref()
                    .map(short_time)
                    .unwrap_or_default(),
                check.duration_ms.map(duration).unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &["", "CHECK", "", "STATE", "RUNS", "AT (UTC)", "TOOK"],
        rows,
    );
    for check in &c.checks {
        if let Some(link) = &check.link {
            println!("  {}: {}", text(&check.name), text(link));
        }
    }
}

/// Recent commits, newest first, each with its summary.
pub fn commits(list: &[CommitChecks]) {
    if list.is_empty() {
        println!("No commit has reported a check yet.");
        return;
    }
    let rows = list
        .iter()
        .map(|c| {
            vec![
                c.short.clone(),
                c.state.as_str().to_owned(),
                c.summary.clone(),
                c.branches.join(", "),
                c.last_at.as_deref().map(short_time).unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &["COMMIT", "STATE", "CHECKS", "BRANCHES", "LAST (UTC)"],
        rows,
    );
}

/// The required-checks rules, in the order they are tried.
pub fn required_checks(rules: &[RequiredChecks]) {
    if rules.is_empty() {
        println!("No rules: every check that reported for a commit is required.");
        return;
    }
    for rule in rules {
        println!("{}:", text(&rule.branch));
        for check in &rule.checks {
            println!("  {}", text(check));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_output_escapes_what_a_terminal_acts_on_and_parses_back_to_the_same_value() {
        let value = serde_json::json!({"m": "a\u{9b}b\u{202e}c\x1bd\u{7f}e ✓"});
        let mut buf = Vec::new();
        let mut ser =
            serde_json::Serializer::with_formatter(&mut buf, TerminalSafeFormatter::default());
        value.serialize(&mut ser).expect("serialises");
        let text = String::from_utf8(buf).expect("utf8");
        assert!(text.chars().all(|c| c == '\n' || !is_unsafe(c)), "{text:?}");
        assert!(text.contains("\\u009b") && text.contains("\\u202e") && text.contains("\\u001b"));
        let back: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        assert_eq!(back, value);
    }
}
