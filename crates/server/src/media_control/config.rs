//! `[media]`: the media relay's address and port range, and the rtpengine "ng" control
//! listener through which a signalling server (Trunkline's proxy on another node, or a
//! Kamailio/OpenSIPS with its rtpengine module) drives it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::Deserialize;

use crate::config::ConfigError;

/// `[media]`: the relay.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MediaConfig {
    /// When the proxy anchors a call's media at the relay: `"nat"` (a party's SDP or Contact
    /// names another address than the one it signals from, or the parties are on different
    /// address families), `"always"`, or `"off"`.
    pub mode: MediaMode,
    /// The address relay sockets bind to and SDP names (the host's public or LAN address).
    /// Empty: `proxy.advertise`, else the first SIP listener's own address, else 127.0.0.1
    /// ([`crate::Config::media_ip`]).
    pub address: String,
    /// An address of the other IP family, for the legs towards parties on it: calls between
    /// IPv4 and IPv6 parties are bridged. Empty: every leg on `address`.
    pub bridge_address: String,
    /// Lowest RTP port of the relay (RTCP takes the odd port above each RTP port).
    pub port_min: u16,
    /// Highest port of the relay.
    pub port_max: u16,
    /// `IP:PORT` of the ng control listener (UDP); empty: no control listener.
    pub ng_listen: String,
    /// Seconds without media from either party after which the relay deletes a call by
    /// itself (a lost delete must not hold ports forever).
    pub timeout_secs: u32,
    /// Worker threads of the relay's data plane (each relays the packets of its calls).
    pub threads: u32,
    /// Forward settled RTP streams in the kernel (an eBPF traffic-control program on the
    /// interfaces of the relay's addresses and loopback) instead of in the worker threads:
    /// needs Linux 6.6 or newer and CAP_BPF with CAP_NET_ADMIN (or root); without them the
    /// relay says why at start and forwards in userspace.
    pub kernel: bool,
    /// ng addresses (`IP:PORT`) of remote media nodes (Trunkline's or rtpengine) that relay
    /// the proxy's calls instead of this process; a call's node is chosen by its Call-ID.
    /// Empty: the in-process relay.
    pub nodes: Vec<String>,
}

/// `media.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaMode {
    /// Media goes end to end.
    Off,
    /// Relayed when a party is behind NAT or on another address family.
    Nat,
    /// Every call is relayed.
    Always,
}

impl MediaMode {
    /// The name as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaMode::Off => "off",
            MediaMode::Nat => "nat",
            MediaMode::Always => "always",
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            mode: MediaMode::Nat,
            address: String::new(),
            bridge_address: String::new(),
            port_min: 30000,
            port_max: 39999,
            ng_listen: String::new(),
            timeout_secs: 60,
            threads: 1,
            kernel: true,
            nodes: Vec::new(),
        }
    }
}

impl crate::config::Config {
    /// The media relay's address: `media.address`, else `proxy.advertise`, else the address of
    /// the first SIP listener bound to a specific one, else 127.0.0.1 (which only phones on
    /// this host can reach).
    pub fn media_ip(&self) -> IpAddr {
        let listener = (self.sip.listen.iter())
            .map(|l| l.addr.ip())
            .find(|ip| !ip.is_unspecified());
        (self.media.ip())
            .or(self.proxy.advertise_ip())
            .or(listener)
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }
}

impl MediaConfig {
    /// `address`, parsed (`validate` has checked it).
    pub fn ip(&self) -> Option<IpAddr> {
        self.address.parse().ok()
    }

    /// `bridge_address`, parsed; `None` when empty.
    pub fn bridge_ip(&self) -> Option<IpAddr> {
        self.bridge_address.parse().ok()
    }

    /// `nodes`, parsed (`validate` has checked them).
    pub fn node_addrs(&self) -> Vec<SocketAddr> {
        self.nodes.iter().filter_map(|n| n.parse().ok()).collect()
    }

    /// `ng_listen`, parsed; `None` when off.
    pub fn ng_addr(&self) -> Option<SocketAddr> {
        self.ng_listen.parse().ok()
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, value: String, reason: &str| ConfigError::Invalid {
            key: key.to_owned(),
            value,
            reason: reason.to_owned(),
        };
        match self.address.parse::<IpAddr>() {
            Ok(ip) if !ip.is_unspecified() => {}
            _ if self.address.is_empty() => {}
            _ => {
                return Err(invalid(
                    "media.address",
                    self.address.clone(),
                    "is not an IP address the relay can name in SDP (0.0.0.0 and :: are not)",
                ));
            }
        }
        if !self.bridge_address.is_empty() {
            let main_v6 = self.address.parse::<IpAddr>().is_ok_and(|a| a.is_ipv6());
            match self.bridge_address.parse::<IpAddr>() {
                Ok(ip) if !ip.is_unspecified() && ip.is_ipv6() != main_v6 => {}
                _ => {
                    return Err(invalid(
                        "media.bridge_address",
                        self.bridge_address.clone(),
                        "is not an IP address of the other family than media.address (and not 0.0.0.0 or ::)",
                    ));
                }
            }
        }
        if self.port_min < 1024 {
            return Err(invalid(
                "media.port_min",
                self.port_min.to_string(),
                "is below 1024",
            ));
        }
        if u32::from(self.port_max) < u32::from(self.port_min) + 3 {
            return Err(invalid(
                "media.port_max",
                self.port_max.to_string(),
                "leaves no room for one call (two RTP/RTCP port pairs) above media.port_min",
            ));
        }
        if !(1..=86_400).contains(&self.timeout_secs) {
            return Err(invalid(
                "media.timeout_secs",
                self.timeout_secs.to_string(),
                "is outside 1..=86400",
            ));
        }
        for (i, n) in self.nodes.iter().enumerate() {
            if n.parse::<SocketAddr>().is_err() {
                return Err(invalid(
                    &format!("media.nodes[{i}]"),
                    n.clone(),
                    "is not IP:PORT",
                ));
            }
        }
        if !(1..=64).contains(&self.threads) {
            return Err(invalid(
                "media.threads",
                self.threads.to_string(),
                "is outside 1..=64",
            ));
        }
        if !self.ng_listen.is_empty() && self.ng_listen.parse::<SocketAddr>().is_err() {
            return Err(invalid(
                "media.ng_listen",
                self.ng_listen.clone(),
                "is not IP:PORT",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_name_their_key() {
        assert!(MediaConfig::default().validate().is_ok());
        let bad = |f: fn(&mut MediaConfig)| {
            let mut c = MediaConfig::default();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(bad(|c| c.address = "0.0.0.0".into()).contains("media.address"));
        assert!(bad(|c| c.address = "relay.example".into()).contains("media.address"));
        assert!(bad(|c| c.port_min = 80).contains("media.port_min"));
        assert!(bad(|c| c.bridge_address = "127.0.0.2".into()).contains("media.bridge_address"));
        assert!(bad(|c| c.bridge_address = "::".into()).contains("media.bridge_address"));
        let bridged = MediaConfig {
            bridge_address: "::1".into(),
            ..MediaConfig::default()
        };
        assert!(bridged.validate().is_ok());
        assert!(bad(|c| c.port_max = c.port_min + 1).contains("media.port_max"));
        assert!(bad(|c| c.ng_listen = "2223".into()).contains("media.ng_listen"));
        assert!(bad(|c| c.timeout_secs = 0).contains("media.timeout_secs"));
        assert!(bad(|c| c.threads = 0).contains("media.threads"));
        assert!(bad(|c| c.nodes = vec!["10.0.0.5".into()]).contains("media.nodes[0]"));
    }

    #[test]
    fn the_relay_address_falls_back_to_advertise_then_a_listener_then_loopback() {
        let mut c = crate::config::Config::default();
        assert_eq!(
            c.media_ip(),
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            "wildcard listeners"
        );
        c.sip.listen = vec![
            "udp:0.0.0.0:5060".parse().unwrap(),
            "udp:198.51.100.7:5060".parse().unwrap(),
        ];
        assert_eq!(c.media_ip().to_string(), "198.51.100.7");
        c.proxy.advertise = "203.0.113.1".into();
        assert_eq!(c.media_ip().to_string(), "203.0.113.1");
        c.media.address = "192.0.2.5".into();
        assert_eq!(c.media_ip().to_string(), "192.0.2.5");
    }
}
