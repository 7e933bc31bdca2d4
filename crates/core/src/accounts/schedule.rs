//! When an account is read next: the one schedule every account keeps (Appcircle's,
//! GitHub's, GitLab's). A poller is only as quick as its interval, and only as welcome as
//! its request count, so the interval follows what is happening:
//!
//! - every [`RUNNING`] (15 s) while a run of the account is running or queued, so that its
//!   end is shown within seconds with no webhook at all;
//! - every [`AFTER_CHANGE`] (60 s) for [`CHANGE_SPELL`] (10 minutes) after a read found
//!   news, when the next run often follows;
//! - every [`IDLE`] (5 minutes) otherwise;
//! - and, while webhooks of the account arrive, [`WEBHOOK_QUIET`] (10 minutes) after the
//!   last one: webhooks deliver already, and the read only fills what they missed.
//!
//! Reads come at once at start, on connect, on "Sync now", at wake and after a network
//! change (the caller asks). A failed read is tried again after 1 minute, doubling up to
//! [`IDLE`]; a rate limit's reset is waited for.

use std::time::Duration;

use tokio::time::Instant;

pub const RUNNING: Duration = Duration::from_secs(15);
pub const AFTER_CHANGE: Duration = Duration::from_secs(60);
pub const CHANGE_SPELL: Duration = Duration::from_secs(600);
pub const IDLE: Duration = Duration::from_secs(300);
pub const WEBHOOK_QUIET: Duration = Duration::from_secs(600);
/// The first wait after a failed read; it doubles up to [`IDLE`].
const RETRY_FIRST: Duration = Duration::from_secs(60);

/// What a read found, for the schedule.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOutcome {
    pub ok: bool,
    /// A run of the account is running or queued.
    pub running: bool,
    /// The read stored news.
    pub changed: bool,
    /// No request may be made before this (a rate limit).
    pub hold_until: Option<Instant>,
}

#[derive(Debug)]
pub struct Schedule {
    /// `None`: nothing to read (no account); only a connection starts one.
    due: Option<Instant>,
    failures: u32,
    changed_at: Option<Instant>,
    webhook_at: Option<Instant>,
    /// The last successful read saw a run running.
    running: bool,
}

impl Default for Schedule {
    /// Due at once: the read at start.
    fn default() -> Self {
        Schedule {
            due: Some(Instant::now()),
            failures: 0,
            changed_at: None,
            webhook_at: None,
            running: false,
        }
    }
}

impl Schedule {
    pub fn is_due(&self, now: Instant) -> bool {
        self.due.is_some_and(|d| d <= now)
    }

    /// When the next read is due, if one is.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    /// A read now (connect, "Sync now", wake, a network change).
    pub fn now(&mut self, now: Instant) {
        self.due = Some(now);
    }

    /// No account: nothing is due until one is connected.
    pub fn idle(&mut self) {
        self.due = None;
        self.failures = 0;
    }

    /// After a read: the next one as the module's rules say.
    pub fn read(&mut self, outcome: ReadOutcome, now: Instant) {
        let next = if outcome.ok {
            self.failures = 0;
            self.running = outcome.running;
            if outcome.changed {
                self.changed_at = Some(now);
            }
            now + self.interval(now)
        } else {
            self.failures = self.failures.saturating_add(1);
            let wait = RETRY_FIRST.saturating_mul(1 << (self.failures - 1).min(4));
            now + wait.min(IDLE)
        };
        self.due = Some(match outcome.hold_until {
            Some(hold) => next.max(hold),
            None => next,
        });
    }

    /// How long after a successful read the next is due.
    fn interval(&self, now: Instant) -> Duration {
        if self
            .webhook_at
            .is_some_and(|w| now.saturating_duration_since(w) < WEBHOOK_QUIET)
        {
            let since = self
                .webhook_at
                .map_or(Duration::ZERO, |w| now.saturating_duration_since(w));
            return WEBHOOK_QUIET - since;
        }
        if self.running {
            RUNNING
        } else if self
            .changed_at
            .is_some_and(|c| now.saturating_duration_since(c) < CHANGE_SPELL)
        {
            AFTER_CHANGE
        } else {
            IDLE
        }
    }

    /// A webhook of the account arrived: the next read waits for a quiet spell after it (a
    /// failed read's retry is not put off).
    pub fn webhook(&mut self, now: Instant) {
        self.webhook_at = Some(now);
        if self.failures == 0
            && let Some(due) = &mut self.due
        {
            *due = (*due).max(now + WEBHOOK_QUIET);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(running: bool, changed: bool) -> ReadOutcome {
        ReadOutcome {
            ok: true,
            running,
            changed,
            hold_until: None,
        }
    }

    fn wait(s: &Schedule, from: Instant) -> u64 {
        (s.due.expect("due") - from).as_secs()
    }

    #[test]
    fn reads_every_15_s_while_running_60_s_after_a_change_then_5_minutes() {
        let mut s = Schedule::default();
        let start = Instant::now();
        assert!(s.is_due(start), "at start");
        s.read(ok(true, true), start);
        assert_eq!(wait(&s, start), 15, "running");
        // The run ended (news): a minute for 10 minutes.
        let t = start + Duration::from_secs(15);
        s.read(ok(false, true), t);
        assert_eq!(wait(&s, t), 60);
        let t2 = t + Duration::from_secs(540);
        s.read(ok(false, false), t2);
        assert_eq!(wait(&s, t2), 60, "still within the 10 minutes");
        let t3 = t + Duration::from_secs(600);
        s.read(ok(false, false), t3);
        assert_eq!(wait(&s, t3), 300, "idle");
        // No account: nothing is due until one is connected.
        s.idle();
        assert!(!s.is_due(t3 + Duration::from_secs(100_000)));
        s.now(t3);
        assert!(s.is_due(t3));
    }

    #[test]
    fn a_webhook_slows_the_reads_down_for_ten_minutes() {
        let start = Instant::now();
        let mut s = Schedule::default();
        s.read(ok(true, true), start);
        assert_eq!(wait(&s, start), 15);
        s.webhook(start + Duration::from_secs(5));
        assert_eq!(wait(&s, start), 605, "10 minutes after the webhook");
        // Even while a run is running, webhooks tell its end.
        let t = start + Duration::from_secs(605);
        s.read(ok(true, false), t);
        assert_eq!(wait(&s, t), 15, "the webhooks went quiet");
        let mut s = Schedule::default();
        s.webhook(start);
        s.read(ok(true, false), start + Duration::from_secs(60));
        assert_eq!(wait(&s, start), 600);
    }

    #[test]
    fn a_failed_read_is_retried_after_1_2_4_then_every_5_minutes() {
        let start = Instant::now();
        let mut s = Schedule::default();
        let mut waits = Vec::new();
        for _ in 0..5 {
            s.read(ReadOutcome::default(), start);
            waits.push(wait(&s, start) / 60);
        }
        assert_eq!(waits, [1, 2, 4, 5, 5]);
        // A webhook does not put a retry off.
        s.webhook(start);
        assert_eq!(wait(&s, start) / 60, 5);
        s.read(ok(false, false), start);
        assert_eq!(s.failures, 0);
    }

    #[test]
    fn a_rate_limit_is_waited_for() {
        let start = Instant::now();
        let mut s = Schedule::default();
        s.read(
            ReadOutcome {
                hold_until: Some(start + Duration::from_secs(1800)),
                ..ok(true, false)
            },
            start,
        );
        assert_eq!(wait(&s, start), 1800);
    }
}
