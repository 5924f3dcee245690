//! Per-account backoff for API logins: guessing one account's password from many addresses
//! (each staying under the per-address ban of [`crate::guard`]) gets slower with every failure,
//! without letting the guesser lock the real user out.
//!
//! After [`FREE_FAILURES`] failed logins for one login name within [`WINDOW`], each further
//! attempt for that name must wait 2, 4, 8 … seconds (at most [`MAX_DELAY`]) after the last
//! failure, and is answered 429 with `Retry-After` until then — whether the password is right
//! or not, and whether the account exists or not (so the backoff reveals nothing). An address
//! that logged in to the account successfully within [`KNOWN_FOR`] is exempt: the user's own
//! office or phone keeps working while someone elsewhere guesses. IPv6 addresses count by
//! their /64, since a host's privacy addresses change within it.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures per login name within [`WINDOW`] that cost nothing.
pub(crate) const FREE_FAILURES: u32 = 5;
/// How long failures are remembered after the last one.
pub(crate) const WINDOW: Duration = Duration::from_secs(3600);
/// The longest wait between two attempts.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(900);
/// How long a successful address stays exempt.
pub(crate) const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// Exempt addresses kept per account (the most recent).
const KNOWN_MAX: usize = 8;
/// Login names kept before stale ones are swept.
const SWEEP_AT: usize = 65_536;
/// Longest login name kept as a key (logins are at most 100 characters).
const KEY_LEN: usize = 100;

#[derive(Debug, Default)]
struct Entry {
    failures: u32,
    last_failure: Option<Instant>,
    /// Addresses (IPv6: /64) that logged in, and when.
    known: Vec<(IpAddr, Instant)>,
}

/// Failed-login counters per login name.
#[derive(Debug, Default)]
pub(crate) struct AccountBackoff {
    entries: Mutex<HashMap<String, Entry>>,
}

fn key(login: &str) -> String {
    login
        .chars()
        .take(KEY_LEN)
        .collect::<String>()
        .to_lowercase()
}

fn network(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0])
        }
        v4 => v4,
    }
}

impl Entry {
    fn delay(&self) -> Duration {
        let over = self.failures.saturating_sub(FREE_FAILURES);
        if over == 0 {
            return Duration::ZERO;
        }
        let secs = 1u64 << over.min(20);
        Duration::from_secs(secs).min(MAX_DELAY)
    }

    fn stale(&self, now: Instant) -> bool {
        let failed_long_ago = self
            .last_failure
            .is_none_or(|t| now.saturating_duration_since(t) >= WINDOW);
        failed_long_ago
            && (self.known.iter()).all(|&(_, t)| now.saturating_duration_since(t) >= KNOWN_FOR)
    }
}

impl AccountBackoff {
    /// `Err(seconds)` while `login` must wait and `ip` is not one it logged in from.
    pub(crate) fn check(&self, login: &str, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let Some(e) = entries.get_mut(&key(login)) else {
            return Ok(());
        };
        let net = network(ip);
        if (e.known.iter()).any(|&(n, t)| n == net && now.saturating_duration_since(t) < KNOWN_FOR)
        {
            return Ok(());
        }
        let Some(last) = e.last_failure else {
            return Ok(());
        };
        if now.saturating_duration_since(last) >= WINDOW {
            e.failures = 0;
            e.last_failure = None;
            return Ok(());
        }
        let until = last + e.delay();
        match until > now {
            true => Err((until - now).as_secs().max(1)),
            false => Ok(()),
        }
    }

    /// Counts a failed login for `login`; true when it is the first that costs a delay.
    pub(crate) fn failed(&self, login: &str, now: Instant) -> bool {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= SWEEP_AT {
            entries.retain(|_, e| !e.stale(now));
        }
        let e = entries.entry(key(login)).or_default();
        if e.last_failure
            .is_some_and(|t| now.saturating_duration_since(t) >= WINDOW)
        {
            e.failures = 0;
        }
        e.failures = e.failures.saturating_add(1);
        e.last_failure = Some(now);
        e.failures == FREE_FAILURES + 1
    }

    /// A successful login for `login` from `ip`: its failures are forgotten and `ip` is
    /// exempt from its backoff for [`KNOWN_FOR`].
    pub(crate) fn succeeded(&self, login: &str, ip: IpAddr, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let e = entries.entry(key(login)).or_default();
        e.failures = 0;
        e.last_failure = None;
        let net = network(ip);
        e.known.retain(|&(n, _)| n != net);
        e.known.push((net, now));
        if e.known.len() > KNOWN_MAX {
            e.known.remove(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 10));
    const GUESSER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));

    #[test]
    fn delays_grow_after_free_failures_and_expire() {
        let b = AccountBackoff::default();
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert!(b.check("Ops@Acme.example", GUESSER, t0).is_ok());
            assert!(!b.failed("ops@acme.example", t0));
        }
        assert!(b.check("ops@acme.example", GUESSER, t0).is_ok());
        assert!(
            b.failed("ops@acme.example", t0),
            "the first delayed failure"
        );
        assert_eq!(b.check("ops@acme.example", GUESSER, t0), Err(2));
        let t1 = t0 + Duration::from_secs(2);
        assert!(b.check("ops@acme.example", GUESSER, t1).is_ok());
        b.failed("ops@acme.example", t1);
        assert_eq!(b.check("ops@acme.example", GUESSER, t1), Err(4));
        for _ in 0..30 {
            b.failed("ops@acme.example", t1);
        }
        assert_eq!(b.check("ops@acme.example", GUESSER, t1), Err(900), "capped");
        // Other accounts are untouched; an hour without failures resets the account.
        assert!(b.check("other@acme.example", GUESSER, t1).is_ok());
        assert!(b.check("ops@acme.example", GUESSER, t1 + WINDOW).is_ok());
        assert!(
            !b.failed("ops@acme.example", t1 + WINDOW),
            "counting starts over"
        );
    }

    #[test]
    fn the_users_own_address_is_never_locked_out() {
        let b = AccountBackoff::default();
        let t0 = Instant::now();
        b.succeeded("ops@acme.example", USER, t0);
        for _ in 0..50 {
            b.failed("ops@acme.example", t0);
        }
        assert!(b.check("ops@acme.example", GUESSER, t0).is_err());
        assert!(b.check("ops@acme.example", USER, t0).is_ok());
        // After a month without logging in, the address is a stranger again.
        let later = t0 + KNOWN_FOR;
        b.failed("ops@acme.example", later);
        for _ in 0..10 {
            b.failed("ops@acme.example", later);
        }
        assert!(b.check("ops@acme.example", USER, later).is_err());
        // IPv6 by /64: a privacy address of the same host is the same user.
        let v6a: IpAddr = "2001:db8:1:2::a".parse().unwrap();
        let v6b: IpAddr = "2001:db8:1:2:ffff::1".parse().unwrap();
        b.succeeded("ops@acme.example", v6a, later);
        for _ in 0..10 {
            b.failed("ops@acme.example", later);
        }
        assert!(b.check("ops@acme.example", v6b, later).is_ok());
    }
}
