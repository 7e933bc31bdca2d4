//! Time is an input: two checks over the source tree, so that a suite that passes today
//! cannot start failing next month.
//!
//! 1. Only `gatehouse_core::clock` reads the system's clock in the Rust sources; everything
//!    else is handed a `Clock` (or a `now`). `wake.rs` is the one exception, on purpose: it
//!    compares the wall clock with the monotonic one to tell that the machine slept.
//! 2. No test names a calendar date unless it also sets the clock: a Rust test that makes a
//!    `Clock::manual`, a front-end test that calls `vi.setSystemTime`, or a line that fixes
//!    "now" itself (`let now = from_text("2026-…")`, `const NOW = …`) and hands it to a
//!    function that takes it. A file whose dates are data that no clock ever reads (a parser's
//!    input, a recorded third-party payload, rows of an old schema) says so with the words
//!    `Fixed dates on purpose:` and why. Everything else states times as offsets from now.
//!
//! This file skips itself in check 2. Fixed dates on purpose: the dates in its own tests are
//! the checker's inputs (lines it must flag or pass), strings that no clock ever reads.

use std::path::{Path, PathBuf};

/// Where the Rust sources and tests live, and the front end's.
const RUST_ROOTS: &[&str] = &["crates", "src-tauri/src", "tests", "tools/empty-window/src"];
const UI_ROOT: &str = "ui/src";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            // Generated TypeScript, installed packages and build output are not ours to read.
            if !matches!(
                name.as_str(),
                "node_modules" | "bindings" | "target" | "gen"
            ) {
                files(&path, exts, out);
            }
        } else if exts.iter().any(|e| name.ends_with(e)) {
            out.push(path);
        }
    }
}

fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A line that is only a comment (doc comments included): dates in prose are not fixtures.
fn is_comment(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("//") || t.starts_with('*') || t.starts_with("/*") || t.starts_with("<!--")
}

/// `2026-11-30`, as a calendar date in a literal.
fn names_a_date(line: &str) -> bool {
    let b = line.as_bytes();
    b.windows(10).enumerate().any(|(i, w)| {
        let digits = |r: std::ops::Range<usize>| w[r].iter().all(u8::is_ascii_digit);
        let starts_a_word = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        starts_a_word
            && (w.starts_with(b"19") || w.starts_with(b"20"))
            && digits(0..4)
            && w[4] == b'-'
            && digits(5..7)
            && w[7] == b'-'
            && digits(8..10)
    })
}

#[test]
fn only_the_clock_reads_the_system_clock() {
    let mut sources = Vec::new();
    for dir in ["crates/core/src", "src-tauri/src"] {
        files(&root().join(dir), &[".rs"], &mut sources);
    }
    assert!(
        sources.len() > 40,
        "the sources were found: {}",
        sources.len()
    );
    let allowed = ["crates/core/src/clock.rs", "crates/core/src/follow/wake.rs"];
    let reads = ["Utc::now(", "SystemTime::now(", "Local::now("];
    let mut found = Vec::new();
    for path in &sources {
        let name = relative(path);
        if allowed.contains(&name.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(path).expect("read");
        for (n, line) in text.lines().enumerate() {
            if !is_comment(line) && reads.iter().any(|r| line.contains(r)) {
                found.push(format!("{name}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "read \"now\" from a Clock (gatehouse_core::clock) instead:\n{}",
        found.join("\n")
    );
}

/// Whether a file sets the clock its dates are read against.
fn sets_the_clock(text: &str) -> bool {
    text.contains("Clock::manual(")
        || text.contains("vi.setSystemTime(")
        || text.contains("Fixed dates on purpose:")
        || text
            .lines()
            .any(|l| !is_comment(l) && names_a_date(l) && (l.contains("now") || l.contains("NOW")))
}

#[test]
fn no_test_names_a_calendar_date_without_setting_the_clock() {
    let mut paths = Vec::new();
    for dir in RUST_ROOTS {
        files(&root().join(dir), &[".rs"], &mut paths);
    }
    files(&root().join(UI_ROOT), &[".ts", ".svelte"], &mut paths);
    assert!(paths.len() > 100, "the tree was found: {}", paths.len());
    let this = relative(&root().join("tests/time_is_an_input.rs"));
    let mut unset = Vec::new();
    let mut dated_files = 0;
    for path in &paths {
        let name = relative(path);
        if name == this {
            continue;
        }
        let text = std::fs::read_to_string(path).expect("read");
        let dated: Vec<String> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| !is_comment(l) && names_a_date(l))
            .map(|(n, l)| format!("{name}:{}: {}", n + 1, l.trim()))
            .collect();
        if dated.is_empty() {
            continue;
        }
        dated_files += 1;
        if !sets_the_clock(&text) {
            unset.extend(dated);
        }
    }
    println!("{dated_files} files name a calendar date; each sets the clock or says why not");
    assert!(
        unset.is_empty(),
        "these name a calendar date without setting the clock; state the time as an offset from \
         now, or set the clock:\n{}",
        unset.join("\n")
    );
}

#[test]
fn the_checks_see_what_they_look_for() {
    assert!(names_a_date(r#"let at = "2026-11-30T10:00:00Z";"#));
    assert!(names_a_date("since: '1999-01-31'"));
    assert!(!names_a_date("version 12026-11-30"));
    assert!(!names_a_date("a 2026-1-3 date"));
    assert!(!names_a_date("x = 20261130"));
    assert!(is_comment(
        "    /// GitLab writes `2026-11-30 10:00:00 UTC`"
    ));
    assert!(sets_the_clock(
        "let now = from_text(\"2026-11-30T10:00:00Z\");"
    ));
    assert!(sets_the_clock("let (clock, hand) = Clock::manual(at);"));
    assert!(!sets_the_clock(
        "let built = \"2026-11-29T10:00:00Z\";\nlet x = Utc::now();"
    ));
}
