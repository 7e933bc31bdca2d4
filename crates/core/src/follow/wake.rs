//! Signs that an open connection is probably dead and worth redoing at once rather than at
//! the next retry or when the watchdog fires: the machine slept (the wall clock ran ahead of
//! the monotonic clock, which stops during sleep), or its network addresses changed (another
//! Wi-Fi, a VPN up or down, a cable unplugged). Looked at once a second by the mirror.

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

/// The wall clock moving this much further than the monotonic one means the machine slept.
const WAKE_JUMP: Duration = Duration::from_secs(5);
/// At most one reconnect for a network change this often: interfaces that churn (a flapping
/// link, containers starting) must not become a reconnect every second.
const NETWORK_SETTLE: Duration = Duration::from_secs(10);

/// Why a connection should be redone now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    Slept,
    NetworkChanged,
}

impl Moved {
    pub fn describe(self) -> &'static str {
        match self {
            Moved::Slept => "woke from sleep",
            Moved::NetworkChanged => "the network changed",
        }
    }
}

/// The last look at the clocks and the addresses.
#[derive(Debug)]
pub struct Wake {
    wall: SystemTime,
    mono: Instant,
    addresses: Vec<IpAddr>,
    /// When a network change was last reported.
    reported: Option<Instant>,
}

impl Default for Wake {
    fn default() -> Self {
        Wake::new()
    }
}

impl Wake {
    pub fn new() -> Wake {
        Wake {
            wall: SystemTime::now(),
            mono: Instant::now(),
            addresses: addresses(),
            reported: None,
        }
    }

    /// Whether anything moved since the last look; remembers this one.
    pub fn check(&mut self) -> Option<Moved> {
        self.check_with(SystemTime::now(), Instant::now(), addresses())
    }

    fn check_with(
        &mut self,
        wall: SystemTime,
        mono: Instant,
        addresses: Vec<IpAddr>,
    ) -> Option<Moved> {
        let wall_passed = wall.duration_since(self.wall).unwrap_or_default();
        let mono_passed = mono.duration_since(self.mono);
        self.wall = wall;
        self.mono = mono;
        let slept = wall_passed > mono_passed + WAKE_JUMP;
        let settled = self
            .reported
            .is_none_or(|at| mono.duration_since(at) >= NETWORK_SETTLE);
        // Within the settling time the old list is kept, so a change then is reported after.
        let changed = addresses != self.addresses && settled;
        if changed || slept {
            self.addresses = addresses;
        }
        if slept {
            Some(Moved::Slept)
        } else if changed {
            self.reported = Some(mono);
            Some(Moved::NetworkChanged)
        } else {
            None
        }
    }
}

/// The addresses a change of network changes: this machine's interface addresses without
/// loopback and link-local ones (which every interface has, and containers come and go
/// with), sorted. Empty where they cannot be listed: then only sleep is detected.
pub fn addresses() -> Vec<IpAddr> {
    interface_addresses()
        .into_iter()
        .filter(|a| match a {
            IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_link_local(),
            IpAddr::V6(v6) => !v6.is_loopback() && !v6.is_unicast_link_local(),
        })
        .collect()
}

/// Every interface address, sorted (getifaddrs).
#[cfg(unix)]
fn interface_addresses() -> Vec<IpAddr> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    let mut found = Vec::new();
    // SAFETY: getifaddrs fills `list` with a linked list we free below with freeifaddrs;
    // each node is read only while the list is alive, and only through its own pointers;
    // an address is cast to sockaddr_in(6) only after its family says it is one.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return found;
        }
        let mut node = list;
        while !node.is_null() {
            let addr = (*node).ifa_addr;
            if !addr.is_null() {
                match i32::from((*addr).sa_family) {
                    libc::AF_INET => {
                        let v4 = &*(addr as *const libc::sockaddr_in);
                        found.push(IpAddr::from(u32::from_be(v4.sin_addr.s_addr).to_be_bytes()));
                    }
                    libc::AF_INET6 => {
                        let v6 = &*(addr as *const libc::sockaddr_in6);
                        found.push(IpAddr::from(v6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            node = (*node).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    found.sort();
    found.dedup();
    found
}

#[cfg(not(unix))]
fn interface_addresses() -> Vec<IpAddr> {
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interfaces_are_listed_and_only_lasting_addresses_count() {
        let all = interface_addresses();
        assert!(
            all.iter().any(IpAddr::is_loopback),
            "at least the loopback address: {all:?}"
        );
        let counted = addresses();
        assert!(counted.iter().all(|a| !a.is_loopback()), "{counted:?}");
        assert!(counted.iter().all(|a| all.contains(a)));
    }

    #[test]
    fn sleep_and_a_new_address_are_noticed_once() {
        let (wall, mono) = (SystemTime::now(), Instant::now());
        let home: Vec<IpAddr> = vec![
            "127.0.0.1".parse().expect("ip"),
            "192.168.1.20".parse().expect("ip"),
        ];
        let mut wake = Wake {
            wall,
            mono,
            addresses: home.clone(),
            reported: None,
        };
        let second = Duration::from_secs(1);
        assert_eq!(
            wake.check_with(wall + second, mono + second, home.clone()),
            None
        );
        // Ten minutes of wall clock in one second of monotonic time: the lid was closed.
        let later = wall + second + Duration::from_secs(600);
        assert_eq!(
            wake.check_with(later, mono + 2 * second, home.clone()),
            Some(Moved::Slept)
        );
        assert_eq!(
            wake.check_with(later + second, mono + 3 * second, home.clone()),
            None
        );
        let office = vec![
            "127.0.0.1".parse().expect("ip"),
            "10.0.4.7".parse().expect("ip"),
        ];
        assert_eq!(
            wake.check_with(later + 2 * second, mono + 4 * second, office.clone()),
            Some(Moved::NetworkChanged)
        );
        assert_eq!(
            wake.check_with(later + 3 * second, mono + 5 * second, office),
            None,
            "noticed once"
        );
        // Another change two seconds later waits for the settling time, then is reported.
        let cafe = vec!["172.16.0.9".parse().expect("ip")];
        assert_eq!(
            wake.check_with(later + 4 * second, mono + 6 * second, cafe.clone()),
            None,
            "not within 10 s of the last"
        );
        assert_eq!(
            wake.check_with(later + 12 * second, mono + 14 * second, cafe),
            Some(Moved::NetworkChanged)
        );
    }
}
