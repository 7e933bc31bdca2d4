//! Following an inbox: the stream of an always-on `gatehouse serve` (docs/INBOX.md) copied
//! into this machine's store, so History, the gate and the CLI work here, offline too.
//!
//! The position (the last seq applied) is stored with the rows it covers, so a crash or a
//! dropped connection resumes exactly after it: nothing twice, nothing missed. A connection
//! that goes quiet is given up after [`WATCHDOG`] (the inbox sends a heartbeat every 15 s);
//! one that fails is retried with exponential backoff and jitter; waking from sleep or a
//! change of network ([`crate::follow::wake`]) reconnects at once.

use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use ts_rs::TS;

use crate::credentials::TokenPlace;
use crate::follow::wake::Wake;
use crate::offload::blocking;
use crate::store::{Applied, Incoming, Store};
use crate::time::to_text;
use crate::{Error, Result};

/// No byte for this long (heartbeats included) and the connection is given up.
pub const WATCHDOG: Duration = Duration::from_secs(45);
/// Retries wait from this...
const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// ...doubling up to this.
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// Changes applied in one transaction while catching up.
const BATCH: usize = 200;

/// Where to follow from.
#[derive(Debug, Clone)]
pub struct Inbox {
    /// The inbox's base URL, `https://host:port` (the position is kept under it).
    pub url: String,
    pub token: String,
}

/// What the mirror is doing, as the dashboard header and the tray say it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "state", rename_all = "snake_case")]
#[ts(export)]
pub enum MirrorState {
    Connecting,
    CatchingUp {
        done: u64,
        of: u64,
    },
    UpToDate {
        since: String,
    },
    Offline {
        since: String,
        retry_in_secs: u64,
        reason: String,
    },
    TokenRefused {
        message: String,
    },
    /// No token is kept for the inbox (or the keyring cannot give it): nothing to connect with.
    NoToken {
        message: String,
    },
}

/// The inbox a desktop follows, as the dashboard header, Settings and the tray show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct InboxStatus {
    pub url: String,
    pub state: MirrorState,
    /// Where its token is kept; `None` before one is saved.
    pub token: Option<TokenPlace>,
    /// The state in one line ("Inbox ci.example.com: up to date"), the same in the window
    /// and the tray.
    pub headline: String,
}

impl InboxStatus {
    /// `now`: what "today" is for the times in the headline.
    pub fn new(
        url: &str,
        state: MirrorState,
        token: Option<TokenPlace>,
        now: DateTime<Utc>,
    ) -> InboxStatus {
        InboxStatus {
            headline: headline(url, &state, now),
            url: url.to_owned(),
            state,
            token,
        }
    }
}

/// "Inbox ci.example.com: up to date", "Catching up: 340 of 1,200", "Offline since 22:10,
/// retrying in 30 s", "Token refused". `now` says which day is today.
pub fn headline(url: &str, state: &MirrorState, now: DateTime<Utc>) -> String {
    let host = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split('/')
        .next()
        .unwrap_or(url);
    match state {
        MirrorState::Connecting => format!("Inbox {host}: connecting"),
        MirrorState::CatchingUp { done, of } => {
            format!("Catching up: {} of {}", grouped(*done), grouped(*of))
        }
        MirrorState::UpToDate { .. } => format!("Inbox {host}: up to date"),
        MirrorState::Offline {
            since,
            retry_in_secs,
            ..
        } => format!(
            "Offline since {}, retrying in {retry_in_secs} s",
            local_clock(since, now)
        ),
        MirrorState::TokenRefused { .. } => format!("Inbox {host}: token refused"),
        MirrorState::NoToken { .. } => format!("Inbox {host}: no token"),
    }
}

/// 1200 as "1,200".
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A stored UTC time as the local wall clock: "22:10" today, "Nov 28 22:10" before.
fn local_clock(utc: &str, now: DateTime<Utc>) -> String {
    let Some(t) = crate::time::from_text(utc) else {
        return utc.to_owned();
    };
    let local = t.with_timezone(&chrono::Local);
    if local.date_naive() == now.with_timezone(&chrono::Local).date_naive() {
        local.format("%H:%M").to_string()
    } else {
        local.format("%b %-d %H:%M").to_string()
    }
}

/// What the mirror tells its owner besides its state: for the catch-up summary and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// One batch was stored; `catch_up`: it was part of the backlog.
    Applied { applied: Applied, catch_up: bool },
    /// The backlog is stored, and every notice of it was broadcast before this report: what
    /// follows is live.
    CaughtUp,
}

/// One message of the stream.
#[derive(Debug)]
enum Message {
    Hello {
        newest: i64,
        log: String,
    },
    /// Everything stored was sent: from here on, changes are live.
    CaughtUp,
    Gap {
        resumes_at: i64,
    },
    Change(i64, Incoming),
}

/// How a connection ended.
enum Ended {
    Refused(String),
    Lost(String),
    Stopped,
    /// Reconnect without waiting: the machine woke from sleep, its network changed, or the
    /// inbox has another change log.
    Woke,
}

/// Follows `inbox` until `stop` turns true, publishing its state (kept even while nobody
/// watches: the desktop reads it when asked); each batch applied, and the end of each
/// backlog, is also reported on `reports` (for notifications and logs).
pub async fn follow(
    store: Arc<Store>,
    inbox: Inbox,
    state: watch::Sender<MirrorState>,
    reports: mpsc::UnboundedSender<Report>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = BACKOFF_MIN;
    // One for the whole follow, so that its network-change limit holds across connections.
    let mut wake = Wake::new();
    loop {
        state.send_replace(MirrorState::Connecting);
        let ended = connection(
            &store,
            &inbox,
            &state,
            &reports,
            &mut stop,
            &mut backoff,
            &mut wake,
        )
        .await;
        let (wait, reason) = match ended {
            Ended::Stopped => return,
            Ended::Woke => continue,
            Ended::Refused(message) => {
                state.send_replace(MirrorState::TokenRefused {
                    message: message.clone(),
                });
                (BACKOFF_MAX, message)
            }
            Ended::Lost(reason) => (jitter(backoff), reason),
        };
        tracing::warn!(
            "inbox {}: {reason}; retrying in {}s",
            inbox.url,
            wait.as_secs()
        );
        if !matches!(*state.borrow(), MirrorState::TokenRefused { .. }) {
            state.send_replace(MirrorState::Offline {
                since: to_text(store.clock().now()),
                retry_in_secs: wait.as_secs(),
                reason,
            });
        }
        if sleep_or_wake(wait, &mut stop, &mut wake).await {
            return;
        }
        backoff = next_backoff(backoff);
    }
}

/// The wait after the next failure: twice this one, at most [`BACKOFF_MAX`] (1, 2, 4, … 60 s).
fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(BACKOFF_MAX)
}

/// ±20% around `d`, so that many desktops do not reconnect in step after an inbox restart.
fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 2];
    let spread = if getrandom::fill(&mut b).is_ok() {
        f64::from(u16::from_le_bytes(b)) / f64::from(u16::MAX)
    } else {
        0.5
    };
    d.mul_f64(0.8 + 0.4 * spread)
}

/// Waits `wait`; returns early (false) when the machine wakes from sleep or its network
/// changes, true when stopped.
async fn sleep_or_wake(wait: Duration, stop: &mut watch::Receiver<bool>, wake: &mut Wake) -> bool {
    let until = Instant::now() + wait;
    while Instant::now() < until {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1).min(until - Instant::now())) => {}
            _ = stop.changed() => return true,
        }
        if *stop.borrow() {
            return true;
        }
        if let Some(moved) = wake.check() {
            tracing::info!("{}: reconnecting now", moved.describe());
            return false;
        }
    }
    false
}

/// One connection: from the stored position to whenever it ends.
async fn connection(
    store: &Arc<Store>,
    inbox: &Inbox,
    state: &watch::Sender<MirrorState>,
    reports: &mpsc::UnboundedSender<Report>,
    stop: &mut watch::Receiver<bool>,
    backoff: &mut Duration,
    wake: &mut Wake,
) -> Ended {
    let position = {
        let (store, url) = (store.clone(), inbox.url.clone());
        match blocking(move || store.mirror_position(&url)).await {
            Ok(p) => p,
            Err(e) => return Ended::Lost(format!("the local store: {e}")),
        }
    };
    // Bounded in messages; each may hold a payload as large as the inbox's body limit.
    let (messages, mut incoming) = mpsc::channel::<std::result::Result<Message, Ended>>(BATCH);
    let (url, token) = (inbox.url.clone(), inbox.token.clone());
    // Blocking reads on a thread of their own; a connection given up (on waking) is left to
    // end by itself: its next send fails or the watchdog's read timeout ends it.
    std::thread::spawn(move || read_stream(&url, &token, position, WATCHDOG, messages));
    let mut start: Option<(i64, i64)> = None; // (position at hello, newest at hello)
    let mut last = position;
    // Every change before the inbox's `caught_up` is backlog.
    let mut catch_up = true;
    let mut clock = tokio::time::interval(Duration::from_secs(1));
    loop {
        let first = tokio::select! {
            m = incoming.recv() => m,
            _ = stop.changed() => return Ended::Stopped,
            _ = clock.tick() => {
                if let Some(moved) = wake.check() {
                    tracing::info!("inbox {}: {}, reconnecting now", inbox.url, moved.describe());
                    return Ended::Woke;
                }
                continue;
            }
        };
        let mut batch = Vec::new();
        let mut next = first;
        loop {
            match next {
                None => return Ended::Lost("the connection ended".into()),
                Some(Err(ended)) => {
                    if !batch.is_empty() {
                        // Keep what arrived before the end.
                        if let Err(e) =
                            apply(store, inbox, batch, &mut last, catch_up, reports).await
                        {
                            return Ended::Lost(format!("could not store what arrived: {e}"));
                        }
                    }
                    return ended;
                }
                Some(Ok(Message::Hello { newest, log })) => {
                    *backoff = BACKOFF_MIN;
                    match store.begin_mirror(&inbox.url, &log, newest).await {
                        Ok(from) if from != last => {
                            // Another log: this connection started from the wrong place.
                            return Ended::Woke;
                        }
                        Ok(_) => {}
                        Err(e) => return Ended::Lost(format!("the local store: {e}")),
                    }
                    start = Some((last, newest));
                    tracing::info!("inbox {}: connected at {last}, newest {newest}", inbox.url);
                }
                Some(Ok(Message::CaughtUp)) => {
                    let backlog = std::mem::take(&mut batch);
                    if !backlog.is_empty()
                        && let Err(e) = apply(store, inbox, backlog, &mut last, true, reports).await
                    {
                        return Ended::Lost(format!("could not store what arrived: {e}"));
                    }
                    catch_up = false;
                    let _ = reports.send(Report::CaughtUp);
                    // The newest changes may have been left out (expired): up to date anyway.
                    start = start.map(|(from, _)| (from, last));
                }
                Some(Ok(Message::Gap { resumes_at })) => {
                    tracing::warn!(
                        "inbox {}: changes {}..{} were pruned there before they reached this machine",
                        inbox.url,
                        last + 1,
                        resumes_at - 1
                    );
                    if let Err(e) = store.skip_mirror_to(&inbox.url, resumes_at - 1).await {
                        return Ended::Lost(format!("the local store: {e}"));
                    }
                    last = last.max(resumes_at - 1);
                }
                Some(Ok(Message::Change(seq, change))) => batch.push((seq, change)),
            }
            if batch.len() >= BATCH {
                break;
            }
            next = match incoming.try_recv() {
                Ok(m) => Some(m),
                Err(_) => break,
            };
        }
        if !batch.is_empty()
            && let Err(e) = apply(store, inbox, batch, &mut last, catch_up, reports).await
        {
            return Ended::Lost(format!("could not store what arrived: {e}"));
        }
        let next = match start {
            Some((from, newest)) if last < newest => MirrorState::CatchingUp {
                done: (last - from).max(0) as u64,
                of: (newest - from).max(0) as u64,
            },
            Some(_) => MirrorState::UpToDate {
                since: to_text(store.clock().now()),
            },
            None => MirrorState::Connecting,
        };
        // Watchers (the window, the tray) hear of a change, not of every live batch; up to
        // date keeps the time it became so.
        state.send_if_modified(|now| {
            let same = match (&*now, &next) {
                (MirrorState::UpToDate { .. }, MirrorState::UpToDate { .. }) => true,
                (a, b) => a == b,
            };
            if !same {
                *now = next;
            }
            !same
        });
    }
}

/// Applies one batch, moves `last` on and reports what it did.
async fn apply(
    store: &Arc<Store>,
    inbox: &Inbox,
    batch: Vec<(i64, Incoming)>,
    last: &mut i64,
    catch_up: bool,
    reports: &mpsc::UnboundedSender<Report>,
) -> Result<()> {
    let applied = store.apply_mirrored(&inbox.url, batch, catch_up).await?;
    *last = applied.last_seq;
    let _ = reports.send(Report::Applied { applied, catch_up });
    Ok(())
}

/// Reads the stream (blocking) and sends each message on; ends by sending why it ended. No
/// byte for `watchdog` (the heartbeats included) ends it too.
fn read_stream(
    url: &str,
    token: &str,
    after: i64,
    watchdog: Duration,
    messages: mpsc::Sender<std::result::Result<Message, Ended>>,
) {
    let agent = crate::outbound::agent()
        .timeout_connect(Duration::from_secs(10))
        .timeout_read(watchdog)
        .build();
    let response = agent
        .get(&format!("{}/api/v1/stream", url.trim_end_matches('/')))
        .set("Authorization", &format!("Bearer {token}"))
        .set("Last-Event-ID", &after.to_string())
        .call();
    let response = match response {
        Ok(r) => r,
        Err(ureq::Error::Status(code @ (401 | 403 | 404), r)) => {
            let message = r
                .into_string()
                .ok()
                .and_then(|t| crate::json::value(&t).ok())
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| format!("HTTP {code}"));
            let _ =
                messages.blocking_send(Err(Ended::Refused(format!("token refused: {message}"))));
            return;
        }
        Err(ureq::Error::Status(code, _)) => {
            let _ =
                messages.blocking_send(Err(Ended::Lost(format!("the inbox answered HTTP {code}"))));
            return;
        }
        Err(e) => {
            let _ =
                messages.blocking_send(Err(Ended::Lost(format!("cannot reach the inbox: {e}"))));
            return;
        }
    };
    let mut reader = BufReader::new(response.into_reader());
    let (mut id, mut kind, mut data) = (None::<i64>, String::new(), String::new());
    let mut line = String::new();
    loop {
        // The connection was given up (stop, wake, another log): end this one too, even on a
        // quiet stream whose heartbeats would otherwise keep it open.
        if messages.is_closed() {
            return;
        }
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => {
                let _ =
                    messages.blocking_send(Err(Ended::Lost("the inbox closed the stream".into())));
                return;
            }
            Err(e) => {
                let why = if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) {
                    format!("nothing arrived for {}s", watchdog.as_secs())
                } else {
                    format!("the connection failed: {e}")
                };
                let _ = messages.blocking_send(Err(Ended::Lost(why)));
                return;
            }
            Ok(_) => {}
        }
        let text = line.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if kind.is_empty() && data.is_empty() {
                continue;
            }
            let message = parse(
                id.take(),
                &std::mem::take(&mut kind),
                &std::mem::take(&mut data),
            );
            match message {
                Ok(Some(m)) => {
                    if messages.blocking_send(Ok(m)).is_err() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    let _ = messages.blocking_send(Err(Ended::Lost(format!(
                        "the inbox sent something unexpected: {e}"
                    ))));
                    return;
                }
            }
        } else if let Some(v) = text.strip_prefix("id:") {
            id = v.trim().parse().ok();
        } else if let Some(v) = text.strip_prefix("event:") {
            kind = v.trim().to_owned();
        } else if let Some(v) = text.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
        // Comments (heartbeats) only feed the watchdog.
    }
}

/// One message of the stream; `None` for kinds this version does not know (skipped, so an
/// older desktop keeps following a newer inbox).
fn parse(id: Option<i64>, kind: &str, data: &str) -> Result<Option<Message>> {
    let json = |what: &str| -> Result<serde_json::Value> {
        crate::json::value(data)
            .map_err(|e| Error::Invalid(format!("a `{what}` message is not JSON: {e}")))
    };
    let seq = || id.ok_or_else(|| Error::Invalid(format!("a `{kind}` message has no id")));
    Ok(Some(match kind {
        "hello" => {
            let hello = json(kind)?;
            Message::Hello {
                newest: hello["newest"].as_i64().unwrap_or(0),
                log: hello["log"].as_str().unwrap_or_default().to_owned(),
            }
        }
        "gap" => Message::Gap {
            resumes_at: json(kind)?["resumes_at"]
                .as_i64()
                .ok_or_else(|| Error::Invalid("a `gap` message without `resumes_at`".into()))?,
        },
        "event" => Message::Change(
            seq()?,
            Incoming::Event(Box::new(crate::json::read(data).map_err(|e| {
                Error::Invalid(format!("an `event` message does not hold an event: {e}"))
            })?)),
        ),
        "request" => Message::Change(
            seq()?,
            Incoming::Request(Box::new(crate::json::read(data).map_err(|e| {
                Error::Invalid(format!("a `request` message does not hold a request: {e}"))
            })?)),
        ),
        "caught_up" => Message::CaughtUp,
        "endpoints" | "settings" => Message::Change(seq()?, Incoming::Other),
        other => {
            tracing::debug!("skipping a stream message of unknown kind `{other}`");
            return Ok(None);
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headlines_say_the_state_in_one_line() {
        // A fixed time: the headline names the day only when it is not today's.
        let now = crate::time::from_text("2026-02-28T23:30:00Z").expect("a fixed now");
        let url = "https://ci.example.com:8473";
        assert_eq!(
            headline(url, &MirrorState::UpToDate { since: "x".into() }, now),
            "Inbox ci.example.com:8473: up to date"
        );
        assert_eq!(
            headline(
                url,
                &MirrorState::CatchingUp {
                    done: 340,
                    of: 1200
                },
                now
            ),
            "Catching up: 340 of 1,200"
        );
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(999), "999");
        let offline = |at: DateTime<Utc>| {
            headline(
                url,
                &MirrorState::Offline {
                    since: to_text(now),
                    retry_in_secs: 30,
                    reason: "refused".into(),
                },
                at,
            )
        };
        let today = offline(now);
        assert!(
            today.starts_with("Offline since ") && today.ends_with(", retrying in 30 s"),
            "{today}"
        );
        let clock = |line: &str| {
            line["Offline since ".len()..line.len() - ", retrying in 30 s".len()].to_owned()
        };
        let local = now.with_timezone(&chrono::Local);
        assert_eq!(
            clock(&today),
            local.format("%H:%M").to_string(),
            "today is HH:MM"
        );
        assert_eq!(
            clock(&offline(now + chrono::Duration::days(2))),
            local.format("%b %-d %H:%M").to_string(),
            "an earlier day is named"
        );
        assert_eq!(
            headline(
                url,
                &MirrorState::TokenRefused {
                    message: "m".into()
                },
                now
            ),
            "Inbox ci.example.com:8473: token refused"
        );
    }

    #[test]
    fn the_backoff_doubles_from_one_second_up_to_a_minute() {
        let mut waits = vec![BACKOFF_MIN];
        while waits.len() < 9 {
            waits.push(next_backoff(*waits.last().expect("one")));
        }
        let secs: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    /// A fake inbox that answers the stream's request with `body`, written a piece at a time
    /// `every` apart, then keeps the connection open and silent for `quiet`.
    fn fake_stream(pieces: Vec<&'static str>, every: Duration, quiet: Duration) -> String {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().expect("accept");
            let mut request = [0u8; 1024];
            let _ = conn.read(&mut request);
            let _ = conn.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n",
            );
            for piece in pieces {
                let _ = conn.write_all(piece.as_bytes());
                std::thread::sleep(every);
            }
            std::thread::sleep(quiet);
        });
        url
    }

    /// How `read_stream` ended against `url`, with a watchdog of `watchdog`.
    fn how_it_ended(url: &str, watchdog: Duration) -> String {
        let (messages, mut incoming) = mpsc::channel(16);
        let url = url.to_owned();
        std::thread::spawn(move || read_stream(&url, "gh_inbox_t", 0, watchdog, messages));
        loop {
            match incoming.blocking_recv() {
                Some(Ok(_)) => continue,
                Some(Err(Ended::Lost(why))) => return why,
                Some(Err(_)) => return "refused or stopped".into(),
                None => return "the reader vanished".into(),
            }
        }
    }

    #[test]
    fn a_silent_stream_is_given_up_after_the_watchdog() {
        let url = fake_stream(
            vec!["event: hello\ndata: {\"newest\":0,\"oldest\":1,\"log\":\"l\"}\n\n"],
            Duration::ZERO,
            Duration::from_secs(30),
        );
        let why = how_it_ended(&url, Duration::from_secs(1));
        assert_eq!(why, "nothing arrived for 1s");
    }

    #[test]
    fn heartbeats_keep_a_quiet_stream_open_past_the_watchdog() {
        // Eight heartbeats 400 ms apart: 3.2 s of a stream that is quiet but for them, with a
        // 1 s watchdog. It ends only when the fake closes it.
        let url = fake_stream(
            vec![": heartbeat\n\n"; 8],
            Duration::from_millis(400),
            Duration::ZERO,
        );
        let why = how_it_ended(&url, Duration::from_secs(1));
        assert_eq!(why, "the inbox closed the stream");
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        for _ in 0..100 {
            let d = jitter(Duration::from_secs(10));
            assert!(
                d >= Duration::from_secs(8) && d <= Duration::from_secs(12),
                "{d:?}"
            );
        }
    }

    #[test]
    fn messages_parse_and_unknown_kinds_are_skipped() {
        assert!(matches!(
            parse(None, "hello", r#"{"newest":7,"oldest":1,"log":"ab"}"#),
            Ok(Some(Message::Hello { newest: 7, log })) if log == "ab"
        ));
        assert!(matches!(
            parse(None, "gap", r#"{"after":0,"resumes_at":4}"#),
            Ok(Some(Message::Gap { resumes_at: 4 }))
        ));
        assert!(matches!(
            parse(Some(3), "settings", r#"{"seq":3}"#),
            Ok(Some(Message::Change(3, Incoming::Other)))
        ));
        assert!(matches!(parse(Some(3), "future_kind", "{}"), Ok(None)));
        assert!(parse(None, "event", "{}").is_err(), "a change needs its id");
        assert!(
            parse(Some(1), "event", r#"{"id":1}"#).is_err(),
            "and its record"
        );
    }
}
