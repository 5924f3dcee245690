//! The ACK a client INVITE transaction sends for a non-2xx final response itself.

use bytes::Bytes;
use trunkline_sip::{HeaderName, Message};

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): the INVITE's Request-URI,
/// top Via, Route, From, Call-ID and CSeq number; the response's To.
pub(crate) fn build_ack(invite: &[u8], response: &Message<'_>) -> Option<Bytes> {
    let req = Message::parse(invite).ok()?;
    let rl = req.request_line()?;
    let mut out = Vec::with_capacity(invite.len().min(1024));
    out.extend_from_slice(b"ACK ");
    out.extend_from_slice(rl.uri);
    out.extend_from_slice(b" SIP/2.0\r\n");
    let top_via = req.values(HeaderName::Via).next()?.ok()?;
    push(&mut out, b"Via", top_via);
    for h in req.headers_named(HeaderName::Route) {
        push(&mut out, b"Route", h.value);
    }
    push(&mut out, b"From", req.header(HeaderName::From)?.value);
    push(&mut out, b"To", response.header(HeaderName::To)?.value);
    push(&mut out, b"Call-ID", req.header(HeaderName::CallId)?.value);
    let cseq = req.cseq().ok()?;
    push(&mut out, b"CSeq", format!("{} ACK", cseq.seq).as_bytes());
    push(&mut out, b"Max-Forwards", b"70");
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    Some(Bytes::from(out))
}

fn push(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}
