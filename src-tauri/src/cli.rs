//! Command-line arguments and what each command does.

use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use clap::{Parser, Subcommand};
use gatehouse_core::api::COMMITS_SHOWN;
use gatehouse_core::clock::Clock;
use gatehouse_core::model::Verdict;
use gatehouse_core::model::{Outcome, Provider, Scope};
use gatehouse_core::receive::endpoint::{WEAK_SECRET_LEN, generate_secret};
use gatehouse_core::rules::checks::{self, CommitChecks, CommitState};
use gatehouse_core::rules::gate::{self, GateFilter};
use gatehouse_core::send::samples::{self, SampleOptions};
use gatehouse_core::serve::token::Role;
use gatehouse_core::settings::RequiredChecks;
use gatehouse_core::store::{CommitFilter, EventQuery, MAX_LIMIT, RequestQuery, Store};

use crate::error::{AppError, Result};
use crate::{exit, listening, logging, print};

/// The version and the commit it was built from (`gatehouse --version`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("GATEHOUSE_COMMIT"),
    ")"
);

#[derive(Parser, Debug)]
#[command(
    name = "gatehouse",
    version = VERSION,
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
    Serve(crate::serve::ServeArgs),
    /// Mirror an inbox (a `gatehouse serve` elsewhere) into this machine's store, without a window
    Follow(crate::follow::FollowArgs),
    #[command(flatten)]
    Once(Box<OneShot>),
}

/// The commands that run once against the store (or a URL) and exit.
#[derive(Subcommand, Debug)]
pub enum OneShot {
    /// Create, list and remove endpoints, and rotate their secrets
    #[command(subcommand)]
    Endpoint(EndpointCommand),
    /// Sign a delivery as Appcircle would and POST it (to test a setup)
    Send(SendArgs),
    /// List stored events, newest first (or `events show ID`)
    Events(EventsArgs),
    /// List the request history, newest first (or `requests show ID`, `requests accept ID`)
    Requests(RequestsArgs),
    /// The gate: exit 0 passing, 1 failing, 2 unknown (with --commit: that commit's checks)
    Status(StatusArgs),
    /// A commit's checks across Appcircle, GitHub Actions and GitLab CI (or the recent
    /// commits); `checks require` edits which checks a branch's commits need
    Checks(ChecksArgs),
    /// Create, list and revoke access tokens for the inbox's API (`serve`'s /api/v1)
    #[command(subcommand)]
    Token(TokenCommand),
    /// Connect an Appcircle account whose API fills the dashboard; sync it, see how it goes
    #[command(subcommand)]
    Account(crate::account::AccountCommand),
    /// Write every event (or with --requests every request) matching the filters to standard
    /// output, as JSON Lines or CSV, a page at a time
    Export(crate::export::ExportArgs),
    /// Copy the database to a new file, consistently, while serve or the app runs
    Backup(crate::export::BackupArgs),
    /// Print shell completions to standard output (e.g. `gatehouse completions bash >
    /// /usr/share/bash-completion/completions/gatehouse`)
    Completions { shell: CompletionShell },
    /// Write the manual pages (gatehouse.1 and one per command) into a directory
    Man {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// The shells completions are made for.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token and print it once on stdout (only its SHA-256 is kept)
    Add {
        name: String,
        /// Everything the desktop can do (endpoints, settings, accept, replay); default: read only
        #[arg(long)]
        admin: bool,
        #[arg(long)]
        json: bool,
    },
    /// List tokens: name, role, created, last used (never the token)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token; calls with it are refused and its open streams close
    Revoke { name: String },
}

#[derive(Subcommand, Debug)]
pub enum EndpointCommand {
    /// Create an endpoint; prints a generated secret once when none is given
    Add {
        name: String,
        /// Who sends to it: appcircle (default), github or gitlab
        #[arg(long, value_name = "PROVIDER", default_value = "appcircle")]
        provider: Provider,
        #[command(flatten)]
        secret: SecretSource,
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
        #[command(flatten)]
        secret: SecretSource,
        #[arg(long)]
        json: bool,
    },
    /// Retire the oldest secret, keeping the newest
    RetireSecret { name: String },
}

/// Where a secret comes from. A file or standard input keep it out of `ps` and shell history;
/// `--secret VALUE` stays for quick local tests.
#[derive(clap::Args, Debug)]
pub struct SecretSource {
    /// Read the secret from this file (first line; 0600 recommended)
    #[arg(long, value_name = "PATH", conflicts_with = "secret")]
    pub secret_file: Option<PathBuf>,
    /// The secret itself, or `-` to read it from standard input (visible to `ps` otherwise)
    #[arg(long, value_name = "SECRET|-")]
    pub secret: Option<String>,
}

impl SecretSource {
    /// The secret, if one was given; a file's or stdin's trailing newline is not part of it.
    pub fn read(&self) -> Result<Option<String>> {
        let from_text = |text: String, what: &str| -> Result<Option<String>> {
            let line = text
                .lines()
                .next()
                .unwrap_or_default()
                .trim_end()
                .to_owned();
            if line.is_empty() {
                return Err(AppError::Invalid(format!("{what} holds no secret")));
            }
            Ok(Some(line))
        };
        match (&self.secret_file, self.secret.as_deref()) {
            (Some(path), _) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    AppError::Invalid(format!(
                        "cannot read the secret file {}: {e}",
                        path.display()
                    ))
                })?;
                from_text(text, &format!("the secret file {}", path.display()))
            }
            (None, Some("-")) => {
                let mut text = String::new();
                std::io::stdin().take(64 * 1024).read_to_string(&mut text)?;
                from_text(text, "standard input")
            }
            (None, Some(value)) => Ok(Some(value.to_owned())),
            (None, None) => Ok(None),
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct SendArgs {
    /// Where to POST, e.g. http://127.0.0.1:8473/hooks/NAME
    pub url: String,
    /// The endpoint's secret: --secret-file PATH, --secret - (stdin), or --secret VALUE
    #[command(flatten)]
    pub secret: SecretSource,
    /// Send this file's bytes exactly as they are
    #[arg(long, conflicts_with = "sample", value_name = "PAYLOAD.json")]
    pub file: Option<PathBuf>,
    /// Sign (or, for GitLab, authenticate) as this provider does: appcircle, github, gitlab
    #[arg(long, value_name = "PROVIDER", default_value = "appcircle")]
    pub provider: Provider,
    /// Send a sample event (fresh delivery id and time). Appcircle: build-started,
    /// build-succeeded, build-warning, build-failed, build-canceled, build-timeout,
    /// distribution, publish-succeeded, publish-rejected, enterprise, certificate-expiring.
    /// GitHub: workflow-requested, workflow-in-progress, workflow-succeeded, workflow-failed,
    /// workflow-cancelled, ping. GitLab: pipeline-running, pipeline-succeeded,
    /// pipeline-failed, pipeline-canceled
    #[arg(long, value_name = "EVENT")]
    pub sample: Option<String>,
    /// Sample's build profile name (GitHub: the repository, GitLab: the project)
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
    /// The delivery id (to test duplicates): the sample's deliveryId; for GitHub and GitLab
    /// the X-GitHub-Delivery / Idempotency-Key header, also of a --file
    #[arg(long)]
    pub delivery_id: Option<String>,
    /// With --file to GitHub or GitLab: the event header's value (X-GitHub-Event, default
    /// workflow_run; X-Gitlab-Event, default Pipeline Hook)
    #[arg(long, requires = "file")]
    pub event: Option<String>,
    /// Sample's taskId (to pair a build's start with its end; GitHub's and GitLab's run number)
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
    /// appcircle, github, gitlab
    #[arg(long, value_name = "PROVIDER")]
    pub provider: Option<Provider>,
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
    /// How many to list, at most 10000 (page on with --offset)
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Skip this many of the newest matches (for paging)
    #[arg(long, default_value_t = 0)]
    pub offset: u32,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
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
    /// How many to list, at most 10000 (page on with --offset)
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Skip this many of the newest matches (for paging)
    #[arg(long, default_value_t = 0)]
    pub offset: u32,
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
#[command(args_conflicts_with_subcommands = true)]
pub struct ChecksArgs {
    #[command(subcommand)]
    pub rules: Option<RulesCommand>,
    /// The commit: its SHA, or its first 7 or more hex digits; none: the recent commits
    pub commit: Option<String>,
    /// With no commit: only commits on this branch
    #[arg(long)]
    pub branch: Option<String>,
    /// With no commit: only commits of this repository (GitHub, GitLab) or Appcircle profile
    #[arg(long)]
    pub repository: Option<String>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Require these checks (as `gatehouse checks SHA` names them) of every commit on BRANCH
    /// (a name, or a pattern: `release/*`); replaces the rule for BRANCH, or adds it last
    /// (rules are tried in order: the first one matching a commit's branch applies)
    Require {
        branch: String,
        #[arg(required_unless_present = "clear")]
        checks: Vec<String>,
        /// Remove the rule for BRANCH (its commits then need every check that reported)
        #[arg(long, conflicts_with = "checks")]
        clear: bool,
    },
    /// List the rules, in the order they are tried
    Rules {
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// One commit's checks instead of the streams: 0 every required check passed, 1 one
    /// failed, 2 one is running or missing (or nothing reported for the commit)
    #[arg(long, value_name = "SHA", conflicts_with_all = ["provider", "profile", "branch"])]
    pub commit: Option<String>,
    /// Only this provider's streams (appcircle, github, gitlab)
    #[arg(long, value_name = "PROVIDER")]
    pub provider: Option<Provider>,
    /// Only this profile (id or name; a GitHub repository's workflow, a GitLab project)
    #[arg(long)]
    pub profile: Option<String>,
    /// Only this branch (id or name); builds only
    #[arg(long)]
    pub branch: Option<String>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Asking an inbox instead of the local store.
#[derive(clap::Args, Debug)]
pub struct RemoteArgs {
    /// Ask this inbox (its base URL) instead of the local store
    #[arg(long, value_name = "URL")]
    pub remote: Option<String>,
    /// With --remote: a file holding the token; else GATEHOUSE_TOKEN
    #[arg(long, value_name = "FILE", requires = "remote")]
    pub token_file: Option<PathBuf>,
}

impl RemoteArgs {
    /// The inbox to ask and its token, when --remote was given.
    fn inbox(&self) -> Result<Option<(String, String)>> {
        let Some(url) = &self.remote else {
            return Ok(None);
        };
        Ok(Some((
            crate::follow::inbox_url(url)?,
            crate::follow::token(self.token_file.as_deref())?,
        )))
    }
}

/// Runs one command: `serve` until it is stopped, the others once (their warnings only on
/// stderr, unless `RUST_LOG` says otherwise).
pub fn dispatch(command: Command, data_dir: &Path) -> Result<i32> {
    let command = match command {
        Command::Serve(a) => return crate::serve::run(data_dir, a),
        Command::Follow(a) => return crate::follow::run(data_dir, a),
        Command::Once(command) => *command,
    };
    logging::init_quiet();
    match command {
        OneShot::Send(a) => send(a),
        OneShot::Endpoint(c) => endpoint(&open(data_dir)?, c),
        OneShot::Events(a) if a.remote.remote.is_some() => remote_events(a),
        OneShot::Events(a) => events(&open(data_dir)?, a),
        OneShot::Requests(a) => requests(&open(data_dir)?, a),
        OneShot::Status(a) if a.commit.is_some() => commit_status(data_dir, a),
        OneShot::Status(a) if a.remote.remote.is_some() => remote_status(a),
        OneShot::Checks(a) => checks(data_dir, a),
        OneShot::Status(a) => status(&open(data_dir)?, a),
        OneShot::Token(c) => token(&open(data_dir)?, c),
        OneShot::Account(c) => crate::account::run(open(data_dir)?, c),
        OneShot::Export(a) => crate::export::export(&open(data_dir)?, a),
        OneShot::Backup(a) => crate::export::backup(&open(data_dir)?, a),
        OneShot::Completions { shell } => completions(shell),
        OneShot::Man { out } => man_pages(&out),
    }
}

/// Completions from the same definitions as the parser, so they never drift from it.
fn completions(shell: CompletionShell) -> Result<i32> {
    use clap::CommandFactory;
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(
        shell,
        &mut Args::command(),
        "gatehouse",
        &mut std::io::stdout(),
    );
    Ok(exit::OK)
}

/// gatehouse.1, and gatehouse-COMMAND.1 (gatehouse-endpoint-add.1, ...) for every command,
/// from the parser's own definitions.
fn man_pages(out: &Path) -> Result<i32> {
    use clap::CommandFactory;
    std::fs::create_dir_all(out)?;
    let mut written = 0;
    let mut pending = vec![("gatehouse".to_owned(), Args::command().version(VERSION))];
    while let Some((name, command)) = pending.pop() {
        for sub in command.get_subcommands() {
            if sub.get_name() != "help" {
                let sub = sub.clone().version(VERSION);
                pending.push((format!("{name}-{}", sub.get_name()), sub));
            }
        }
        let mut page = Vec::new();
        clap_mangen::Man::new(command.name(name.clone())).render(&mut page)?;
        std::fs::write(out.join(format!("{name}.1")), page)?;
        written += 1;
    }
    eprintln!("Wrote {written} manual pages to {}", out.display());
    Ok(exit::OK)
}

fn token(store: &Store, command: TokenCommand) -> Result<i32> {
    match command {
        TokenCommand::Add { name, admin, json } => {
            let role = if admin { Role::Admin } else { Role::Read };
            let (info, secret) = block_on(store.add_token(&name, role))??;
            if json {
                print::json(&serde_json::json!({"token": info, "secret": secret}))?;
            } else {
                eprintln!(
                    "Created {} token `{}`. It is shown once; only its hash is kept:",
                    info.role.as_str(),
                    info.name
                );
                println!("{secret}");
            }
        }
        TokenCommand::List { json } => {
            let list = store.tokens()?;
            if json {
                print::json(&list)?;
            } else {
                print::tokens(&list);
            }
        }
        TokenCommand::Revoke { name } => {
            block_on(store.revoke_token(&name))??;
            eprintln!("Revoked token `{name}`; its open streams close within seconds.");
        }
    }
    Ok(exit::OK)
}

fn open(data_dir: &Path) -> Result<Store> {
    Ok(Store::open_dir(data_dir)?)
}

/// Runs a store write from synchronous CLI code.
fn block_on<F: Future>(future: F) -> Result<F::Output> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(future))
}

/// The base URL deliveries reach, when a Gatehouse listens for this data directory now.
fn base_url(store: &Store) -> Option<String> {
    listening::running(store)
}

/// Said on stderr where a URL would be, when nothing listens.
fn not_listening(store: &Store) -> String {
    let configured = store
        .settings()
        .map(|s| s.listen)
        .unwrap_or_else(|_| gatehouse_core::settings::Settings::default().listen);
    format!(
        "No Gatehouse is listening for this data directory now (configured: {configured}); start one with `gatehouse serve` or the app."
    )
}

fn endpoint(store: &Store, command: EndpointCommand) -> Result<i32> {
    match command {
        EndpointCommand::Add {
            name,
            provider,
            secret,
            json,
        } => {
            let secret = SecretChoice::from_flag(secret.read()?)?;
            let info = block_on(store.add_endpoint_for(provider, &name, &secret.value))??;
            let url = base_url(store).map(|base| format!("{base}/hooks/{}", info.name));
            if json {
                let mut out = serde_json::json!({"endpoint": info, "url": url});
                secret.add_to(&mut out);
                print::json(&out)?;
            } else {
                match &url {
                    Some(url) => eprintln!("Created endpoint `{}`. Payload URL: {url}", info.name),
                    None => eprintln!(
                        "Created endpoint `{}`. Its payload URL ends in /hooks/{}. {}",
                        info.name,
                        info.name,
                        not_listening(store)
                    ),
                }
                secret.announce(match provider {
                    Provider::Appcircle => {
                        "Its secret (shown once; paste it into Appcircle's webhook form):"
                    }
                    Provider::Github => {
                        "Its secret (shown once; paste it as the webhook's Secret, content type application/json, events: Workflow runs):"
                    }
                    Provider::Gitlab => {
                        "Its secret token (shown once; paste it as the webhook's Secret token, triggers: Pipeline events, Job events):"
                    }
                });
            }
        }
        EndpointCommand::List { json } => {
            let list = store.endpoints()?;
            if json {
                print::json(&list)?;
            } else {
                let base = base_url(store);
                if base.is_none() && !list.is_empty() {
                    eprintln!("{}", not_listening(store));
                }
                print::endpoints(&list, base.as_deref());
            }
        }
        EndpointCommand::Remove { name } => {
            block_on(store.remove_endpoint(&name))??;
            eprintln!("Removed endpoint `{name}`; its history stays.");
        }
        EndpointCommand::Rotate { name, secret, json } => {
            let secret = SecretChoice::from_flag(secret.read()?)?;
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

/// `-15m`, `+2h`, `-30s`, `-1d` relative to now, or an absolute time. Out-of-range amounts
/// are refused rather than overflowing.
fn parse_time(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let bad = || {
        AppError::Invalid(format!(
            "`{s}` is not a time (use RFC 3339 or e.g. -15m, +2h)"
        ))
    };
    if let Some(rest) = s.strip_prefix(['-', '+']) {
        let unit = rest.chars().last().ok_or_else(bad)?;
        let digits = &rest[..rest.len() - unit.len_utf8()];
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        let n = if s.starts_with('-') {
            n.checked_neg().ok_or_else(bad)?
        } else {
            n
        };
        let d = match unit {
            's' => Duration::try_seconds(n),
            'm' => Duration::try_minutes(n),
            'h' => Duration::try_hours(n),
            'd' => Duration::try_days(n),
            _ => return Err(bad()),
        };
        let out_of_range = || {
            AppError::Invalid(format!(
                "`{s}` is too far from now (at most {MAX_RELATIVE_DAYS} days either way)"
            ))
        };
        let d = d
            .filter(|d| d.num_days().abs() <= MAX_RELATIVE_DAYS)
            .ok_or_else(out_of_range)?;
        return now.checked_add_signed(d).ok_or_else(out_of_range);
    }
    gatehouse_core::time::parse_liberal(s).ok_or_else(bad)
}

/// How far `--timestamp` may reach from now: enough for any test, far from chrono's limits.
const MAX_RELATIVE_DAYS: i64 = 365 * 100;

fn send(a: SendArgs) -> Result<i32> {
    let outgoing = match (&a.file, &a.sample) {
        (Some(path), _) => {
            let body = std::fs::read(path)
                .map_err(|e| AppError::Invalid(format!("cannot read {}: {e}", path.display())))?;
            samples::file(
                a.provider,
                body,
                a.event.as_deref(),
                a.delivery_id.as_deref(),
            )?
        }
        (None, Some(name)) => {
            let options = SampleOptions {
                profile: a.profile.clone(),
                branch: a.branch.clone(),
                message: a.message.clone(),
                timestamp: a
                    .timestamp
                    .as_deref()
                    .map(|t| parse_time(t, Clock::system().now()))
                    .transpose()?,
                delivery_id: a.delivery_id.clone(),
                task_id: a.task_id.clone(),
            };
            samples::outgoing(a.provider, name, &options)?
        }
        (None, None) => {
            return Err(AppError::Invalid(
                "say what to send: --file PAYLOAD.json or --sample EVENT".into(),
            ));
        }
    };
    let secret = a.secret.read()?.ok_or_else(|| {
        AppError::Invalid("give the endpoint's secret: --secret-file PATH or --secret -".into())
    })?;
    let sent = gatehouse_core::send::deliver_as(a.provider, &a.url, &secret, &outgoing)?;
    let code = sent.status_code;
    if a.json {
        print::json(&sent)?;
    } else {
        // The answer is whatever the remote server sent: shown as text, never acted on.
        let text = match &sent.response {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        println!(
            "{code} {}",
            gatehouse_core::text::neutralise(text.trim(), false)
        );
    }
    Ok(if (200..300).contains(&code) {
        exit::OK
    } else {
        1
    })
}

/// The events filter the flags describe.
fn event_query(a: &EventsArgs) -> EventQuery {
    EventQuery {
        provider: a.provider,
        task: None,
        scope: a.scope,
        outcome: a.outcome,
        profile: a.profile.clone(),
        branch: a.branch.clone(),
        endpoint: a.endpoint.clone(),
        text: a.search.clone(),
        since: a.since.clone(),
        until: a.until.clone(),
        limit: Some(page_size(a.limit)),
        offset: Some(a.offset),
    }
}

/// `events --remote`: the same list, asked of an inbox.
fn remote_events(a: EventsArgs) -> Result<i32> {
    let Some((url, token)) = a.remote.inbox()? else {
        return Err(AppError::Invalid("--remote is missing".into()));
    };
    let request = match &a.show {
        Some(ShowCommand::Show { id, .. }) => {
            serde_json::json!({"method": "event", "params": {"id": id}})
        }
        None => serde_json::json!({"method": "events", "params": {"query": event_query(&a)}}),
    };
    if let Some(ShowCommand::Show { json, .. }) = a.show {
        let event: gatehouse_core::store::EventRecord =
            gatehouse_core::follow::remote::call(&url, &token, &request)?;
        if json {
            print::json(&event)?;
        } else {
            print::event_detail(&event)?;
        }
        return Ok(exit::OK);
    }
    let page: gatehouse_core::api::EventPage =
        gatehouse_core::follow::remote::call(&url, &token, &request)?;
    if a.json {
        print::json(&page.events)?;
    } else {
        print::events(&page.events);
    }
    Ok(exit::OK)
}

/// A commit nothing reported for is pending (exit 2) with its message, not an error: a
/// release job may ask before the first check arrives.
fn commit_checks(
    data_dir: &Path,
    remote: &RemoteArgs,
    commit: &str,
) -> Result<Option<CommitChecks>> {
    let request = serde_json::json!({"method": "commit_checks", "params": {"commit": commit}});
    let asked = match remote.inbox()? {
        Some((url, token)) => gatehouse_core::follow::remote::call(&url, &token, &request),
        None => checks::for_commit(&open(data_dir)?, commit),
    };
    match asked {
        Ok(c) => Ok(Some(c)),
        Err(gatehouse_core::Error::NotFound(message)) => {
            eprintln!("gatehouse: {}", print::text(&message));
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

fn show_commit(c: &CommitChecks, json: bool) -> Result<()> {
    if json {
        print::json(c)
    } else {
        print::commit_checks(c);
        Ok(())
    }
}

/// `status --commit SHA`: that commit's checks as a gate.
fn commit_status(data_dir: &Path, a: StatusArgs) -> Result<i32> {
    let commit = a.commit.as_deref().unwrap_or_default();
    let Some(c) = commit_checks(data_dir, &a.remote, commit)? else {
        return Ok(CommitState::Pending.exit_code());
    };
    show_commit(&c, a.json)?;
    Ok(c.state.exit_code())
}

/// `checks [SHA]`, `checks require`, `checks rules`.
fn checks(data_dir: &Path, a: ChecksArgs) -> Result<i32> {
    match a.rules {
        Some(RulesCommand::Require {
            branch,
            checks,
            clear,
        }) => return require(&open(data_dir)?, branch, checks, clear),
        Some(RulesCommand::Rules { json }) => {
            let rules = open(data_dir)?.settings()?.required_checks;
            if json {
                print::json(&rules)?;
            } else {
                print::required_checks(&rules);
            }
            return Ok(exit::OK);
        }
        None => {}
    }
    if let Some(commit) = &a.commit {
        let Some(c) = commit_checks(data_dir, &a.remote, commit)? else {
            return Ok(CommitState::Pending.exit_code());
        };
        show_commit(&c, a.json)?;
        return Ok(exit::OK);
    }
    let list: Vec<CommitChecks> = match a.remote.inbox()? {
        Some((url, token)) => {
            let request = serde_json::json!({"method": "commits",
                "params": {"branch": a.branch, "repository": a.repository}});
            gatehouse_core::follow::remote::call(&url, &token, &request)?
        }
        None => {
            let filter = CommitFilter {
                branch: a.branch.as_deref(),
                repository: a.repository.as_deref(),
            };
            checks::recent(&open(data_dir)?, filter, COMMITS_SHOWN as usize)?
        }
    };
    if a.json {
        print::json(&list)?;
    } else {
        print::commits(&list);
    }
    Ok(exit::OK)
}

/// `checks require BRANCH CHECK...`: the rule for BRANCH replaced (or removed with --clear),
/// kept in the settings the window and `serve` read.
fn require(store: &Store, branch: String, checks: Vec<String>, clear: bool) -> Result<i32> {
    let mut settings = store.settings()?;
    let branch = branch.trim().to_owned();
    let at = settings
        .required_checks
        .iter()
        .position(|r| r.branch == branch);
    match (at, clear) {
        (Some(i), true) => {
            settings.required_checks.remove(i);
        }
        (None, true) => {
            return Err(AppError::Invalid(format!(
                "no rule for `{branch}` to clear"
            )));
        }
        (at, false) => {
            let rule = RequiredChecks {
                branch: branch.clone(),
                checks: checks.iter().map(|c| c.trim().to_owned()).collect(),
            };
            match at {
                Some(i) => settings.required_checks[i] = rule,
                None => settings.required_checks.push(rule),
            }
        }
    }
    let settings = settings.normalized()?;
    block_on(store.save_settings(&settings))??;
    print::required_checks(&settings.required_checks);
    Ok(exit::OK)
}

/// `status --remote`: the gate of an inbox, with the same exit codes.
fn remote_status(a: StatusArgs) -> Result<i32> {
    let Some((url, token)) = a.remote.inbox()? else {
        return Err(AppError::Invalid("--remote is missing".into()));
    };
    let filter = GateFilter {
        provider: a.provider,
        profile: a.profile,
        branch: a.branch,
    };
    let request = serde_json::json!({"method": "gate", "params": {"filter": filter}});
    let gate: gatehouse_core::rules::gate::Gate =
        gatehouse_core::follow::remote::call(&url, &token, &request)?;
    if a.json {
        print::json(&gate)?;
    } else {
        print::gate(&gate, Clock::system().now());
    }
    Ok(gate.state.exit_code())
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
    let query = event_query(&a);
    let list = store.events(&query)?;
    if a.json {
        print::json(&list)?;
    } else {
        print::events(&list);
    }
    let count = store.count_events(&query)?;
    let shown = a.offset as u64 + list.len() as u64;
    if count.total > shown || count.capped {
        let total = if count.capped {
            format!("more than {}", count.total)
        } else {
            count.total.to_string()
        };
        eprintln!(
            "Showing {}-{shown} of {total} matching events; see more with --offset {shown} (and --limit up to {MAX_LIMIT}).",
            a.offset as u64 + 1
        );
    }
    Ok(exit::OK)
}

/// `--limit`, held to what one query returns; saying so instead of silently cutting.
fn page_size(limit: u32) -> u32 {
    if limit > MAX_LIMIT {
        eprintln!(
            "gatehouse: --limit {limit} is over the {MAX_LIMIT} a page holds; listing {MAX_LIMIT} (page on with --offset)"
        );
    }
    limit.min(MAX_LIMIT)
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
                limit: Some(page_size(a.limit)),
                offset: Some(a.offset),
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
        provider: a.provider,
        profile: a.profile,
        branch: a.branch,
    };
    let gate = gate::evaluate(store.streams()?, &filter);
    if a.json {
        print::json(&gate)?;
    } else {
        print::gate(&gate, store.clock().now());
    }
    Ok(gate.state.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times() {
        // A fixed now: "-15m" is read against it, and an absolute time needs no now at all.
        let now = gatehouse_core::time::from_text("2028-02-29T23:50:00Z").expect("a fixed now");
        assert_eq!(
            parse_time("-15m", now).ok(),
            Some(now - Duration::minutes(15))
        );
        assert_eq!(parse_time("+2h", now).ok(), Some(now + Duration::hours(2)));
        assert!(parse_time("-15x", now).is_err());
        assert!(parse_time("2024-01-01T00:00:00Z", now).is_ok());
        for huge in [
            "+200000000000d",
            "-9223372036854775807s",
            "+100000000h",
            "+36501d",
        ] {
            let err = parse_time(huge, now).expect_err("out of range");
            assert!(err.to_string().contains("too far"), "{huge}: {err}");
        }
        assert!(parse_time("+36500d", now).is_ok());
        for malformed in ["--9223372036854775808s", "+-5m", "-+5m", "+5 m"] {
            assert!(parse_time(malformed, now).is_err(), "{malformed}");
        }
    }
}
