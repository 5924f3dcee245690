//! Hosts: a domain name, an IPv4 address or a bracketed IPv6 reference (RFC 3261 §25.1).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::Problem;
use crate::scan;

/// A parsed host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Host<'a> {
    /// A host name as written (compare case-insensitively).
    Domain(&'a str),
    /// A dotted IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address (written `[...]` in SIP).
    V6(Ipv6Addr),
}

impl<'a> Host<'a> {
    /// Parses a host; IPv6 must be bracketed.
    pub fn parse(s: &'a [u8]) -> Result<Host<'a>, Problem> {
        match s {
            [] => Err(Problem::BadHost),
            [b'[', inner @ .., b']'] => scan::ascii_str(inner)
                .and_then(|t| t.parse::<Ipv6Addr>().ok())
                .map(Host::V6)
                .ok_or(Problem::BadHost),
            _ => {
                // One pass: labels of host characters separated by single dots, no label
                // starting or ending with '-'; a single trailing dot (FQDN) is allowed.
                let mut label = 0usize;
                let mut prev = b'.';
                let mut numeric = true;
                // IPv4 octets gathered on the way (RFC 3261 IPv4address: 1*3DIGIT x4).
                let mut octets = [0u16; 4];
                let mut dots = 0usize;
                let mut long_octet = false;
                for &b in s {
                    if b == b'.' {
                        if label == 0 || prev == b'-' {
                            return Err(Problem::BadHost);
                        }
                        long_octet |= label > 3;
                        dots += 1;
                        label = 0;
                    } else if scan::is_hostchar(b) {
                        if label == 0 && b == b'-' {
                            return Err(Problem::BadHost);
                        }
                        if b.is_ascii_digit() {
                            if dots < 4 && label < 3 {
                                octets[dots] = octets[dots] * 10 + u16::from(b - b'0');
                            }
                        } else {
                            numeric = false;
                        }
                        label += 1;
                    } else {
                        return Err(Problem::BadHost);
                    }
                    prev = b;
                }
                if prev == b'-' || (label == 0 && s.len() == 1) {
                    return Err(Problem::BadHost);
                }
                if numeric {
                    // All digits and dots: an IPv4 address or nothing.
                    return match (dots, label) {
                        (3, 1..=3) if !long_octet && octets.iter().all(|&o| o <= 255) => {
                            Ok(Host::V4(Ipv4Addr::new(
                                octets[0] as u8,
                                octets[1] as u8,
                                octets[2] as u8,
                                octets[3] as u8,
                            )))
                        }
                        _ => Err(Problem::BadHost),
                    };
                }
                let text = scan::ascii_str(s).ok_or(Problem::BadHost)?;
                Ok(Host::Domain(text))
            }
        }
    }

    /// The address when the host is an IP literal.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Host::Domain(_) => None,
            Host::V4(a) => Some(IpAddr::V4(*a)),
            Host::V6(a) => Some(IpAddr::V6(*a)),
        }
    }

    /// True when this host names the given address (IP literal equal to it).
    pub fn is_ip(&self, ip: IpAddr) -> bool {
        self.ip() == Some(ip)
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// Splits `host[:port]` (host may be `[v6]`) and parses both.
pub(crate) fn parse_hostport(s: &[u8]) -> Result<(Host<'_>, Option<u16>), Problem> {
    let (host, port) = if s.first() == Some(&b'[') {
        let close = memchr::memchr(b']', s).ok_or(Problem::BadHost)?;
        let port = match &s[close + 1..] {
            [] => None,
            [b':', p @ ..] => Some(p),
            _ => return Err(Problem::BadHost),
        };
        (&s[..=close], port)
    } else {
        match s.iter().position(|&b| b == b':') {
            Some(c) => (&s[..c], Some(&s[c + 1..])),
            None => (s, None),
        }
    };
    let host = Host::parse(host)?;
    let port = match port {
        None => None,
        Some(p) => Some(parse_port(p)?),
    };
    Ok((host, port))
}

pub(crate) fn parse_port(p: &[u8]) -> Result<u16, Problem> {
    scan::parse_u32(p)
        .and_then(|n| u16::try_from(n).ok())
        .ok_or(Problem::BadPort)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(Host::parse(b"example.com"), Ok(Host::Domain("example.com")));
        assert_eq!(
            Host::parse(b"192.0.2.1"),
            Ok(Host::V4(Ipv4Addr::new(192, 0, 2, 1)))
        );
        assert!(matches!(Host::parse(b"[2001:db8::10]"), Ok(Host::V6(_))));
        assert!(Host::parse(b"2001:db8::10").is_err());
        assert!(Host::parse(b"999.1.1.1").is_err());
        assert!(Host::parse(b"1.2.3").is_err());
        assert!(Host::parse(b"1.2.3.4.5").is_err());
        assert!(Host::parse(b"1.2.3.0004").is_err());
        assert!(Host::parse(b"99999.1.1.1").is_err());
        assert!(Host::parse(b"1234.5.6.7").is_err());
        assert!(Host::parse(b"1.2.3.4.").is_err());
        assert_eq!(
            Host::parse(b"010.0.0.1"),
            Ok(Host::V4(Ipv4Addr::new(10, 0, 0, 1)))
        );
        assert_eq!(
            Host::parse(b"example.com."),
            Ok(Host::Domain("example.com."))
        );
        assert_eq!(Host::parse(b"1a.example"), Ok(Host::Domain("1a.example")));
        assert!(Host::parse(b"a..b").is_err());
        assert!(Host::parse(b"-a.b").is_err());
        assert!(Host::parse(b"a b").is_err());
    }

    #[test]
    fn hostports() {
        assert_eq!(
            parse_hostport(b"[::1]:5060"),
            Ok((Host::V6(Ipv6Addr::LOCALHOST), Some(5060)))
        );
        assert_eq!(parse_hostport(b"h:99999"), Err(Problem::BadPort));
        assert_eq!(parse_hostport(b"h:"), Err(Problem::BadPort));
    }
}
