//! Re-serializes a parsed message with edits, copying every untouched byte as received.
//!
//! A proxy changes little: it prepends a Via, drops a Route, rewrites the Request-URI or
//! Max-Forwards. Everything else goes out exactly as it came in, folding and compact names
//! included, so signatures and odd-but-valid formatting survive.

use crate::message::Message;

/// A set of edits over a message; [`Editor::write`] renders the result.
#[derive(Debug)]
pub struct Editor<'m, 'a> {
    msg: &'m Message<'a>,
    start_line: Option<Vec<u8>>,
    prepend: Vec<Vec<u8>>,
    replace: Vec<(usize, Option<Vec<u8>>)>,
    append: Vec<Vec<u8>>,
    body: Option<Vec<u8>>,
}

impl<'m, 'a> Editor<'m, 'a> {
    /// No edits yet: `write` returns the message byte for byte.
    pub fn new(msg: &'m Message<'a>) -> Self {
        Editor {
            msg,
            start_line: None,
            prepend: Vec::new(),
            replace: Vec::new(),
            append: Vec::new(),
            body: None,
        }
    }

    /// Replaces the Request-URI (requests only; ignored for responses).
    pub fn set_request_uri(&mut self, uri: &[u8]) -> &mut Self {
        if let Some(rl) = self.msg.request_line() {
            let mut line = Vec::with_capacity(uri.len() + 32);
            line.extend_from_slice(rl.method.as_str().as_bytes());
            line.push(b' ');
            line.extend_from_slice(uri);
            line.extend_from_slice(b" SIP/2.0");
            self.start_line = Some(line);
        }
        self
    }

    /// Replaces the status line (responses only; ignored for requests). CR and LF in the
    /// reason are dropped.
    pub fn set_status(&mut self, code: u16, reason: &str) -> &mut Self {
        if self.msg.status_line().is_some() {
            let reason: String = reason
                .chars()
                .filter(|c| !matches!(c, '\r' | '\n'))
                .collect();
            self.start_line = Some(format!("SIP/2.0 {code} {reason}").into_bytes());
        }
        self
    }

    /// Inserts a header line before all others (a new top Via, Record-Route …).
    pub fn prepend(&mut self, name: &str, value: &[u8]) -> &mut Self {
        self.prepend.push(line(name, value));
        self
    }

    /// Adds a header line after all others.
    pub fn append(&mut self, name: &str, value: &[u8]) -> &mut Self {
        self.append.push(line(name, value));
        self
    }

    /// Removes the header at `index` in [`Message::headers`].
    pub fn remove(&mut self, index: usize) -> &mut Self {
        self.replace.push((index, None));
        self
    }

    /// Replaces the value of the header at `index`, keeping its name as received.
    pub fn set_value(&mut self, index: usize, value: &[u8]) -> &mut Self {
        if let Some(h) = self.msg.headers().get(index) {
            let name = String::from_utf8_lossy(h.raw_name).into_owned();
            self.replace.push((index, Some(line(&name, value))));
        }
        self
    }

    /// Replaces the body; Content-Length is rewritten to match.
    pub fn set_body(&mut self, body: &[u8]) -> &mut Self {
        self.body = Some(body.to_vec());
        self
    }

    /// Renders the edited message.
    pub fn write(&self) -> Vec<u8> {
        let msg = self.msg;
        let raw = msg.raw();
        let mut out = Vec::with_capacity(raw.len() + 256);
        // The start line keeps its own terminator (CRLF or a bare LF) unless it is replaced.
        let head_start = next_line_start(raw, msg.start_line_raw().len());
        match &self.start_line {
            Some(l) => {
                out.extend_from_slice(l);
                out.extend_from_slice(b"\r\n");
            }
            None => out.extend_from_slice(&raw[..head_start]),
        }
        for l in &self.prepend {
            out.extend_from_slice(l);
        }
        let body = self.body.as_deref();
        let mut wrote_length = false;
        let mut cursor = head_start;
        for (i, h) in msg.headers().iter().enumerate() {
            let (start, end) = (h.line.0 as usize, h.line.1 as usize);
            let edit = self.replace.iter().rev().find(|(idx, _)| *idx == i);
            let is_length = h.name == crate::HeaderName::ContentLength;
            if edit.is_none() && !(is_length && body.is_some()) {
                // Copy the line and its original terminator (CRLF or LF) unchanged.
                let next = next_line_start(raw, end);
                out.extend_from_slice(&raw[start..next]);
                cursor = next;
                wrote_length |= is_length;
                continue;
            }
            cursor = next_line_start(raw, end);
            match edit {
                Some((_, Some(l))) => out.extend_from_slice(l),
                Some((_, None)) => {}
                None => {
                    if let Some(b) = body
                        && !wrote_length
                    {
                        out.extend_from_slice(&line(
                            "Content-Length",
                            b.len().to_string().as_bytes(),
                        ));
                        wrote_length = true;
                    }
                }
            }
        }
        for l in &self.append {
            out.extend_from_slice(l);
        }
        if let Some(b) = body {
            if !wrote_length {
                out.extend_from_slice(&line("Content-Length", b.len().to_string().as_bytes()));
            }
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(b);
        } else {
            // The blank line and body exactly as received.
            out.extend_from_slice(&raw[cursor.min(raw.len())..]);
        }
        out
    }
}

fn next_line_start(raw: &[u8], end: usize) -> usize {
    match raw.get(end) {
        Some(b'\r') if raw.get(end + 1) == Some(&b'\n') => end + 2,
        Some(b'\n') => end + 1,
        _ => end,
    }
}

fn line(name: &str, value: &[u8]) -> Vec<u8> {
    let mut l = Vec::with_capacity(name.len() + value.len() + 4);
    l.extend_from_slice(name.as_bytes());
    l.extend_from_slice(b": ");
    l.extend(
        value
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    l.extend_from_slice(b"\r\n");
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"INVITE sip:bob@example.com SIP/2.0\r\n\
v:  SIP/2.0/UDP a\r\n   ;branch=z9hG4bK1\r\n\
Route: <sip:p1;lr>\r\n\
Max-Forwards: 70\r\n\
l: 4\r\n\r\nbody";

    #[test]
    fn untouched_is_byte_exact() {
        let m = Message::parse(MSG).unwrap();
        assert_eq!(Editor::new(&m).write(), MSG);
    }

    #[test]
    fn proxy_style_edits() {
        let m = Message::parse(MSG).unwrap();
        let out = Editor::new(&m)
            .set_request_uri(b"sip:bob@192.0.2.1:5062")
            .prepend("Via", b"SIP/2.0/UDP proxy;branch=z9hG4bK2")
            .remove(1)
            .set_value(2, b"69")
            .write();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "INVITE sip:bob@192.0.2.1:5062 SIP/2.0\r\nVia: SIP/2.0/UDP proxy;branch=z9hG4bK2\r\n\
v:  SIP/2.0/UDP a\r\n   ;branch=z9hG4bK1\r\nMax-Forwards: 69\r\nl: 4\r\n\r\nbody"
        );
    }

    #[test]
    fn bare_lf_and_headerless_messages_are_byte_exact() {
        // Found by the `message` fuzz target.
        for raw in [
            &b"SIP/2.0 503\n\n"[..],
            b"SIP/2.0 503 Unavailable\nVia: SIP/2.0/UDP h\n\n",
            b"OPTIONS sip:x SIP/2.0\r\n\r\nbody",
        ] {
            let m = Message::parse(raw).unwrap();
            assert_eq!(Editor::new(&m).write(), raw);
        }
    }

    #[test]
    fn body_replacement_fixes_length() {
        let m = Message::parse(MSG).unwrap();
        let out = Editor::new(&m).set_body(b"longer body").write();
        let again = Message::parse(&out).unwrap();
        assert_eq!(again.body(), b"longer body");
        assert_eq!(again.content_length(), Some(11));
    }
}
