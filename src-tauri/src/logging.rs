//! One line per event on stderr, for `serve` and the desktop app alike.

use std::io::IsTerminal;

/// For the long-running `serve` and the app: `RUST_LOG` narrows or widens it; the
/// default is `info`.
pub fn init() {
    init_at("info");
}

/// For one-shot commands: only warnings (a data directory others can read, a damaged row)
/// unless `RUST_LOG` says otherwise.
pub fn init_quiet() {
    init_at("warn");
}

fn init_at(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
