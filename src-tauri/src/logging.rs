//! One line per event on stderr, for `serve` and the desktop app alike.

use std::io::IsTerminal;
use std::str::FromStr;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

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
    let (filter, refused) = filter(std::env::var("RUST_LOG").ok().as_deref(), default);
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_target(false)
                .with_ansi(std::io::stderr().is_terminal())
                .with_writer(std::io::stderr),
        )
        .with(filter)
        .try_init();
    if let Some(refused) = refused {
        tracing::warn!("RUST_LOG is not understood ({refused}); logging at {default}");
    }
}

/// `RUST_LOG`'s `target=level,level` directives (the form everyone uses), read by
/// tracing-subscriber's `Targets` rather than its `EnvFilter`: the span and field filters
/// only `EnvFilter` knows cost the binary a regex engine (about 0.3 MB). A value it cannot
/// read falls back to `default`, and the reason is returned to be logged.
fn filter(rust_log: Option<&str>, default: &str) -> (Targets, Option<String>) {
    let fallback = || Targets::from_str(default).unwrap_or_default();
    match rust_log.map(str::trim).filter(|v| !v.is_empty()) {
        None => (fallback(), None),
        Some(value) => match Targets::from_str(value) {
            Ok(targets) => (targets, None),
            Err(e) => (fallback(), Some(e.to_string())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn rust_log_sets_levels_per_target_and_a_bad_value_falls_back() {
        let (targets, refused) = filter(Some("warn,gatehouse_core=debug"), "info");
        assert!(refused.is_none());
        assert!(targets.would_enable("gatehouse_core::store", &Level::DEBUG));
        assert!(!targets.would_enable("hyper", &Level::INFO));
        assert!(targets.would_enable("hyper", &Level::WARN));

        let (targets, refused) = filter(None, "info");
        assert!(refused.is_none());
        assert!(targets.would_enable("gatehouse", &Level::INFO));
        assert!(!targets.would_enable("gatehouse", &Level::DEBUG));

        let (targets, refused) = filter(Some("gatehouse=loud"), "warn");
        assert!(refused.is_some(), "a level that does not exist is reported");
        assert!(targets.would_enable("gatehouse", &Level::WARN));
        assert!(!targets.would_enable("gatehouse", &Level::INFO));
    }
}
