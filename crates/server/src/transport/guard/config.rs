//! `[guard]`: the edge guard's budgets: per-address request rates, failed-authentication bans,
//! trusted networks, scanner User-Agents and the overload answer.

use std::ops::RangeInclusive;

use ipnet::IpNet;
use serde::Deserialize;

use crate::config::{ConfigError, check_range};

/// `[guard]`: what the edge refuses before doing any expensive work.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardConfig {
    /// Networks exempt from rate limits and bans (SBCs, carriers' signalling addresses), as
    /// CIDR blocks or single addresses.
    pub trusted: Vec<String>,
    /// REGISTERs per second one address (IPv4, or IPv6 /64) may send on average.
    pub register_rate: u32,
    /// REGISTERs one address may send in a burst above the average.
    pub register_burst: u32,
    /// INVITEs per second one address may send on average.
    pub invite_rate: u32,
    /// INVITEs one address may send in a burst.
    pub invite_burst: u32,
    /// Other requests per second one address may send on average.
    pub other_rate: u32,
    /// Other requests one address may send in a burst.
    pub other_burst: u32,
    /// Seconds an address that exceeded a rate stays banned.
    pub flood_ban_secs: u64,
    /// Failed authentications (wrong password, unknown or disabled user) from one address, or
    /// against one user, within `auth_window_secs` that get the address banned.
    pub auth_failures: u32,
    /// The window for `auth_failures`, seconds.
    pub auth_window_secs: u64,
    /// Seconds an address banned for failed authentications stays banned.
    pub auth_ban_secs: u64,
    /// Requests whose User-Agent contains one of these (case-insensitive) are dropped without
    /// an answer. Empty: no User-Agent is dropped.
    pub scanner_user_agents: Vec<String>,
    /// `Retry-After` seconds in the `503` sent when the server is overloaded.
    pub overload_retry_after_secs: u32,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            trusted: Vec::new(),
            register_rate: 20,
            register_burst: 200,
            invite_rate: 20,
            invite_burst: 100,
            other_rate: 50,
            other_burst: 200,
            flood_ban_secs: 300,
            auth_failures: 10,
            auth_window_secs: 300,
            auth_ban_secs: 900,
            scanner_user_agents: [
                "friendly-scanner",
                "sipvicious",
                "sipcli",
                "sip-scan",
                "sipsak-scan",
                "vaxsipuseragent",
                "vaxipuseragent",
                "sundayddr",
                "iwar",
                "sivus",
                "smap",
                "siparmyknife",
                "pplsip",
            ]
            .map(str::to_owned)
            .to_vec(),
            overload_retry_after_secs: 5,
        }
    }
}

impl GuardConfig {
    /// Allowed request rates and bursts.
    pub const RATE_RANGE: RangeInclusive<u32> = 1..=1_000_000;
    /// Allowed ban and window lengths, seconds (at most a week).
    pub const SECS_RANGE: RangeInclusive<u64> = 1..=604_800;
    /// Allowed values of `guard.auth_failures`.
    pub const AUTH_FAILURES_RANGE: RangeInclusive<u32> = 1..=10_000;
    /// Allowed values of `guard.overload_retry_after_secs`.
    pub const RETRY_AFTER_RANGE: RangeInclusive<u32> = 1..=3600;

    /// The trusted networks, parsed (`validate` has checked every entry).
    pub fn trusted_nets(&self) -> Vec<IpNet> {
        self.trusted.iter().filter_map(|t| parse_net(t)).collect()
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (index, t) in self.trusted.iter().enumerate() {
            if parse_net(t).is_none() {
                return Err(ConfigError::Invalid {
                    key: format!("guard.trusted[{index}]"),
                    value: t.clone(),
                    reason: "is not an IP address or CIDR block (e.g. 192.0.2.0/24)".to_owned(),
                });
            }
        }
        for (key, value) in [
            ("guard.register_rate", self.register_rate),
            ("guard.register_burst", self.register_burst),
            ("guard.invite_rate", self.invite_rate),
            ("guard.invite_burst", self.invite_burst),
            ("guard.other_rate", self.other_rate),
            ("guard.other_burst", self.other_burst),
        ] {
            check_range(key, value, Self::RATE_RANGE)?;
        }
        for (key, value) in [
            ("guard.flood_ban_secs", self.flood_ban_secs),
            ("guard.auth_window_secs", self.auth_window_secs),
            ("guard.auth_ban_secs", self.auth_ban_secs),
        ] {
            check_range(key, value, Self::SECS_RANGE)?;
        }
        check_range(
            "guard.auth_failures",
            self.auth_failures,
            Self::AUTH_FAILURES_RANGE,
        )?;
        for (index, ua) in self.scanner_user_agents.iter().enumerate() {
            if ua.trim().is_empty() {
                return Err(ConfigError::Invalid {
                    key: format!("guard.scanner_user_agents[{index}]"),
                    value: ua.clone(),
                    reason: "is empty (it would match every User-Agent)".to_owned(),
                });
            }
        }
        check_range(
            "guard.overload_retry_after_secs",
            self.overload_retry_after_secs,
            Self::RETRY_AFTER_RANGE,
        )
    }
}

/// `192.0.2.0/24`, `2001:db8::/32` or a bare address (a /32 or /128).
fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<std::net::IpAddr>().ok().map(IpNet::from))
}
