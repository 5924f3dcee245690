//! The media policy of proxied calls: whether a call needs the relay (`media.mode`), and
//! whether a message carries SDP. How its offers and answers are anchored is
//! [`super::anchoring`].

use std::net::IpAddr;

use trunkline_sdp::Sdp;
use trunkline_sip::{Host, Message, Uri};

use super::Target;
use crate::config::MediaMode;
use crate::transport::Peer;

/// Whether a new call from `from` (its INVITE `msg`) to `targets` goes through the relay:
/// always, never, or (`nat`) when the caller's SDP or Contact names another address than
/// the one it signals from, a callee's binding is behind NAT, or caller and callee are on
/// different address families.
pub(super) fn needs_relay(
    mode: MediaMode,
    msg: &Message<'_>,
    from: Peer,
    targets: &[Vec<Target>],
) -> bool {
    match mode {
        MediaMode::Off => false,
        MediaMode::Always => true,
        MediaMode::Nat => {
            let source = from.addr.ip();
            let sdp_elsewhere = sdp_address(msg).is_some_and(|ip| ip != source);
            let contact_elsewhere = contact_host(msg).is_some_and(|h| h != Some(source));
            let callee_natted = (targets.iter().flatten()).any(|t| {
                let family = t.peer.addr.is_ipv4() != source.is_ipv4();
                let contact = (t.request_uri.as_deref())
                    .and_then(|u| uri_host(u.as_bytes()))
                    .is_some_and(|h| h != Some(t.peer.addr.ip()));
                family || contact
            });
            sdp_elsewhere || contact_elsewhere || callee_natted
        }
    }
}

/// Whether the body is SDP (Content-Type application/sdp, or no type and an SDP start).
pub(super) fn has_sdp(msg: &Message<'_>) -> bool {
    let body = msg.body();
    if body.is_empty() {
        return false;
    }
    match msg.content_type() {
        Ok(Some(ct)) => ct.is("application", "sdp"),
        Ok(None) => body.starts_with(b"v=0"),
        Err(_) => false,
    }
}

/// The address of the first audio stream of `msg`'s SDP.
fn sdp_address(msg: &Message<'_>) -> Option<IpAddr> {
    if !has_sdp(msg) {
        return None;
    }
    let sdp = Sdp::parse(msg.body()).ok()?;
    let streams = sdp.streams();
    let audio = streams.iter().find(|s| s.media == "audio")?;
    Some(audio.rtp?.ip())
}

/// The host of the first Contact: `Some(Some(ip))`, `Some(None)` for a domain name.
fn contact_host(msg: &Message<'_>) -> Option<Option<IpAddr>> {
    let c = msg.contacts().next()?.ok()?;
    match c {
        trunkline_sip::Contact::Addr(na) => uri_host(na.uri_raw),
        _ => None,
    }
}

fn uri_host(uri: &[u8]) -> Option<Option<IpAddr>> {
    let Ok(Uri::Sip(u)) = Uri::parse(uri) else {
        return None;
    };
    Some(match u.host {
        Host::V4(a) => Some(IpAddr::V4(a)),
        Host::V6(a) => Some(IpAddr::V6(a)),
        Host::Domain(_) => None,
    })
}
