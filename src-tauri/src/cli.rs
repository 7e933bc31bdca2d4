//! Command-line arguments and what each command does.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use clap::{Parser, Subcommand};
use gatehouse_core::classify::{Outcome, Scope};
use gatehouse_core::endpoint::{WEAK_SECRET_LEN, generate_secret};
use gatehouse_core::gate::{self, GateFilter};
use gatehouse_core::ingest::Verdict;
use gatehouse_core::listener::DEFAULT_PORT;
use gatehouse_core::samples::{self, Sample, SampleOptions};
use gatehouse_core::store::{EventQuery, RequestQuery, Store};

use crate::error::{AppError, Result};
use crate::{exit, print};

/// Settings key under which `serve` records the address it listens on, for URLs.
pub const LISTEN_SETTING: &str = "listen_addr";

#[derive(Parser, Debug)]
#[command(
    name = "gatehouse",
    version,
    about = "Receives, verifies and stores Appcircle webhooks, and shows where your builds stand.",
    long_about = "Receives, verifies and stores Appcircle webhooks, and shows where your builds stand.\n\nWith no command, opens the desktop app (the listener runs inside it)."
)]
pub struct Args {
    /// Where the database lives [default: the OS data directory, e.g. ~/.local/share/gatehouse]
    #[arg(long, global = true, env = "GATEHOUSE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the webhook listener without a window (logs one line per request)
    Serve(ServeArgs),
    /// Create, list and remove endpoints, and rotate their secrets
    #[command(subcommand)]
    Endpoint(EndpointCommand),
    /// Sign a delivery as Appcircle would and POST it (to test a setup)
    Send(SendArgs),
    /// List stored events, newest first (or `events show ID`)
    Events(EventsArgs),
    /// List the request history, newest first (or `requests show ID`, `requests accept ID`)
    Requests(RequestsArgs),
    /// The gate: exit 0 passing, 1 failing, 2 unknown
    Status(StatusArgs),
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on: ADDR:PORT, a port, or an address [default: 127.0.0.1:8473]
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Seconds a delivery's timestamp may differ from now
    #[arg(long, value_name = "SECS", default_value_t = gatehouse_core::listener::DEFAULT_REPLAY_WINDOW_SECS)]
    pub replay_window: i64,
    /// Largest body accepted, in bytes
    #[arg(long, value_name = "BYTES", default_value_t = gatehouse_core::listener::DEFAULT_BODY_LIMIT)]
    pub body_limit: usize,
}

#[derive(Subcommand, Debug)]
pub enum EndpointCommand {
    /// Create an endpoint; prints a generated secret once when none is given
    Add {
        name: String,
        /// Use this secret instead of generating one
        #[arg(long)]
        secret: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List endpoints (secrets are never listed)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Remove an endpoint (its history stays)
    Remove { name: String },
    /// Add a new secret beside the current one; both verify until you retire the old one
    Rotate {
        name: String,
        #[arg(long)]
        secret: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Retire the oldest secret, keeping the newest
    RetireSecret { name: String },
}

#[derive(clap::Args, Debug)]
pub struct SendArgs {
    /// Where to POST, e.g. http://127.0.0.1:8473/hooks/NAME
    pub url: String,
    /// The endpoint's secret
    #[arg(long)]
    pub secret: String,
    /// Send this file's bytes exactly as they are
    #[arg(long, conflicts_with = "sample", value_name = "PAYLOAD.json")]
    pub file: Option<PathBuf>,
    /// Send a sample event (fresh deliveryId and timestamp): build-started, build-succeeded,
    /// build-warning, build-failed, build-canceled, build-timeout, distribution,
    /// publish-succeeded, publish-rejected, enterprise, certificate-expiring
    #[arg(long, value_name = "EVENT")]
    pub sample: Option<String>,
    /// Sample's build profile name
    #[arg(long, requires = "sample")]
    pub profile: Option<String>,
    /// Sample's branch name
    #[arg(long, requires = "sample")]
    pub branch: Option<String>,
    /// Sample's message text instead of the usual one
    #[arg(long, requires = "sample")]
    pub message: Option<String>,
    /// Sample's timestamp: RFC 3339, or relative to now such as -15m or +2h
    #[arg(long, requires = "sample", allow_hyphen_values = true)]
    pub timestamp: Option<String>,
    /// Sample's deliveryId (to test duplicates)
    #[arg(long, requires = "sample")]
    pub delivery_id: Option<String>,
    /// Sample's taskId (to pair a build's start with its end)
    #[arg(long, requires = "sample")]
    pub task_id: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EventsArgs {
    #[command(subcommand)]
    pub show: Option<ShowCommand>,
    /// build, signing_identity, testing_distribution, publish_to_stores, enterprise_app_store, other
    #[arg(long)]
    pub scope: Option<Scope>,
    /// started, succeeded, warning, failed, canceled, timed_out, info
    #[arg(long)]
    pub outcome: Option<Outcome>,
    /// Profile id or name
    #[arg(long)]
    pub profile: Option<String>,
    /// Branch id or name
    #[arg(long)]
    pub branch: Option<String>,
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Text to find in title, message or action
    #[arg(long)]
    pub search: Option<String>,
    /// Only events at or after this time (RFC 3339)
    #[arg(long)]
    pub since: Option<String>,
    /// Only events before this time (RFC 3339)
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum ShowCommand {
    /// One entry in full (events: with the raw payload; requests: with headers and body)
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RequestsArgs {
    #[command(subcommand)]
    pub action: Option<RequestCommand>,
    /// accepted, duplicate, missing_signature, bad_signature, malformed, stale, too_large,
    /// method_not_allowed, incomplete
    #[arg(long)]
    pub verdict: Option<Verdict>,
    #[arg(long)]
    pub endpoint: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum RequestCommand {
    /// Accept a stale request: its signature is checked again, the replay window is not
    Accept {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// One request in full, with headers (secrets redacted) and body
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Only this profile (id or name)
    #[arg(long)]
    pub profile: Option<String>,
    /// Only this branch (id or name); builds only
    #[arg(long)]
    pub branch: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// Runs one command; returns the exit code.
pub fn dispatch(args: Args, data_dir: PathBuf) -> Result<i32> {
    match args.command {
        None => crate::desktop::run(data_dir),
        Some(Command::Serve(a)) => crate::serve::run(&data_dir, a),
        Some(Command::Send(a)) => send(a),
        Some(Command::Endpoint(c)) => endpoint(&open(&data_dir)?, c),
        Some(Command::Events(a)) => events(&open(&data_dir)?, a),
        Some(Command::Requests(a)) => requests(&open(&data_dir)?, a),
        Some(Command::Status(a)) => status(&open(&data_dir)?, a),
    }
}

fn open(data_dir: &std::path::Path) -> Result<Store> {
    Ok(Store::open_dir(data_dir)?)
}

/// Runs a store write from synchronous CLI code.
fn block_on<F: Future>(future: F) -> Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(future))
}

/// Reads `ADDR:PORT`, a bare port, or a bare address; `localhost` means 127.0.0.1.
pub fn parse_listen(s: &str) -> Result<SocketAddr> {
    let s = s.trim().replace("localhost", "127.0.0.1");
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
    }
    if let Ok(ip) = s.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT));
    }
    Err(AppError::Invalid(format!(
        "`{s}` is not an address to listen on (use ADDR:PORT, e.g. 127.0.0.1:{DEFAULT_PORT})"
    )))
}

/// The base URL deliveries reach, from the address `serve` last listened on.
fn base_url(store: &Store) -> Result<String> {
    let addr = store
        .setting(LISTEN_SETTING)?
        .unwrap_or_else(|| format!("127.0.0.1:{DEFAULT_PORT}"));
    Ok(format!("http://{addr}"))
}

fn endpoint(store: &Store, command: EndpointCommand) -> Result<i32> {
    match command {
        EndpointCommand::Add { name, secret, json } => {
            let secret = SecretChoice::from_flag(secret)?;
            let info = block_on(store.add_endpoint(&name, &secret.value))??;
            let url = format!("{}/hooks/{}", base_url(store)?, info.name);
            if json {
                let mut out = serde_json::json!({"endpoint": info, "url": url});
                secret.add_to(&mut out);
                print::json(&out)?;
            } else {
                eprintln!("Created endpoint `{}`. Payload URL: {url}", info.name);
                secret.announce("Its secret (shown once; paste it into Appcircle's webhook form):");
            }
        }
        EndpointCommand::List { json } => {
            let list = store.endpoints()?;
            if json {
                print::json(&list)?;
            } else {
                print::endpoints(&list, &base_url(store)?);
            }
        }
        EndpointCommand::Remove { name } => {
            block_on(store.remove_endpoint(&name))??;
            eprintln!("Removed endpoint `{name}`; its history stays.");
        }
        EndpointCommand::Rotate { name, secret, json } => {
            let secret = SecretChoice::from_flag(secret)?;
            block_on(store.add_secret(&name, &secret.value))??;
            if json {
                let mut out = serde_json::json!({"endpoint": name});
                secret.add_to(&mut out);
                print::json(&out)?;
            } else {
                eprintln!(
                    "Added a new secret to `{name}`; both verify until you run `gatehouse endpoint retire-secret {name}`."
                );
                secret.announce("The new secret (shown once):");
            }
        }
        EndpointCommand::RetireSecret { name } => {
            block_on(store.retire_secret(&name))??;
            eprintln!("Retired the oldest secret of `{name}`; only the newest verifies now.");
        }
    }
    Ok(exit::OK)
}

/// The user's `--secret`, or a generated one that must be shown exactly once.
struct SecretChoice {
    value: String,
    generated: bool,
}

impl SecretChoice {
    fn from_flag(flag: Option<String>) -> Result<SecretChoice> {
        match flag {
            Some(value) => {
                if value.len() < WEAK_SECRET_LEN {
                    eprintln!(
                        "warning: a secret under {WEAK_SECRET_LEN} characters is easy to guess; omit --secret to generate a strong one"
                    );
                }
                Ok(SecretChoice {
                    value,
                    generated: false,
                })
            }
            None => Ok(SecretChoice {
                value: generate_secret()?,
                generated: true,
            }),
        }
    }

    /// Adds `"secret"` to JSON output, only when we generated it.
    fn add_to(&self, out: &mut serde_json::Value) {
        if self.generated {
            out["secret"] = serde_json::json!(self.value);
        }
    }

    /// Prints a generated secret alone on stdout (so scripts can capture it), the label on stderr.
    fn announce(&self, label: &str) {
        if self.generated {
            eprintln!("{label}");
            println!("{}", self.value);
        }
    }
}

/// `-15m`, `+2h`, `-30s`, `-1d` relative to now, or an absolute time.
fn parse_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let bad = || {
        AppError::Invalid(format!(
            "`{s}` is not a time (use RFC 3339 or e.g. -15m, +2h)"
        ))
    };
    if let Some(rest) = s.strip_prefix(['-', '+']) {
        let sign = if s.starts_with('-') { -1 } else { 1 };
        let unit = rest.chars().last().ok_or_else(bad)?;
        let n: i64 = rest[..rest.len() - unit.len_utf8()]
            .parse()
            .map_err(|_| bad())?;
        let d = match unit {
            's' => Duration::seconds(n),
            'm' => Duration::minutes(n),
            'h' => Duration::hours(n),
            'd' => Duration::days(n),
            _ => return Err(bad()),
        };
        return Ok(now + d * sign);
    }
    gatehouse_core::time::parse_liberal(s).ok_or_else(bad)
}

fn send(a: SendArgs) -> Result<i32> {
    let body = match (&a.file, &a.sample) {
        (Some(path), _) => std::fs::read(path)
            .map_err(|e| AppError::Invalid(format!("cannot read {}: {e}", path.display())))?,
        (None, Some(name)) => {
            let sample = Sample::parse(name)?;
            let options = SampleOptions {
                profile: a.profile.clone(),
                branch: a.branch.clone(),
                message: a.message.clone(),
                timestamp: a
                    .timestamp
                    .as_deref()
                    .map(|t| parse_time(t, Utc::now()))
                    .transpose()?,
                delivery_id: a.delivery_id.clone(),
                task_id: a.task_id.clone(),
            };
            samples::build(sample, &options)?
        }
        (None, None) => {
            return Err(AppError::Invalid(
                "say what to send: --file PAYLOAD.json or --sample EVENT".into(),
            ));
        }
    };
    let sent = gatehouse_core::send::deliver(&a.url, &a.secret, &body)?;
    let code = sent.status_code;
    if a.json {
        print::json(&sent)?;
    } else {
        let text = match &sent.response {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        println!("{code} {}", text.trim());
    }
    Ok(if (200..300).contains(&code) {
        exit::OK
    } else {
        1
    })
}

fn events(store: &Store, a: EventsArgs) -> Result<i32> {
    if let Some(ShowCommand::Show { id, json }) = a.show {
        let event = store.event(id)?;
        if json {
            print::json(&event)?;
        } else {
            print::event_detail(&event)?;
        }
        return Ok(exit::OK);
    }
    let query = EventQuery {
        scope: a.scope,
        outcome: a.outcome,
        profile: a.profile,
        branch: a.branch,
        endpoint: a.endpoint,
        text: a.search,
        since: a.since,
        until: a.until,
        limit: Some(a.limit),
        offset: None,
    };
    let list = store.events(&query)?;
    if a.json {
        print::json(&list)?;
    } else {
        print::events(&list);
    }
    Ok(exit::OK)
}

fn requests(store: &Store, a: RequestsArgs) -> Result<i32> {
    match a.action {
        Some(RequestCommand::Accept { id, json }) => {
            let recorded = block_on(store.accept_stale(id))??;
            if json {
                print::json(&recorded)?;
            } else {
                match recorded.event_id {
                    Some(event) if recorded.verdict == Verdict::Accepted => {
                        println!("Accepted request {id}: stored as event {event}.")
                    }
                    Some(event) => println!(
                        "Request {id} was already stored as event {event} (duplicate); marked accepted."
                    ),
                    None => println!("Request {id}: {}", recorded.verdict),
                }
            }
        }
        Some(RequestCommand::Show { id, json }) => {
            let request = store.request(id)?;
            if json {
                print::json(&request)?;
            } else {
                print::request_detail(&request);
            }
        }
        None => {
            let query = RequestQuery {
                verdict: a.verdict,
                endpoint: a.endpoint,
                limit: Some(a.limit),
                offset: None,
            };
            let list = store.requests(&query)?;
            if a.json {
                print::json(&list)?;
            } else {
                print::requests(&list);
            }
        }
    }
    Ok(exit::OK)
}

fn status(store: &Store, a: StatusArgs) -> Result<i32> {
    let filter = GateFilter {
        profile: a.profile,
        branch: a.branch,
    };
    let gate = gate::evaluate(store.streams()?, &filter);
    if a.json {
        print::json(&gate)?;
    } else {
        print::gate(&gate);
    }
    Ok(gate.state.exit_code())
}

/// Shared by `serve` and the desktop shell.
pub fn listen_addr(flag: Option<&str>) -> Result<SocketAddr> {
    match flag {
        Some(s) => parse_listen(s),
        None => Ok(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            DEFAULT_PORT,
        )),
    }
}

/// Opens the store shared by a long-running process (serve or the desktop app).
pub fn open_shared(data_dir: &std::path::Path) -> Result<Arc<Store>> {
    Ok(Arc::new(Store::open_dir(data_dir)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_forms() {
        assert_eq!(
            parse_listen("127.0.0.1:9000").ok(),
            "127.0.0.1:9000".parse().ok()
        );
        assert_eq!(parse_listen("9000").ok(), "127.0.0.1:9000".parse().ok());
        assert_eq!(
            parse_listen("localhost:9001").ok(),
            "127.0.0.1:9001".parse().ok()
        );
        assert_eq!(
            parse_listen("0.0.0.0").ok(),
            format!("0.0.0.0:{DEFAULT_PORT}").parse().ok()
        );
        assert_eq!(parse_listen("[::1]:9002").ok(), "[::1]:9002".parse().ok());
        assert!(parse_listen("example").is_err());
    }

    #[test]
    fn relative_times() {
        let now = Utc::now();
        assert_eq!(
            parse_time("-15m", now).ok(),
            Some(now - Duration::minutes(15))
        );
        assert_eq!(parse_time("+2h", now).ok(), Some(now + Duration::hours(2)));
        assert!(parse_time("-15x", now).is_err());
        assert!(parse_time("2024-01-01T00:00:00Z", now).is_ok());
    }
}
