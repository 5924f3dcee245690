//! Via values: sent-protocol, sent-by and the branch/received/rport parameters (RFC 3261 §20.42, RFC 3581).

use std::net::IpAddr;

use memchr::memchr;

use crate::error::Problem;
use crate::host::{self, Host};
use crate::params::Params;
use crate::scan;

/// The RFC 3261 branch prefix that marks a globally unique branch (§8.1.1.7).
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// One Via value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via<'a> {
    /// Protocol name, normally `SIP`.
    pub protocol: &'a str,
    /// Protocol version, normally `2.0`.
    pub version: &'a str,
    /// Transport as written (`UDP`, `TCP`, `TLS`, `WS`, `SCTP`, or any token).
    pub transport: &'a str,
    /// sent-by host.
    pub host: Host<'a>,
    /// sent-by port, if written.
    pub port: Option<u16>,
    /// via-params.
    pub params: Params<'a>,
}

impl<'a> Via<'a> {
    /// Parses one (comma-split) Via value; LWS is allowed around `/` and `;`.
    pub fn parse(s: &'a [u8]) -> Result<Via<'a>, Problem> {
        let s = scan::trim(s);
        let mut parts = [""; 3];
        let mut i = 0;
        for (n, part) in parts.iter_mut().enumerate() {
            i = scan::skip_lws(s, i);
            let start = i;
            i = scan::token_end(s, i);
            *part = scan::ascii_str(&s[start..i])
                .filter(|p| !p.is_empty())
                .ok_or(Problem::BadProtocol)?;
            i = scan::skip_lws(s, i);
            if n < 2 {
                if s.get(i) != Some(&b'/') {
                    return Err(Problem::BadProtocol);
                }
                i += 1;
            }
        }
        if i == s.len() || i == 0 || !scan::is_lws(s[i - 1]) {
            return Err(Problem::BadHost);
        }
        let rest = &s[i..];
        let hp_end = memchr(b';', rest).unwrap_or(rest.len());
        let hostport = scan::trim(&rest[..hp_end]);
        // LWS may surround the ':' of sent-by only in theory; real stacks never do it.
        let (host, port) = host::parse_hostport(hostport)?;
        let params = Params::parse(&rest[hp_end..])?;
        Ok(Via {
            protocol: parts[0],
            version: parts[1],
            transport: parts[2],
            host,
            port,
            params,
        })
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&'a [u8]> {
        self.params.get("branch").flatten()
    }

    /// True when the branch carries the RFC 3261 magic cookie and something after it.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.len() > MAGIC_COOKIE.len() && b.starts_with(MAGIC_COOKIE.as_bytes()))
    }

    /// The `received` parameter as an address.
    pub fn received(&self) -> Option<IpAddr> {
        let v = self.params.get("received").flatten()?;
        let v = v
            .strip_prefix(b"[")
            .and_then(|v| v.strip_suffix(b"]"))
            .unwrap_or(v);
        scan::ascii_str(v)?.parse().ok()
    }

    /// `rport`: `None` when absent, `Some(None)` when requested, `Some(Some(port))` when filled.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params
            .get("rport")
            .map(|v| v.and_then(|p| host::parse_port(p).ok()))
    }

    /// The `maddr` parameter, raw.
    pub fn maddr(&self) -> Option<&'a [u8]> {
        self.params.get("maddr").flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_and_spaced() {
        let v = Via::parse(b"SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!((v.protocol, v.version, v.transport), ("SIP", "2.0", "UDP"));
        assert_eq!(v.branch(), Some(&b"390skdjuw"[..]));
        assert!(!v.has_rfc3261_branch());
        let v = Via::parse(
            b"SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8",
        )
        .unwrap();
        assert_eq!(v.host, Host::Domain("spindle.example.com"));
        assert!(v.has_rfc3261_branch());
    }

    #[test]
    fn nat_params() {
        let v =
            Via::parse(b"SIP/2.0/UDP [2001:db8::9]:5070;rport;received=192.0.2.1;branch=z9hG4bKx")
                .unwrap();
        assert_eq!(v.port, Some(5070));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.received(), "192.0.2.1".parse().ok());
        assert!(Via::parse(b"SIP/2.0/UDP 192.0.2.15;;").is_err());
        assert!(Via::parse(b"SIP/2.0/UDP").is_err());
        assert!(Via::parse(b"SIP/2.0/UDP;branch=x").is_err());
        assert!(
            !Via::parse(b"SIP/2.0/UDP h;branch=z9hG4bK")
                .unwrap()
                .has_rfc3261_branch()
        );
    }
}
