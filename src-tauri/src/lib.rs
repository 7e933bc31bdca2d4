//! The `gatehouse` binary: the command line and the desktop shell, both thin layers over
//! `gatehouse-core`. With no subcommand it opens the window; otherwise it runs one command.

mod account;
mod cli;
pub mod desktop;
mod error;
mod export;
mod follow;
mod listening;
mod logging;
mod print;
mod serve;
mod web;

use std::path::PathBuf;

use clap::Parser;

/// Exit codes, documented in the README. 1 and 2 belong to `status` (failing, unknown)
/// and to `send` (1: the listener answered with an error status).
pub mod exit {
    pub const OK: i32 = 0;
    pub const ERROR: i32 = 3;
    pub const USAGE: i32 = 64;
}

/// Tauri's context: the config and the front end's files, embedded once for the window and
/// for the web dashboard `serve` offers.
pub(crate) fn context() -> tauri::Context<tauri::Wry> {
    tauri::generate_context!("tauri.conf.json")
}

/// Parses the command line and runs it; returns the process exit code.
pub fn run() -> i32 {
    let args = match cli::Args::try_parse() {
        Ok(args) => args,
        Err(e) => return usage_error(e),
    };
    let data_dir = match data_dir(args.data_dir.clone()) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("gatehouse: {e}");
            return exit::ERROR;
        }
    };
    let outcome = match args.command {
        None => desktop::run(data_dir),
        Some(command) => cli::dispatch(command, &data_dir),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("gatehouse: {}", one_line(&e.to_string()));
            exit::ERROR
        }
    }
}

/// clap's own help and version go to stdout as usual; errors become one line on stderr.
fn usage_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            print!("{e}");
            exit::OK
        }
        _ => {
            let rendered = e.to_string();
            let first = rendered.lines().next().unwrap_or("invalid arguments");
            let first = first.trim_start_matches("error: ");
            eprintln!("gatehouse: {first} (see gatehouse --help)");
            exit::USAGE
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `--data-dir`, else `GATEHOUSE_DATA_DIR` (clap reads it), else the OS data directory.
fn data_dir(flag: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(dir) = flag.filter(|d| !d.as_os_str().is_empty()) {
        return Ok(dir);
    }
    dirs::data_dir()
        .map(|d| d.join("gatehouse"))
        .ok_or_else(|| "no data directory: pass --data-dir or set GATEHOUSE_DATA_DIR".to_owned())
}
