//! Branch parameters for requests a proxy forwards, and loop detection with them
//! (RFC 3261 §16.6 item 8, §16.3 item 4).
//!
//! A forwarded request's branch is `z9hG4bK<unique>.<loop>`: `<unique>` tells transactions
//! apart, `<loop>` is a hash of the fields that decide where a request goes. When a request
//! comes back carrying one of our Vias, recomputing `<loop>` tells a loop (same fields: 482)
//! from a spiral (the Request-URI or Route changed on the way: forward it again).

use trunkline_sip::{HeaderName, MAGIC_COOKIE, Message, Via};

/// The loop-detection hash of a request: Request-URI, To tag, From tag, Call-ID, CSeq number,
/// Proxy-Require, Proxy-Authorization and Route, as the request is when it is forwarded.
pub fn loop_hash(req: &Message<'_>) -> Option<String> {
    let rl = req.request_line()?;
    let mut h = Fnv::default();
    h.field(rl.uri);
    h.field(req.to().ok().and_then(|t| t.tag()).unwrap_or_default());
    h.field(req.from().ok().and_then(|f| f.tag()).unwrap_or_default());
    h.field(req.call_id().ok()?);
    h.field(req.cseq().ok()?.seq.to_string().as_bytes());
    for name in [
        HeaderName::ProxyRequire,
        HeaderName::ProxyAuthorization,
        HeaderName::Route,
    ] {
        for hdr in req.headers_named(name) {
            h.field(hdr.value);
        }
    }
    Some(format!("{:016x}", h.0))
}

/// A fresh branch for forwarding `req`: `unique` must differ per outgoing transaction (the
/// caller's counter or random value).
pub fn forward_branch(req: &Message<'_>, unique: u64) -> Option<String> {
    Some(format!("{MAGIC_COOKIE}{unique:x}.{}", loop_hash(req)?))
}

/// RFC 3261 §16.3 item 4: true when one of the request's Vias was inserted by us (`is_ours`
/// recognises our sent-by) with the loop hash the request has now — it has come back
/// unchanged, a loop. A Via of ours with another hash is a spiral and not a loop.
pub fn is_loop(req: &Message<'_>, is_ours: impl Fn(&Via<'_>) -> bool) -> bool {
    // The hash is computed only for a request that carries one of our Vias: nearly every
    // request does not, and hashing is most of the cost.
    let mut now = None;
    req.vias().flatten().any(|via| {
        if !is_ours(&via) {
            return false;
        }
        let Some(now) = now.get_or_insert_with(|| loop_hash(req)) else {
            return false;
        };
        via.branch()
            .and_then(|b| b.rsplit(|&c| c == b'.').next())
            .is_some_and(|tail| tail == now.as_bytes())
    })
}

/// 64-bit FNV-1a over length-prefixed fields: not cryptographic, which loop detection does not
/// need (a collision only turns a spiral into a 482).
#[derive(Debug)]
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn field(&mut self, bytes: &[u8]) {
        for &b in (bytes.len() as u32).to_le_bytes().iter().chain(bytes) {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, vias: &[String]) -> Vec<u8> {
        let mut s = format!("INVITE {uri} SIP/2.0\r\n");
        for v in vias {
            s += &format!("Via: {v}\r\n");
        }
        s += "From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        s.into_bytes()
    }

    fn ours(v: &Via<'_>) -> bool {
        v.host == trunkline_sip::Host::Domain("proxy.test")
    }

    #[test]
    fn loop_versus_spiral() {
        let original = req("sip:b@y", &["SIP/2.0/UDP ua;branch=z9hG4bK1".into()]);
        let m = Message::parse(&original).unwrap();
        let branch = forward_branch(&m, 0xabc).unwrap();
        assert!(branch.starts_with("z9hG4bKabc."));
        let our_via = format!("SIP/2.0/UDP proxy.test;branch={branch}");
        // Came back unchanged: a loop.
        let back = req(
            "sip:b@y",
            &[our_via.clone(), "SIP/2.0/UDP ua;branch=z9hG4bK1".into()],
        );
        assert!(is_loop(&Message::parse(&back).unwrap(), ours));
        // Came back with a new Request-URI (retargeted): a spiral.
        let spiral = req(
            "sip:b@z",
            &[our_via, "SIP/2.0/UDP ua;branch=z9hG4bK1".into()],
        );
        assert!(!is_loop(&Message::parse(&spiral).unwrap(), ours));
        // Not our Via at all.
        assert!(!is_loop(&m, ours));
    }
}
