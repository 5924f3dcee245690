//! The edge guard: what is refused before any expensive work. Per-address token buckets with
//! separate REGISTER, INVITE and other budgets (Kamailio's pike, with a ban when a bucket runs
//! dry), bans after repeated failed authentications per address and per user, trusted networks
//! exempt from both, and a User-Agent filter for known scanners. Sans-IO: every call takes the
//! time in milliseconds.
//!
//! Addresses are counted per IPv4 address and per IPv6 /64, since one IPv6 host owns a /64.

pub(crate) mod config;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

use crate::config::GuardConfig;

/// Which budget a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// REGISTER.
    Register,
    /// INVITE.
    Invite,
    /// Everything else, responses included.
    Other,
}

impl Class {
    /// Classifies a message by its first bytes, before it is parsed.
    pub fn of(bytes: &[u8]) -> Class {
        if bytes.starts_with(b"REGISTER ") {
            Class::Register
        } else if bytes.starts_with(b"INVITE ") {
            Class::Invite
        } else {
            Class::Other
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Why an address is banned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BanReason {
    /// It exceeded a request rate.
    Flood,
    /// Too many failed authentications from it, or against a user it tried.
    AuthFailures,
}

impl BanReason {
    /// Name for logs and listings.
    pub fn as_str(self) -> &'static str {
        match self {
            BanReason::Flood => "flood",
            BanReason::AuthFailures => "auth-failures",
        }
    }
}

/// A ban as listed to operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanInfo {
    /// The banned address (an IPv6 /64 is shown as its first address).
    pub addr: IpAddr,
    /// Why.
    pub reason: BanReason,
    /// Seconds left.
    pub remaining_secs: u64,
    /// Messages dropped since the ban began.
    pub dropped: u64,
}

/// Counters since start, for operators.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardStats {
    /// Bans for exceeding a rate.
    pub flood_bans: u64,
    /// Bans for failed authentications.
    pub auth_bans: u64,
    /// Messages dropped because their source was banned.
    pub dropped_banned: u64,
    /// Requests dropped for a scanner User-Agent.
    pub dropped_scanners: u64,
    /// Failed authentications seen.
    pub auth_failures: u64,
}

/// What to do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Process it.
    Admit,
    /// Drop it silently: the source is banned (possibly just now).
    Drop,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Tokens × 1000, so that rates below one per ms stay exact.
    milli_tokens: u64,
    last_ms: u64,
}

#[derive(Debug)]
struct Ban {
    until_ms: u64,
    reason: BanReason,
    dropped: u64,
}

#[derive(Debug, Clone, Copy)]
struct Budget {
    rate: u64,
    burst: u64,
}

/// The guard's state.
#[derive(Debug)]
pub struct Guard {
    trusted: Vec<IpNet>,
    budgets: [Budget; 3],
    flood_ban_ms: u64,
    auth_failures: usize,
    auth_window_ms: u64,
    auth_ban_ms: u64,
    scanners: Vec<String>,
    buckets: HashMap<IpAddr, [Bucket; 3]>,
    bans: HashMap<IpAddr, Ban>,
    failures_by_addr: HashMap<IpAddr, VecDeque<u64>>,
    failures_by_user: HashMap<String, VecDeque<u64>>,
    stats: GuardStats,
}

/// The key an address is counted under: itself, or its /64 for IPv6.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Pushes `now_ms` into a failure window and says whether it now holds `limit` failures.
fn record_failure(window: &mut VecDeque<u64>, now_ms: u64, window_ms: u64, limit: usize) -> bool {
    while window
        .front()
        .is_some_and(|t| now_ms.saturating_sub(*t) >= window_ms)
    {
        window.pop_front();
    }
    window.push_back(now_ms);
    while window.len() > limit {
        window.pop_front();
    }
    window.len() >= limit
}

impl Guard {
    /// A guard with `config`'s budgets (validated).
    pub fn new(config: &GuardConfig) -> Guard {
        let budget = |rate: u32, burst: u32| Budget {
            rate: u64::from(rate),
            burst: u64::from(burst.max(1)),
        };
        Guard {
            trusted: config.trusted_nets(),
            budgets: [
                budget(config.register_rate, config.register_burst),
                budget(config.invite_rate, config.invite_burst),
                budget(config.other_rate, config.other_burst),
            ],
            flood_ban_ms: config.flood_ban_secs.saturating_mul(1000),
            auth_failures: config.auth_failures.max(1) as usize,
            auth_window_ms: config.auth_window_secs.saturating_mul(1000),
            auth_ban_ms: config.auth_ban_secs.saturating_mul(1000),
            scanners: (config.scanner_user_agents.iter())
                .map(|s| s.to_ascii_lowercase())
                .collect(),
            buckets: HashMap::new(),
            bans: HashMap::new(),
            failures_by_addr: HashMap::new(),
            failures_by_user: HashMap::new(),
            stats: GuardStats::default(),
        }
    }

    /// Whether `ip` is in a trusted network.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.trusted.iter().any(|n| n.contains(&ip))
    }

    /// Decides on a message from `ip` of `class`, drawing on its budget.
    pub fn admit(&mut self, ip: IpAddr, class: Class, now_ms: u64) -> Admission {
        if self.is_trusted(ip) {
            return Admission::Admit;
        }
        let k = key(ip);
        if let Some(ban) = self.bans.get_mut(&k) {
            if ban.until_ms > now_ms {
                ban.dropped += 1;
                self.stats.dropped_banned += 1;
                return Admission::Drop;
            }
            self.bans.remove(&k);
        }
        let budgets = self.budgets;
        let buckets = self.buckets.entry(k).or_insert_with(|| {
            budgets.map(|b| Bucket {
                milli_tokens: b.burst * 1000,
                last_ms: now_ms,
            })
        });
        let budget = budgets[class.index()];
        let bucket = &mut buckets[class.index()];
        let elapsed = now_ms.saturating_sub(bucket.last_ms);
        bucket.milli_tokens =
            (bucket.milli_tokens + elapsed.saturating_mul(budget.rate)).min(budget.burst * 1000);
        bucket.last_ms = now_ms;
        if bucket.milli_tokens >= 1000 {
            bucket.milli_tokens -= 1000;
            return Admission::Admit;
        }
        self.ban(k, BanReason::Flood, self.flood_ban_ms, now_ms);
        Admission::Drop
    }

    /// Whether any scanner User-Agent is configured (so the caller can skip reading the header).
    pub fn has_scanner_list(&self) -> bool {
        !self.scanners.is_empty()
    }

    /// Whether `user_agent` names a known scanner (the request is then dropped unanswered).
    pub fn is_scanner(&mut self, user_agent: &[u8]) -> bool {
        if self.scanners.is_empty() {
            return false;
        }
        let ua = String::from_utf8_lossy(user_agent).to_ascii_lowercase();
        let hit = self.scanners.iter().any(|s| ua.contains(s.as_str()));
        if hit {
            self.stats.dropped_scanners += 1;
        }
        hit
    }

    /// Counts a failed authentication from `ip` for `user` (`user@domain`, or empty when no
    /// username was given). Bans the address once it, or the user it tried, reached the limit
    /// within the window; returns true when it did.
    pub fn auth_failed(&mut self, ip: IpAddr, user: &str, now_ms: u64) -> bool {
        self.stats.auth_failures += 1;
        if self.is_trusted(ip) {
            return false;
        }
        let k = key(ip);
        let (window, limit) = (self.auth_window_ms, self.auth_failures);
        let by_addr = record_failure(
            self.failures_by_addr.entry(k).or_default(),
            now_ms,
            window,
            limit,
        );
        // Many addresses guessing one user's password (a distributed attack) ban each address
        // that keeps trying once the user's own count is over the limit.
        let by_user = !user.is_empty()
            && record_failure(
                self.failures_by_user.entry(user.to_owned()).or_default(),
                now_ms,
                window,
                limit,
            );
        if by_user && !by_addr {
            tracing::warn!(user, source = %ip, "repeated failed authentications for one user");
        }
        if by_addr || by_user {
            self.failures_by_addr.remove(&k);
            self.ban(k, BanReason::AuthFailures, self.auth_ban_ms, now_ms);
            return true;
        }
        false
    }

    fn ban(&mut self, k: IpAddr, reason: BanReason, duration_ms: u64, now_ms: u64) {
        match reason {
            BanReason::Flood => self.stats.flood_bans += 1,
            BanReason::AuthFailures => self.stats.auth_bans += 1,
        }
        tracing::warn!(
            source = %k,
            reason = reason.as_str(),
            secs = duration_ms / 1000,
            "address banned"
        );
        self.bans.insert(
            k,
            Ban {
                until_ms: now_ms.saturating_add(duration_ms),
                reason,
                dropped: 0,
            },
        );
    }

    /// Current bans, longest remaining first.
    pub fn bans(&self, now_ms: u64) -> Vec<BanInfo> {
        let mut out: Vec<BanInfo> = (self.bans.iter())
            .filter(|(_, b)| b.until_ms > now_ms)
            .map(|(addr, b)| BanInfo {
                addr: *addr,
                reason: b.reason,
                remaining_secs: (b.until_ms - now_ms).div_ceil(1000),
                dropped: b.dropped,
            })
            .collect();
        out.sort_by_key(|b| (std::cmp::Reverse(b.remaining_secs), b.addr));
        out
    }

    /// Lifts the ban on `ip` (or its /64) and forgets its failures; false if it was not banned.
    pub fn unban(&mut self, ip: IpAddr) -> bool {
        let k = key(ip);
        self.failures_by_addr.remove(&k);
        self.buckets.remove(&k);
        self.bans.remove(&k).is_some()
    }

    /// Counters since start.
    pub fn stats(&self) -> GuardStats {
        self.stats
    }

    /// Forgets full buckets, lapsed bans and old failures, so idle addresses cost no memory.
    /// Call about once a second.
    pub fn sweep(&mut self, now_ms: u64) {
        let budgets = self.budgets;
        self.buckets.retain(|_, b| {
            b.iter().zip(budgets).any(|(bucket, budget)| {
                let refill = now_ms
                    .saturating_sub(bucket.last_ms)
                    .saturating_mul(budget.rate);
                bucket.milli_tokens + refill < budget.burst * 1000
            })
        });
        self.bans.retain(|_, b| b.until_ms > now_ms);
        let window = self.auth_window_ms;
        let fresh = |w: &mut VecDeque<u64>| w.back().is_some_and(|t| now_ms - t < window);
        self.failures_by_addr.retain(|_, w| fresh(w));
        self.failures_by_user.retain(|_, w| fresh(w));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(f: impl FnOnce(&mut GuardConfig)) -> Guard {
        let mut c = GuardConfig::default();
        f(&mut c);
        Guard::new(&c)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_flood_is_banned_and_other_budgets_and_addresses_are_not() {
        let mut g = guard(|c| {
            c.register_rate = 10;
            c.register_burst = 5;
            c.flood_ban_secs = 60;
        });
        let a = ip("192.0.2.1");
        for _ in 0..5 {
            assert_eq!(g.admit(a, Class::Register, 0), Admission::Admit);
        }
        // 100 ms later one token has come back.
        assert_eq!(g.admit(a, Class::Register, 100), Admission::Admit);
        assert_eq!(g.admit(a, Class::Register, 100), Admission::Drop);
        // Banned now: every class is dropped, until the ban lapses.
        assert_eq!(g.admit(a, Class::Invite, 200), Admission::Drop);
        assert_eq!(
            g.admit(ip("192.0.2.2"), Class::Register, 200),
            Admission::Admit
        );
        assert_eq!(g.bans(200)[0].reason, BanReason::Flood);
        assert_eq!(g.bans(200)[0].dropped, 1);
        assert_eq!(g.admit(a, Class::Register, 60_100), Admission::Admit);
        assert_eq!(g.stats().flood_bans, 1);
    }

    #[test]
    fn ipv6_counts_per_64_and_trusted_is_exempt() {
        let mut g = guard(|c| {
            c.other_burst = 2;
            c.other_rate = 1;
            c.trusted = vec!["198.51.100.0/24".into(), "2001:db8:1::7".into()];
        });
        assert_eq!(
            g.admit(ip("2001:db8::1"), Class::Other, 0),
            Admission::Admit
        );
        assert_eq!(
            g.admit(ip("2001:db8::2"), Class::Other, 0),
            Admission::Admit
        );
        assert_eq!(g.admit(ip("2001:db8::3"), Class::Other, 0), Admission::Drop);
        assert_eq!(g.bans(0)[0].addr, ip("2001:db8::"));
        for _ in 0..100 {
            assert_eq!(
                g.admit(ip("198.51.100.9"), Class::Other, 0),
                Admission::Admit
            );
            assert_eq!(
                g.admit(ip("2001:db8:1::7"), Class::Other, 0),
                Admission::Admit
            );
        }
        assert!(!g.auth_failed(ip("198.51.100.9"), "1001@x", 0));
    }

    #[test]
    fn failed_authentications_ban_the_address_then_unban_works() {
        let mut g = guard(|c| {
            c.auth_failures = 3;
            c.auth_window_secs = 10;
        });
        let a = ip("192.0.2.1");
        assert!(!g.auth_failed(a, "1001@x", 0));
        assert!(!g.auth_failed(a, "1002@x", 1000));
        // The first failure has left the window by now.
        assert!(!g.auth_failed(a, "1003@x", 10_500));
        assert!(g.auth_failed(a, "1004@x", 10_900));
        assert_eq!(g.admit(a, Class::Register, 11_000), Admission::Drop);
        assert_eq!(g.bans(11_000)[0].reason, BanReason::AuthFailures);
        assert!(g.unban(a));
        assert!(!g.unban(a));
        assert_eq!(g.admit(a, Class::Register, 11_000), Admission::Admit);
    }

    #[test]
    fn many_addresses_against_one_user() {
        let mut g = guard(|c| c.auth_failures = 3);
        assert!(!g.auth_failed(ip("192.0.2.1"), "1001@x", 0));
        assert!(!g.auth_failed(ip("192.0.2.2"), "1001@x", 0));
        assert!(g.auth_failed(ip("192.0.2.3"), "1001@x", 0));
        assert!(g.auth_failed(ip("192.0.2.4"), "1001@x", 0));
        assert_eq!(g.bans(0).len(), 2);
    }

    #[test]
    fn scanners_and_sweep() {
        let mut g = guard(|_| {});
        assert!(g.is_scanner(b"friendly-scanner"));
        assert!(g.is_scanner(b"SIPVicious 0.3.3"));
        assert!(!g.is_scanner(b"Yealink SIP-T46S 66.86.0.15"));
        let mut none = guard(|c| c.scanner_user_agents.clear());
        assert!(!none.is_scanner(b"friendly-scanner"));
        g.admit(ip("192.0.2.1"), Class::Invite, 0);
        g.auth_failed(ip("192.0.2.1"), "u", 0);
        g.sweep(600_000);
        assert!(g.buckets.is_empty() && g.failures_by_addr.is_empty());
        assert!(g.failures_by_user.is_empty());
        assert_eq!(Class::of(b"REGISTER sip:x SIP/2.0"), Class::Register);
        assert_eq!(Class::of(b"INVITE sip:x SIP/2.0"), Class::Invite);
        assert_eq!(Class::of(b"SIP/2.0 200 OK"), Class::Other);
    }
}
