//! The history as others read it: the columns of an events or requests export and their
//! CSV form (RFC 4180 quoting; payload text never a spreadsheet formula). One format for
//! `gatehouse export` and the History view's "Export CSV".

use crate::store::{EventRecord, RequestRecord};

pub const EVENT_COLUMNS: [&str; 21] = [
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

pub const REQUEST_COLUMNS: [&str; 11] = [
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

pub fn event_row(e: &EventRecord) -> Vec<String> {
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

pub fn request_row(r: &RequestRecord) -> Vec<String> {
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

/// One CSV line (with its line break) of `fields`.
pub fn csv_line(fields: &[String]) -> String {
    let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    format!("{}\n", line.join(","))
}

/// The header line of `columns`.
pub fn csv_header(columns: &[&str]) -> String {
    csv_line(&columns.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>())
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
        assert_eq!(csv_header(&["a", "b"]), "a,b\n");
    }
}
