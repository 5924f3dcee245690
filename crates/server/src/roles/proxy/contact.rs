//! Contact fix-up for UAs behind NAT or on connections they opened: the proxy appends
//! `;alias=ip~port~transport` (Kamailio's `set_contact_alias` format) to the Contact of
//! dialog-forming and target-refresh messages, so that in-dialog requests sent to that
//! Contact reach the UA's real address or connection; [`strip_alias`] removes it again before
//! the request leaves for the UA.

use std::net::SocketAddr;

use trunkline_sip::{HeaderName, Message, NameAddr, Uri};

use super::target::alias_value;
use crate::config::Transport;

/// The header index and new value of `msg`'s Contact when the UA that sent it from `source`
/// over `transport` cannot be reached at the Contact's own address: always on stream
/// transports (the connection is the way back), on UDP when the Contact's host or port differs
/// from the source (NAT). `None` when nothing needs to change.
pub(crate) fn alias_edit(
    msg: &Message<'_>,
    source: SocketAddr,
    transport: Transport,
) -> Option<(usize, Vec<u8>)> {
    let (index, h) =
        (msg.headers().iter().enumerate()).find(|(_, h)| h.name == HeaderName::Contact)?;
    let first = h.elements().next()?.ok()?;
    let na = NameAddr::parse(first).ok()?;
    let Uri::Sip(u) = na.uri else {
        return None;
    };
    if u.params.contains("alias") {
        return None;
    }
    let same_address = u.host.ip() == Some(source.ip()) && u.port.unwrap_or(5060) == source.port();
    if transport == Transport::Udp && same_address {
        return None;
    }
    // Offsets of the URI inside the header value (the parser borrows from the message).
    let base = h.value.as_ptr() as usize;
    let start = (na.uri_raw.as_ptr() as usize).checked_sub(base)?;
    let end = start + na.uri_raw.len();
    let value = h.value;
    let alias = format!(";alias={}", alias_value(source, transport));
    let mut out = Vec::with_capacity(value.len() + alias.len() + 2);
    if na.bracketed {
        out.extend_from_slice(value.get(..end)?);
        out.extend_from_slice(alias.as_bytes());
        out.extend_from_slice(value.get(end..)?);
    } else {
        out.extend_from_slice(value.get(..start)?);
        out.push(b'<');
        out.extend_from_slice(na.uri_raw);
        out.extend_from_slice(alias.as_bytes());
        out.push(b'>');
        out.extend_from_slice(value.get(end..)?);
    }
    Some((index, out))
}

/// `uri` without its `alias` parameter, `None` if it has none.
pub(crate) fn strip_alias(uri: &[u8]) -> Option<Vec<u8>> {
    let at = memchr::memmem::find(uri, b";alias=")?;
    let rest = &uri[at + 1..];
    let len = rest
        .iter()
        .position(|&c| c == b';' || c == b'?')
        .unwrap_or(rest.len());
    let mut out = uri[..at].to_vec();
    out.extend_from_slice(&rest[len..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(contact: &str) -> Vec<u8> {
        format!(
            "INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1\r\n\
From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n\
Contact: {contact}\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn edit(contact: &str, source: &str, t: Transport) -> Option<String> {
        let bytes = msg(contact);
        let m = Message::parse(&bytes).unwrap();
        alias_edit(&m, source.parse().unwrap(), t).map(|(_, v)| String::from_utf8(v).unwrap())
    }

    #[test]
    fn natted_udp_and_streams_get_an_alias() {
        assert_eq!(
            edit(
                "\"A\" <sip:a@10.0.0.5:5062;ob>;expires=60",
                "192.0.2.1:40000",
                Transport::Udp
            )
            .as_deref(),
            Some("\"A\" <sip:a@10.0.0.5:5062;ob;alias=192.0.2.1~40000~1>;expires=60")
        );
        assert_eq!(
            edit(
                "sip:a@10.0.0.5;transport=tcp",
                "192.0.2.1:40000",
                Transport::Tcp
            )
            .as_deref(),
            Some("<sip:a@10.0.0.5;alias=192.0.2.1~40000~2>;transport=tcp"),
            "unbracketed: the ;params are header parameters"
        );
        assert_eq!(
            edit("<sip:a@192.0.2.1:40000>", "192.0.2.1:40000", Transport::Udp),
            None
        );
        assert_eq!(
            edit("<sip:a@192.0.2.1>", "192.0.2.1:5060", Transport::Udp),
            None
        );
        assert_eq!(
            edit(
                "<sip:a@1.1.1.1;alias=1.1.1.1~1~1>",
                "192.0.2.1:5",
                Transport::Udp
            ),
            None
        );
    }

    #[test]
    fn alias_is_stripped() {
        assert_eq!(
            strip_alias(b"sip:a@10.0.0.5:5062;ob;alias=192.0.2.1~40000~1;x=y").as_deref(),
            Some(&b"sip:a@10.0.0.5:5062;ob;x=y"[..])
        );
        assert_eq!(
            strip_alias(b"sip:a@10.0.0.5;alias=1.2.3.4~5~1").as_deref(),
            Some(&b"sip:a@10.0.0.5"[..])
        );
        assert_eq!(strip_alias(b"sip:a@10.0.0.5"), None);
    }
}
