//! `[proxy]`: how calls are forwarded: ring timeout, longest call, redirects, and the address
//! written into Via and Record-Route for wildcard listeners, and NAT keep-alives.

use std::net::IpAddr;
use std::ops::RangeInclusive;

use serde::Deserialize;

use crate::config::{ConfigError, check_range};

/// `[proxy]`: the stateful proxy (RFC 3261 §16).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProxyConfig {
    /// Seconds an INVITE may ring without a final answer (Timer C, RFC 3261 §16.8); then its
    /// branches are cancelled and the caller gets 408.
    pub ring_timeout_secs: u64,
    /// Seconds an answered call may last without a BYE before the proxy forgets it and writes
    /// its CDR (a lost BYE must not hold a call-limit slot forever).
    pub max_call_secs: u64,
    /// Follow 3xx redirects to their Contacts (at most 8 per response) instead of passing them
    /// back to the caller.
    pub follow_redirects: bool,
    /// The address written into Via and Record-Route for requests that leave from a wildcard
    /// listener (0.0.0.0 or ::) towards non-loopback peers. Empty: the loopback address.
    pub advertise: String,
    /// Seconds between keep-alives to each UDP binding behind NAT, so that its pinhole stays
    /// open for calls to it (Kamailio's `natping_interval`); 0 turns them off. The pings of
    /// all bindings are spread evenly over the interval.
    pub nat_ping_interval_secs: u32,
    /// What a keep-alive is: `"options"` (an OPTIONS request, answered by the phone, which
    /// also refreshes stateful NATs that only count inbound traffic as activity) or `"crlf"`
    /// (four bytes, CRLF CRLF, which phones ignore).
    pub nat_ping_method: NatPing,
    /// Ping every UDP binding, not only those whose Contact differs from the address the
    /// REGISTER came from.
    pub nat_ping_all_udp: bool,
    /// Customers (tenant ids) whose subscribers may choose the next hop themselves: send a
    /// pre-loaded Route, or call a Request-URI that names a host (a PBX trunk with its own
    /// route). Everyone else's calls leave only to local users and DIDs; such requests get
    /// `403`. Sources in `guard.trusted` may always.
    pub relay_customers: Vec<i64>,
}

/// `proxy.nat_ping_method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NatPing {
    /// An OPTIONS request.
    Options,
    /// CRLF CRLF.
    Crlf,
}

impl NatPing {
    /// The name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            NatPing::Options => "options",
            NatPing::Crlf => "crlf",
        }
    }
}

impl Default for ProxyConfig {
    fn default() -> Self {
        Self {
            ring_timeout_secs: 180,
            max_call_secs: 43_200,
            follow_redirects: false,
            advertise: String::new(),
            nat_ping_interval_secs: 30,
            nat_ping_method: NatPing::Options,
            nat_ping_all_udp: false,
            relay_customers: Vec::new(),
        }
    }
}

impl ProxyConfig {
    /// Allowed values of `proxy.ring_timeout_secs`.
    pub const RING_TIMEOUT_RANGE: RangeInclusive<u64> = 5..=3600;
    /// Allowed values of `proxy.max_call_secs` (at most a week).
    pub const MAX_CALL_RANGE: RangeInclusive<u64> = 60..=604_800;
    /// Allowed values of `proxy.nat_ping_interval_secs` (0: off).
    pub const NAT_PING_RANGE: RangeInclusive<u32> = 0..=3600;

    /// The relaying policy routing applies.
    pub fn routing_policy(&self) -> trunkline_routing::Policy {
        trunkline_routing::Policy {
            relay_customers: (self.relay_customers.iter())
                .map(|&id| trunkline_store::TenantId(id))
                .collect(),
        }
    }

    /// `advertise`, parsed (`validate` has checked it).
    pub fn advertise_ip(&self) -> Option<IpAddr> {
        self.advertise.parse().ok()
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        check_range(
            "proxy.ring_timeout_secs",
            self.ring_timeout_secs,
            Self::RING_TIMEOUT_RANGE,
        )?;
        check_range(
            "proxy.max_call_secs",
            self.max_call_secs,
            Self::MAX_CALL_RANGE,
        )?;
        check_range(
            "proxy.nat_ping_interval_secs",
            self.nat_ping_interval_secs,
            Self::NAT_PING_RANGE,
        )?;
        if !self.advertise.is_empty() && self.advertise.parse::<IpAddr>().is_err() {
            return Err(ConfigError::Invalid {
                key: "proxy.advertise".to_owned(),
                value: self.advertise.clone(),
                reason: "is not an IP address".to_owned(),
            });
        }
        Ok(())
    }
}
