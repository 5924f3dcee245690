//! SDP for the media relay (RFC 4566, offer/answer RFC 3264), on `sdp-types`: where each
//! media stream of an offer or answer says its RTP and RTCP are, and the edits that anchor a
//! stream at the relay: `c=` and the `m=` port replaced, `a=rtcp` (RFC 3605) pointed at the
//! relay's RTCP port, and ICE attributes removed for a plain-RTP relay (the relay is the
//! only candidate). Every other line (codecs, direction, ptime, unknown attributes) is kept.

use std::net::{IpAddr, SocketAddr};

use sdp_types::{Attribute, Connection, Media, Session};

/// An SDP body that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    #[error("malformed SDP: {0}")]
    Malformed(String),
    #[error("media {0} has no usable connection address")]
    NoAddress(usize),
    #[error("no media stream {0}")]
    NoMedia(usize),
}

/// Attributes of ICE (RFC 8839) that describe candidates other than the relay.
const ICE: [&str; 7] = [
    "candidate",
    "end-of-candidates",
    "ice-lite",
    "ice-mismatch",
    "ice-options",
    "ice-pwd",
    "ice-ufrag",
];

/// Where one media stream is, as its SDP says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    /// Index of its `m=` line.
    pub index: usize,
    /// `audio`, `video`, …
    pub media: String,
    /// RTP address; `None` for a rejected or disabled stream (port 0).
    pub rtp: Option<SocketAddr>,
    /// RTCP address: `a=rtcp`, else the next port (RFC 3550 §11).
    pub rtcp: Option<SocketAddr>,
    /// `sendrecv`, `sendonly`, `recvonly` or `inactive` (media level, else session level,
    /// else `sendrecv`).
    pub direction: String,
    /// Whether RTP and RTCP share the port (`a=rtcp-mux`, RFC 5761).
    pub rtcp_mux: bool,
}

/// A parsed SDP body.
#[derive(Debug, Clone)]
pub struct Sdp(Session);

impl Sdp {
    /// Parses an SDP body.
    pub fn parse(body: &[u8]) -> Result<Sdp, SdpError> {
        Session::parse(body)
            .map(Sdp)
            .map_err(|e| SdpError::Malformed(e.to_string()))
    }

    /// The body as it would be sent.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing into a Vec cannot fail.
        let _ = self.0.write(&mut out);
        out
    }

    /// Every media stream, in order.
    pub fn streams(&self) -> Vec<Stream> {
        let s = &self.0;
        (s.medias.iter().enumerate())
            .map(|(index, m)| {
                let ip = m
                    .connections
                    .first()
                    .or(s.connection.as_ref())
                    .and_then(connection_ip);
                let rtp = ip
                    .filter(|_| m.port != 0)
                    .map(|ip| SocketAddr::new(ip, m.port));
                let rtcp_mux = has(&m.attributes, "rtcp-mux");
                let rtcp = match (rtp, rtcp_attribute(m)) {
                    (None, _) => None,
                    (Some(rtp), Some((port, addr))) => {
                        Some(SocketAddr::new(addr.unwrap_or(rtp.ip()), port))
                    }
                    (Some(rtp), None) if rtcp_mux => Some(rtp),
                    (Some(rtp), None) => {
                        Some(SocketAddr::new(rtp.ip(), rtp.port().wrapping_add(1)))
                    }
                };
                Stream {
                    index,
                    media: m.media.clone(),
                    rtp,
                    rtcp,
                    direction: direction(&m.attributes)
                        .or_else(|| direction(&s.attributes))
                        .unwrap_or("sendrecv")
                        .to_owned(),
                    rtcp_mux,
                }
            })
            .collect()
    }

    /// Anchors stream `index` at `ip`:`port` (RTCP at `port + 1`, or on `port` with
    /// rtcp-mux): its `c=`, `m=` port and `a=rtcp` are replaced and its ICE attributes
    /// removed. A session-level `c=` is replaced too once every live stream has its own.
    /// The origin (`o=`) is left as it is, unless `ip` is of the other address family: then
    /// its address becomes `ip` (phones such as baresip take the family of the media from
    /// the first address in the SDP, which is the origin's).
    pub fn anchor(&mut self, index: usize, ip: IpAddr, port: u16) -> Result<(), SdpError> {
        let s = &mut self.0;
        let m = s.medias.get_mut(index).ok_or(SdpError::NoMedia(index))?;
        if m.port == 0 {
            // A rejected stream stays rejected.
            return Ok(());
        }
        m.port = port;
        m.num_ports = None;
        m.connections = vec![connection(ip)];
        m.attributes
            .retain(|a| !ICE.contains(&a.attribute.as_str()));
        let rtcp_port = if has(&m.attributes, "rtcp-mux") {
            port
        } else {
            port.wrapping_add(1)
        };
        for a in m.attributes.iter_mut().filter(|a| a.attribute == "rtcp") {
            a.value = Some(format!("{rtcp_port} IN {} {ip}", addrtype(ip)));
        }
        s.attributes
            .retain(|a| !ICE.contains(&a.attribute.as_str()));
        if s.connection.is_some()
            && (s.medias.iter()).all(|m| !m.connections.is_empty() || m.port == 0)
        {
            s.connection = Some(connection(ip));
        }
        if s.origin.addrtype != addrtype(ip) {
            s.origin.addrtype = addrtype(ip).to_owned();
            s.origin.unicast_address = ip.to_string();
        }
        Ok(())
    }

    /// Refuses stream `index` in an answer or offer (port 0, RFC 3264 §6).
    pub fn reject(&mut self, index: usize) -> Result<(), SdpError> {
        let m = self
            .0
            .medias
            .get_mut(index)
            .ok_or(SdpError::NoMedia(index))?;
        m.port = 0;
        m.num_ports = None;
        m.attributes
            .retain(|a| !ICE.contains(&a.attribute.as_str()));
        Ok(())
    }
}

fn connection(ip: IpAddr) -> Connection {
    Connection {
        nettype: "IN".to_owned(),
        addrtype: addrtype(ip).to_owned(),
        connection_address: ip.to_string(),
    }
}

fn addrtype(ip: IpAddr) -> &'static str {
    match ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

/// The unicast address of a `c=` line (a TTL or count suffix dropped).
fn connection_ip(c: &Connection) -> Option<IpAddr> {
    let addr = c.connection_address.split('/').next()?;
    addr.parse().ok()
}

fn has(attrs: &[Attribute], name: &str) -> bool {
    attrs.iter().any(|a| a.attribute == name)
}

fn direction(attrs: &[Attribute]) -> Option<&'static str> {
    ["sendrecv", "sendonly", "recvonly", "inactive"]
        .into_iter()
        .find(|d| has(attrs, d))
}

/// `a=rtcp:PORT [IN IP4 ADDR]` (RFC 3605).
fn rtcp_attribute(m: &Media) -> Option<(u16, Option<IpAddr>)> {
    let v = m
        .attributes
        .iter()
        .find(|a| a.attribute == "rtcp")?
        .value
        .as_deref()?;
    let mut parts = v.split_whitespace();
    let port = parts.next()?.parse().ok()?;
    let addr = parts.nth(2).and_then(|a| a.parse().ok());
    Some((port, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\n\
        o=- 1234 5678 IN IP4 192.168.1.20\r\n\
        s=call\r\n\
        c=IN IP4 192.168.1.20\r\n\
        t=0 0\r\n\
        a=ice-lite\r\n\
        m=audio 4000 RTP/AVP 0 8 101\r\n\
        a=rtpmap:0 PCMU/8000\r\n\
        a=rtpmap:8 PCMA/8000\r\n\
        a=rtpmap:101 telephone-event/8000\r\n\
        a=fmtp:101 0-15\r\n\
        a=rtcp:4001 IN IP4 192.168.1.20\r\n\
        a=ice-ufrag:abcd\r\n\
        a=ice-pwd:secretsecretsecretsecret\r\n\
        a=candidate:1 1 UDP 2130706431 192.168.1.20 4000 typ host\r\n\
        a=ptime:20\r\n\
        a=x-vendor-thing:keep me\r\n\
        a=sendrecv\r\n\
        m=video 0 RTP/AVP 96\r\n\
        a=rtpmap:96 H264/90000\r\n";

    #[test]
    fn streams_say_where_rtp_and_rtcp_are() {
        let sdp = Sdp::parse(OFFER.as_bytes()).unwrap();
        let s = sdp.streams();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].media, "audio");
        assert_eq!(s[0].rtp, Some("192.168.1.20:4000".parse().unwrap()));
        assert_eq!(s[0].rtcp, Some("192.168.1.20:4001".parse().unwrap()));
        assert_eq!(s[0].direction, "sendrecv");
        assert_eq!(s[1].rtp, None, "a rejected stream");
    }

    #[test]
    fn anchoring_rewrites_addresses_and_strips_ice_but_keeps_the_rest() {
        let mut sdp = Sdp::parse(OFFER.as_bytes()).unwrap();
        let relay: IpAddr = "203.0.113.1".parse().unwrap();
        sdp.anchor(0, relay, 30000).unwrap();
        sdp.anchor(1, relay, 30002).unwrap();
        let text = String::from_utf8(sdp.to_bytes()).unwrap();
        assert!(text.contains("m=audio 30000 RTP/AVP 0 8 101\r\n"), "{text}");
        assert!(text.contains("c=IN IP4 203.0.113.1\r\n"), "{text}");
        assert!(
            text.contains("a=rtcp:30001 IN IP4 203.0.113.1\r\n"),
            "{text}"
        );
        assert!(
            text.contains("m=video 0 RTP/AVP 96\r\n"),
            "rejected stays rejected: {text}"
        );
        for ice in ["ice-ufrag", "ice-pwd", "candidate", "ice-lite"] {
            assert!(!text.contains(&format!("a={ice}")), "{ice} left in {text}");
        }
        for kept in [
            "a=rtpmap:101 telephone-event/8000",
            "a=fmtp:101 0-15",
            "a=ptime:20",
            "a=x-vendor-thing:keep me",
            "a=sendrecv",
        ] {
            assert!(text.contains(kept), "{kept} lost from {text}");
        }
        // What the relay wrote reads back as the relay's address.
        let again = Sdp::parse(text.as_bytes()).unwrap().streams();
        assert_eq!(again[0].rtp, Some("203.0.113.1:30000".parse().unwrap()));
        assert_eq!(again[0].rtcp, Some("203.0.113.1:30001".parse().unwrap()));
    }

    #[test]
    fn ipv6_hold_and_rtcp_mux() {
        let body = "v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nt=0 0\r\n\
                    m=audio 5004 RTP/AVP 0\r\nc=IN IP6 2001:db8::5\r\na=rtcp-mux\r\na=sendonly\r\n";
        let mut sdp = Sdp::parse(body.as_bytes()).unwrap();
        let s = &sdp.streams()[0];
        assert_eq!(s.rtp, Some("[2001:db8::5]:5004".parse().unwrap()));
        assert_eq!(s.rtcp, s.rtp, "muxed");
        assert_eq!(s.direction, "sendonly", "hold");
        // Bridged to IPv4 at the relay.
        sdp.anchor(0, "198.51.100.1".parse().unwrap(), 40000)
            .unwrap();
        let text = String::from_utf8(sdp.to_bytes()).unwrap();
        assert!(text.contains("c=IN IP4 198.51.100.1\r\n"), "{text}");
        assert!(text.contains("o=- 1 1 IN IP4 198.51.100.1\r\n"), "{text}");
        assert!(text.contains("a=sendonly"), "{text}");
    }

    #[test]
    fn bad_bodies_are_errors() {
        assert!(Sdp::parse(b"not sdp").is_err());
        assert!(Sdp::parse(b"").is_err());
        let mut sdp = Sdp::parse(OFFER.as_bytes()).unwrap();
        assert_eq!(
            sdp.anchor(5, "192.0.2.1".parse().unwrap(), 1),
            Err(SdpError::NoMedia(5))
        );
    }
}
