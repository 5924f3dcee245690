//! Writes new messages: responses to a request (RFC 3261 §8.2.6) and requests from parts.

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::header_name::HeaderName;
use crate::message::Message;
use crate::method::Method;
use crate::scan::CommaSplit;
use crate::via::Via;

/// What the transport saw when the request arrived, for the top Via of the response
/// (RFC 3261 §18.2.1 `received`, RFC 3581 `rport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ViaReceived {
    /// Added as `received=` (any earlier `received` is replaced).
    pub received: Option<IpAddr>,
    /// Fills an empty `rport` parameter; ignored when the Via has no `rport`.
    pub rport: Option<u16>,
}

/// Builds a response to a request.
#[derive(Debug)]
pub struct ResponseBuilder {
    out: Vec<u8>,
}

impl ResponseBuilder {
    /// Starts a response: status line, then Via (all, in order, the top one annotated),
    /// From, To (with `to_tag` added when the request's To has none and the code is not 100),
    /// Call-ID and CSeq copied from `req` (RFC 3261 §8.2.6). Headers the request lacks are
    /// skipped, so even a request missing some can be answered with a 400. Folded values are
    /// copied unfolded (each line break with the white space around it becomes one SP, which
    /// RFC 3261 §7.3.1 makes equivalent), so a 400 shows the value the validator judged.
    pub fn new(
        req: &Message<'_>,
        code: u16,
        reason: &str,
        to_tag: Option<&str>,
        via: ViaReceived,
    ) -> ResponseBuilder {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(b"SIP/2.0 ");
        let _ = write!(Bytes(&mut out), "{code} ");
        push_sanitized(&mut out, reason.as_bytes());
        out.extend_from_slice(b"\r\n");
        let mut first = true;
        for h in req.headers_named(HeaderName::Via) {
            out.extend_from_slice(b"Via: ");
            if first {
                first = false;
                write_annotated_via_line(&mut out, h.value, via);
            } else {
                push_unfolded(&mut out, h.value);
            }
            out.extend_from_slice(b"\r\n");
        }
        for name in [
            HeaderName::From,
            HeaderName::To,
            HeaderName::CallId,
            HeaderName::CSeq,
        ] {
            if let Some(h) = req.header(name) {
                out.extend_from_slice(name.as_str().as_bytes());
                out.extend_from_slice(b": ");
                push_unfolded(&mut out, h.value);
                if name == HeaderName::To
                    && code != 100
                    && let Some(tag) = to_tag
                    && req.to().map(|t| t.tag().is_none()).unwrap_or(false)
                {
                    out.extend_from_slice(b";tag=");
                    push_sanitized(&mut out, tag.as_bytes());
                }
                out.extend_from_slice(b"\r\n");
            }
        }
        ResponseBuilder { out }
    }

    /// Adds a header line; CR/LF in the value are replaced so nothing can be injected.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        push_header(&mut self.out, name, value);
        self
    }

    /// Writes Content-Type (when a body is given), Content-Length and the body.
    pub fn finish(self, body: Option<(&str, &[u8])>) -> Vec<u8> {
        finish(self.out, body)
    }
}

/// Builds a request from scratch (tests, keep-alive OPTIONS, and later the B2BUA).
#[derive(Debug)]
pub struct RequestBuilder {
    out: Vec<u8>,
}

impl RequestBuilder {
    /// Starts `METHOD uri SIP/2.0`.
    pub fn new(method: Method<'_>, uri: &str) -> RequestBuilder {
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(method.as_str().as_bytes());
        out.push(b' ');
        push_sanitized(&mut out, uri.as_bytes());
        out.extend_from_slice(b" SIP/2.0\r\n");
        RequestBuilder { out }
    }

    /// Adds a header line.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        push_header(&mut self.out, name, value);
        self
    }

    /// Writes Content-Type (when a body is given), Content-Length and the body.
    pub fn finish(self, body: Option<(&str, &[u8])>) -> Vec<u8> {
        finish(self.out, body)
    }
}

fn finish(mut out: Vec<u8>, body: Option<(&str, &[u8])>) -> Vec<u8> {
    let body = match body {
        Some((ct, b)) => {
            push_header(&mut out, "Content-Type", ct);
            b
        }
        None => &[],
    };
    let _ = write!(Bytes(&mut out), "Content-Length: {}\r\n\r\n", body.len());
    out.extend_from_slice(body);
    out
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    push_sanitized(out, name.as_bytes());
    out.extend_from_slice(b": ");
    push_sanitized(out, value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Copies `s`, turning CR and LF into spaces: header injection is impossible by construction.
fn push_sanitized(out: &mut Vec<u8>, s: &[u8]) {
    out.extend(
        s.iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
}

/// Copies a header value with each line fold (CR/LF and the white space around it) written
/// as one SP.
fn push_unfolded(out: &mut Vec<u8>, s: &[u8]) {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\r' || s[i] == b'\n' {
            while out.last().is_some_and(|&b| b == b' ' || b == b'\t') {
                out.pop();
            }
            while i < s.len() && crate::scan::is_lws(s[i]) {
                i += 1;
            }
            out.push(b' ');
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
}

/// Writes the first Via line with its first value annotated with received/rport; the other
/// values of the line are copied unfolded.
fn write_annotated_via_line(out: &mut Vec<u8>, line: &[u8], via: ViaReceived) {
    let mut values = CommaSplit::new(line);
    let Some(Ok(top)) = values.next() else {
        push_unfolded(out, line);
        return;
    };
    match Via::parse(top) {
        Ok(v) if via != ViaReceived::default() => {
            let params = v.params.raw();
            let head = crate::scan::trim(&top[..top.len() - params.len()]);
            out.extend_from_slice(head);
            for (name, value) in v.params.iter() {
                if name.eq_ignore_ascii_case("received") {
                    continue;
                }
                out.push(b';');
                out.extend_from_slice(name.as_bytes());
                match (name.eq_ignore_ascii_case("rport"), via.rport, value) {
                    (true, Some(port), _) => {
                        let _ = write!(Bytes(out), "={port}");
                    }
                    (_, _, Some(value)) => {
                        out.push(b'=');
                        out.extend_from_slice(value);
                    }
                    _ => {}
                }
            }
            if let Some(ip) = via.received {
                let _ = write!(Bytes(out), ";received={ip}");
            }
        }
        _ => push_unfolded(out, top),
    }
    // Everything after the top value on this line.
    let rest = &line[top.as_ptr() as usize - line.as_ptr() as usize + top.len()..];
    push_unfolded(out, rest);
}

/// `fmt::Write` into a byte vector.
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5062;rport;received=1.1.1.1;branch=z9hG4bK1, SIP/2.0/UDP proxy;branch=z9hG4bK0\r\n\
v: SIP/2.0/TCP p2;branch=z9hG4bKz\r\n\
f: <sip:alice@example.com>;tag=a\r\n\
t: <sip:bob@example.com>\r\n\
i: cid\r\n\
CSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n";

    #[test]
    fn response_per_8_2_6() {
        let req = Message::parse(REQ).unwrap();
        let via = ViaReceived {
            received: Some("192.0.2.7".parse().unwrap()),
            rport: Some(40000),
        };
        let resp = ResponseBuilder::new(&req, 486, "Busy\r\nX: injected", Some("xyz"), via)
            .header("Retry-After", "60")
            .finish(None);
        let text = String::from_utf8(resp.clone()).unwrap();
        assert!(text.starts_with("SIP/2.0 486 Busy  X: injected\r\n"));
        assert!(text.contains(
            "Via: SIP/2.0/UDP 10.0.0.1:5062;rport=40000;branch=z9hG4bK1;received=192.0.2.7, SIP/2.0/UDP proxy;branch=z9hG4bK0\r\n"
        ));
        assert!(text.contains("Via: SIP/2.0/TCP p2;branch=z9hG4bKz\r\n"));
        assert!(text.contains("To: <sip:bob@example.com>;tag=xyz\r\n"));
        let parsed = Message::parse(&resp).unwrap();
        assert_eq!(parsed.status_line().unwrap().code, 486);
        assert_eq!(parsed.call_id().unwrap(), b"cid");
        assert_eq!(parsed.vias().count(), 3);
    }

    #[test]
    fn trying_has_no_tag() {
        let req = Message::parse(REQ).unwrap();
        let resp = ResponseBuilder::new(&req, 100, "Trying", Some("t"), ViaReceived::default())
            .finish(None);
        assert!(!String::from_utf8(resp).unwrap().contains("tag=t"));
    }

    #[test]
    fn request_builder() {
        let req = RequestBuilder::new(Method::Options, "sip:127.0.0.1")
            .header("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx")
            .header("Call-ID", "c")
            .finish(Some(("text/plain", b"hi")));
        let m = Message::parse(&req).unwrap();
        assert_eq!(m.body(), b"hi");
        assert_eq!(m.content_type().unwrap().unwrap().sub, "plain");
    }
}
