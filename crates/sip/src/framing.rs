//! Cuts SIP messages out of a byte stream (TCP, TLS): Content-Length framing, CRLF keep-alives,
//! and a size cap (RFC 3261 §18.3, RFC 5626 §3.5.1). Sans-IO: feed bytes, take frames.

use crate::error::{ParseError, ParseErrorKind};
use crate::header_name::HeaderName;
use crate::scan;

/// What the framer found at the front of its buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// One complete message (parse it with [`crate::Message::parse_stream`]).
    Message(Vec<u8>),
    /// A double-CRLF keep-alive ping; answer with a single CRLF pong (RFC 5626 §4.4.1).
    Ping,
    /// A single CRLF: a pong or stray line ending; nothing to do.
    Pong,
}

/// Accumulates stream bytes and hands out whole messages.
#[derive(Debug)]
pub struct StreamFramer {
    buf: Vec<u8>,
    max_size: usize,
}

impl StreamFramer {
    /// A framer that refuses messages larger than `max_size` bytes (head plus body).
    pub fn new(max_size: usize) -> Self {
        StreamFramer {
            buf: Vec::new(),
            max_size,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes held but not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Takes every byte held, e.g. to answer a message whose framing failed.
    pub fn take_buffered(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// The next frame, `Ok(None)` when more bytes are needed. After an `Err` the stream has
    /// lost its framing and the connection should be closed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ParseError> {
        if self.buf.starts_with(b"\r\n\r\n") {
            self.buf.drain(..4);
            return Ok(Some(Frame::Ping));
        }
        if self.buf.starts_with(b"\r\n") {
            // "\r\n" or "\r\n\r" may be the start of a ping split across reads.
            if self.buf.len() < 4 && self.buf[2..].iter().all(|&b| b == b'\r') {
                return Ok(None);
            }
            self.buf.drain(..2);
            return Ok(Some(Frame::Pong));
        }
        let Some((head_end, body_start)) = blank_line(&self.buf) else {
            if self.buf.len() > self.max_size {
                return Err(ParseError {
                    kind: ParseErrorKind::TooLarge,
                    offset: self.buf.len(),
                });
            }
            return Ok(None);
        };
        let length = content_length(&self.buf[..head_end])?;
        let total = body_start.saturating_add(length);
        if total > self.max_size {
            return Err(ParseError {
                kind: ParseErrorKind::TooLarge,
                offset: 0,
            });
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let rest = self.buf.split_off(total);
        Ok(Some(Frame::Message(std::mem::replace(&mut self.buf, rest))))
    }
}

/// The first empty line, as (end of the header section, start of the body). Bare LF line ends
/// count exactly as the parser counts them, so the framer and [`crate::Message::parse_stream`]
/// always agree on where a message ends (a disagreement would let a peer smuggle a request).
fn blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    for nl in memchr::memchr_iter(b'\n', buf) {
        match &buf[nl + 1..] {
            [b'\n', ..] => return Some((nl, nl + 2)),
            [b'\r', b'\n', ..] => return Some((nl, nl + 3)),
            _ => {}
        }
    }
    None
}

/// Finds Content-Length (or `l`) in a header block; it is mandatory on streams.
fn content_length(head: &[u8]) -> Result<usize, ParseError> {
    let mut found: Option<usize> = None;
    let mut offset = 0;
    for line in head.split(|&b| b == b'\n') {
        let line_offset = offset;
        offset += line.len() + 1;
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        if line.first().is_some_and(|&b| scan::is_lws(b)) {
            continue;
        }
        if HeaderName::from_bytes(scan::trim(&line[..colon])) != HeaderName::ContentLength {
            continue;
        }
        let n = scan::parse_u32(scan::trim(&line[colon + 1..])).ok_or(ParseError {
            kind: ParseErrorKind::BadContentLength,
            offset: line_offset,
        })? as usize;
        if found.is_some_and(|f| f != n) {
            return Err(ParseError {
                kind: ParseErrorKind::ConflictingContentLength,
                offset: line_offset,
            });
        }
        found = Some(n);
    }
    found.ok_or(ParseError {
        kind: ParseErrorKind::MissingContentLength,
        offset: head.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_across_pushes() {
        let mut f = StreamFramer::new(4096);
        let msg = b"OPTIONS sip:x SIP/2.0\r\nl: 3\r\n\r\nabc";
        f.push(b"\r\n\r\n");
        f.push(&msg[..10]);
        assert_eq!(f.next_frame().unwrap(), Some(Frame::Ping));
        assert_eq!(f.next_frame().unwrap(), None);
        f.push(&msg[10..]);
        f.push(b"\r\n");
        assert_eq!(f.next_frame().unwrap(), Some(Frame::Message(msg.to_vec())));
        assert_eq!(f.next_frame().unwrap(), None);
        f.push(b"OPTIONS");
        assert_eq!(f.next_frame().unwrap(), Some(Frame::Pong));
        assert_eq!(f.buffered(), 7);
    }

    #[test]
    fn bare_lf_messages_frame_where_the_parser_ends_them() {
        // Found by review of the fuzz targets: a bare-LF head used to be cut at the next CRLFCRLF.
        let mut f = StreamFramer::new(4096);
        f.push(b"OPTIONS sip:a SIP/2.0\nl: 4\n\nABCD\r\n\r\nOPTIONS sip:b SIP/2.0\r\nl: 0\r\n\r\n");
        let Some(Frame::Message(first)) = f.next_frame().unwrap() else {
            panic!("first message")
        };
        assert_eq!(first, b"OPTIONS sip:a SIP/2.0\nl: 4\n\nABCD");
        assert_eq!(
            crate::Message::parse_stream(&first).unwrap().raw().len(),
            first.len()
        );
        assert_eq!(f.next_frame().unwrap(), Some(Frame::Ping));
        let Some(Frame::Message(second)) = f.next_frame().unwrap() else {
            panic!("second message")
        };
        assert!(second.starts_with(b"OPTIONS sip:b"));
    }

    #[test]
    fn errors() {
        let mut f = StreamFramer::new(64);
        f.push(b"OPTIONS sip:x SIP/2.0\r\nX: y\r\n\r\n");
        assert_eq!(
            f.next_frame().unwrap_err().kind,
            ParseErrorKind::MissingContentLength
        );
        let mut f = StreamFramer::new(64);
        f.push(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 1000\r\n\r\n");
        assert_eq!(f.next_frame().unwrap_err().kind, ParseErrorKind::TooLarge);
        let mut f = StreamFramer::new(16);
        f.push(&[b'a'; 40]);
        assert_eq!(f.next_frame().unwrap_err().kind, ParseErrorKind::TooLarge);
    }
}
