//! `[registrar]`: how long bindings live, how many an address of record may hold, and how the
//! location service is kept on disk.

use std::ops::RangeInclusive;
use std::time::Duration;

use serde::Deserialize;
use trunkline_sip::digest::Algorithm;

use crate::config::{ConfigError, check_range};

/// `[registrar]`: REGISTER handling (RFC 3261 §10) and the location service.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistrarConfig {
    /// Shortest registration granted, in seconds; a shorter non-zero request gets
    /// `423 Interval Too Brief` with this as `Min-Expires`.
    pub min_expires: u32,
    /// Longest registration granted; longer requests are shortened to this.
    pub max_expires: u32,
    /// Granted when neither the Contact nor the request asks for a lifetime.
    pub default_expires: u32,
    /// Most contacts one address of record may hold; a REGISTER that would exceed it is
    /// refused with 403.
    pub max_contacts: u32,
    /// Seconds a digest nonce stays valid; an older one gets a new challenge with `stale=true`.
    pub nonce_ttl_secs: u64,
    /// Milliseconds between `fdatasync`s of the location file. A binding is written to the file
    /// before its 200 OK is sent, so a crash of the process loses nothing; this bounds what a
    /// power loss can take.
    pub sync_interval_ms: u64,
    /// Digest algorithms offered in challenges, most preferred first: `MD5`, `SHA-256`. A client
    /// should answer the first one it supports (RFC 8760 §2.4), but some take the first
    /// challenge and fail when it is SHA-256 (sipsak 0.9.8), and some refuse the whole response
    /// when any challenge is not MD5 (baresip 1.0 / libre 1.x); hence MD5 alone by default.
    /// Credentials in an algorithm not listed are refused.
    pub digest_algorithms: Vec<String>,
    /// `Flow-Timer` (RFC 5626 §4.4.1) sent to outbound clients: seconds between their
    /// keep-alives.
    pub flow_timer_secs: u32,
    /// Bind private-range contacts (RFC 1918, 100.64/10, link-local, fc00::/7) that are the
    /// REGISTER's own source address: phones on a private network shared with the server.
    /// Off: such contacts are bound only behind NAT (from another address, where requests then
    /// go); loopback contacts only from loopback. Never bound: unspecified, multicast,
    /// broadcast, and this server's own sockets.
    pub allow_private_contacts: bool,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        Self {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts: 10,
            nonce_ttl_secs: 300,
            sync_interval_ms: 1000,
            digest_algorithms: vec!["MD5".to_owned()],
            flow_timer_secs: 120,
            allow_private_contacts: false,
        }
    }
}

impl RegistrarConfig {
    /// Allowed expiry values, seconds (at most a week).
    pub const EXPIRES_RANGE: RangeInclusive<u32> = 1..=604_800;
    /// Allowed values of `registrar.max_contacts`.
    pub const MAX_CONTACTS_RANGE: RangeInclusive<u32> = 1..=1000;
    /// Allowed values of `registrar.nonce_ttl_secs`.
    pub const NONCE_TTL_RANGE: RangeInclusive<u64> = 10..=3600;
    /// Allowed values of `registrar.sync_interval_ms`.
    pub const SYNC_INTERVAL_RANGE: RangeInclusive<u64> = 1..=60_000;
    /// Allowed values of `registrar.flow_timer_secs`.
    pub const FLOW_TIMER_RANGE: RangeInclusive<u32> = 10..=3600;

    /// `sync_interval_ms` as a [`Duration`].
    pub fn sync_interval(&self) -> Duration {
        Duration::from_millis(self.sync_interval_ms)
    }

    /// The offered algorithms, parsed (`validate` has checked them).
    pub fn algorithms(&self) -> Vec<Algorithm> {
        (self.digest_algorithms.iter())
            .filter_map(|a| a.parse().ok())
            .filter(|a: &Algorithm| !a.is_session())
            .collect()
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.digest_algorithms.is_empty() {
            return Err(ConfigError::Empty {
                key: "registrar.digest_algorithms",
            });
        }
        for (index, a) in self.digest_algorithms.iter().enumerate() {
            let ok = matches!(a.parse::<Algorithm>(), Ok(alg) if !alg.is_session());
            let seen = self.digest_algorithms[..index].contains(a);
            if !ok || seen {
                return Err(ConfigError::Invalid {
                    key: format!("registrar.digest_algorithms[{index}]"),
                    value: a.clone(),
                    reason: if seen {
                        "is listed twice".to_owned()
                    } else {
                        "is not a digest algorithm (expected MD5 or SHA-256)".to_owned()
                    },
                });
            }
        }
        check_range(
            "registrar.min_expires",
            self.min_expires,
            Self::EXPIRES_RANGE,
        )?;
        check_range(
            "registrar.max_expires",
            self.max_expires,
            Self::EXPIRES_RANGE,
        )?;
        check_range(
            "registrar.default_expires",
            self.default_expires,
            Self::EXPIRES_RANGE,
        )?;
        if self.max_expires < self.min_expires {
            return Err(ConfigError::Invalid {
                key: "registrar.max_expires".to_owned(),
                value: self.max_expires.to_string(),
                reason: format!("is below registrar.min_expires ({})", self.min_expires),
            });
        }
        if !(self.min_expires..=self.max_expires).contains(&self.default_expires) {
            return Err(ConfigError::Invalid {
                key: "registrar.default_expires".to_owned(),
                value: self.default_expires.to_string(),
                reason: format!(
                    "is outside registrar.min_expires..=registrar.max_expires ({}..={})",
                    self.min_expires, self.max_expires
                ),
            });
        }
        check_range(
            "registrar.max_contacts",
            self.max_contacts,
            Self::MAX_CONTACTS_RANGE,
        )?;
        check_range(
            "registrar.nonce_ttl_secs",
            self.nonce_ttl_secs,
            Self::NONCE_TTL_RANGE,
        )?;
        check_range(
            "registrar.sync_interval_ms",
            self.sync_interval_ms,
            Self::SYNC_INTERVAL_RANGE,
        )?;
        check_range(
            "registrar.flow_timer_secs",
            self.flow_timer_secs,
            Self::FLOW_TIMER_RANGE,
        )
    }
}
