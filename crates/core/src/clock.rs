//! "Now", as every rule that depends on it reads it: how long a build may run, expiry
//! reminders, retention, sessions, the replay window, quiet hours, "how long ago".
//!
//! Production code reads the system's clock through a [`Clock`]; a test makes one that
//! stands where it says and moves only when its [`ClockHand`] moves it. A clock is handed in
//! where the store is opened ([`crate::store::StoreOptions::clock`]) and everything built on
//! the store reads the store's: never a global, so two tests in one process can stand at
//! different times, and a suite passes on any date.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, Local, Utc};

/// Where "now" comes from. Cheap to clone: clones read the same time.
#[derive(Clone, Default)]
pub struct Clock {
    /// `None`: the system's clock. `Some`: nanoseconds since the Unix epoch (1677 to 2262),
    /// set by a hand.
    set: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system's clock: what every production path uses.
    pub fn system() -> Clock {
        Clock { set: None }
    }

    /// A clock that stands at `at` until its hand moves it (tests). Only the hand can move
    /// it, so code that is handed a `Clock` can read it and nothing more.
    pub fn manual(at: DateTime<Utc>) -> (Clock, ClockHand) {
        let nanos = Arc::new(AtomicI64::new(to_nanos(at)));
        (
            Clock {
                set: Some(nanos.clone()),
            },
            ClockHand(nanos),
        )
    }

    pub fn now(&self) -> DateTime<Utc> {
        match &self.set {
            None => Utc::now(),
            Some(nanos) => from_nanos(nanos.load(Ordering::SeqCst)),
        }
    }

    /// Now in this machine's time zone (quiet hours are the user's local hours).
    pub fn now_local(&self) -> DateTime<Local> {
        self.now().with_timezone(&Local)
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.set {
            None => f.write_str("Clock(system)"),
            Some(_) => write!(f, "Clock(manual at {})", crate::time::to_text(self.now())),
        }
    }
}

/// Moves a [`Clock::manual`] clock and every clone of it.
#[derive(Clone)]
pub struct ClockHand(Arc<AtomicI64>);

impl ClockHand {
    pub fn set(&self, at: DateTime<Utc>) {
        self.0.store(to_nanos(at), Ordering::SeqCst);
    }

    pub fn advance(&self, by: Duration) {
        let by = by.num_nanoseconds().unwrap_or(i64::MAX);
        self.0.fetch_add(by, Ordering::SeqCst);
    }

    pub fn now(&self) -> DateTime<Utc> {
        from_nanos(self.0.load(Ordering::SeqCst))
    }
}

/// A manual clock's range is that of nanoseconds in an i64; a time outside it is clamped.
fn to_nanos(at: DateTime<Utc>) -> i64 {
    at.timestamp_nanos_opt().unwrap_or(if at.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

fn from_nanos(nanos: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_stands_still_until_its_hand_moves_it() {
        let at = Utc::now() - Duration::days(400);
        let (clock, hand) = Clock::manual(at);
        let copy = clock.clone();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(clock.now(), at);
        hand.advance(Duration::hours(25));
        assert_eq!(copy.now(), at + Duration::hours(25), "clones move together");
        hand.set(at);
        assert_eq!(clock.now(), at);
    }

    #[test]
    fn the_system_clock_is_the_systems() {
        let before = Utc::now();
        let read = Clock::system().now();
        assert!(read >= before && read <= Utc::now());
    }
}
