//! Brute-force protection for the login endpoint: failed logins are counted per source address
//! and an address that fails too often within a window is refused (429) for a while.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept before expired ones are swept, so a scan from many addresses cannot grow the
/// table without bound.
const SWEEP_AT: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    window_start: Instant,
    banned_until: Option<Instant>,
}

/// Failed-login counters per address.
#[derive(Debug)]
pub(crate) struct LoginGuard {
    max_failures: u32,
    window: Duration,
    ban: Duration,
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

impl LoginGuard {
    pub(crate) fn new(max_failures: u32, window: Duration, ban: Duration) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window,
            ban,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds)` while `ip` is banned.
    pub(crate) fn check(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(&ip).and_then(|e| e.banned_until) {
            Some(until) if until > now => Err((until - now).as_secs().max(1)),
            _ => Ok(()),
        }
    }

    /// Counts a failure; returns true when it starts a ban.
    pub(crate) fn failed(&self, ip: IpAddr, now: Instant) -> bool {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= SWEEP_AT {
            let window = self.window;
            entries.retain(|_, e| {
                e.banned_until.is_some_and(|u| u > now) || now - e.window_start < window
            });
        }
        let e = entries.entry(ip).or_insert(Entry {
            failures: 0,
            window_start: now,
            banned_until: None,
        });
        if now - e.window_start >= self.window {
            e.failures = 0;
            e.window_start = now;
        }
        e.failures += 1;
        if e.failures >= self.max_failures {
            e.failures = 0;
            e.window_start = now;
            e.banned_until = Some(now + self.ban);
            return true;
        }
        false
    }

    /// Forgets the failures of `ip` after a successful login.
    pub(crate) fn succeeded(&self, ip: IpAddr) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bans_after_max_failures_within_window() {
        let g = LoginGuard::new(3, Duration::from_secs(60), Duration::from_secs(600));
        let ip: IpAddr = [192, 0, 2, 1].into();
        let t0 = Instant::now();
        assert!(!g.failed(ip, t0));
        assert!(!g.failed(ip, t0));
        assert!(g.check(ip, t0).is_ok());
        assert!(g.failed(ip, t0));
        assert_eq!(g.check(ip, t0), Err(600));
        assert!(g.check(ip, t0 + Duration::from_secs(601)).is_ok());
        // Failures spread wider than the window never ban.
        let other: IpAddr = [192, 0, 2, 2].into();
        for i in 0..10 {
            assert!(!g.failed(other, t0 + Duration::from_secs(61 * i)));
            assert!(!g.failed(other, t0 + Duration::from_secs(61 * i + 1)));
        }
    }
}
