//! A parsed message's index as offsets, owned: kept beside the bytes so that every later
//! layer (transaction engine, driver, proxy) gets the [`Message`] back without parsing again.
//!
//! ```
//! use trunkline_sip::{Index, Message, Method};
//!
//! let bytes = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n".to_vec();
//! let index = Message::parse(&bytes).unwrap().index();
//! let again = Message::from_index(&bytes, &index).unwrap();
//! assert_eq!(again.method(), Some(Method::Options));
//! assert_eq!(again.call_id().unwrap(), b"x");
//! ```

use crate::header_name::HeaderName;
use crate::message::{Header, Message, RequestLine, StartLine, StatusLine, Version};
use crate::method::Method;

/// A byte range `(start, end)` in the message's buffer.
type Span = (u32, u32);

/// Where each part of a parsed message lies in its buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    /// The message (start line to end of body) in the buffer: CRLFs before it are skipped.
    raw: Span,
    start_line: Span,
    start: IndexedStart,
    headers: Vec<IndexedHeader>,
    /// Relative to `raw`.
    body_start: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IndexedStart {
    Request {
        method: Span,
        uri: Span,
        version: Version,
    },
    Response {
        version: Version,
        code: u16,
        reason: Span,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IndexedHeader {
    name: HeaderName,
    raw_name: Span,
    value: Span,
    line: Span,
}

/// Where `part` lies in `buf` (a part of it by construction); an empty range for anything
/// else, so that a wrong buffer yields empty slices, never a panic.
fn span_of(buf: &[u8], part: &[u8]) -> Span {
    let base = buf.as_ptr() as usize;
    let at = part.as_ptr() as usize;
    match at.checked_sub(base) {
        Some(start) if start + part.len() <= buf.len() => {
            (start as u32, (start + part.len()) as u32)
        }
        _ => (0, 0),
    }
}

fn slice(buf: &[u8], (start, end): Span) -> Option<&[u8]> {
    buf.get(start as usize..end as usize)
}

impl<'a> Message<'a> {
    /// This message's index: what [`Message::from_index`] needs to rebuild it over the same
    /// bytes without parsing. The offsets are relative to the start of the buffer the
    /// message was parsed from.
    pub fn index(&self) -> Index {
        let raw = self.raw();
        let start = match self.start_line() {
            StartLine::Request(r) => IndexedStart::Request {
                // The method token opens the start line (known methods are case-sensitive
                // tokens, so their name is the token).
                method: span_of(
                    raw,
                    (self.start_line_raw())
                        .get(..r.method.as_str().len())
                        .unwrap_or_default(),
                ),
                uri: span_of(raw, r.uri),
                version: r.version,
            },
            StartLine::Response(s) => IndexedStart::Response {
                version: s.version,
                code: s.code,
                reason: span_of(raw, s.reason),
            },
        };
        let headers = (self.headers().iter())
            .map(|h| IndexedHeader {
                name: h.name,
                raw_name: span_of(raw, h.raw_name),
                value: span_of(raw, h.value),
                line: h.line,
            })
            .collect();
        let skip = self.skipped() as u32;
        Index {
            raw: (skip, skip + raw.len() as u32),
            start_line: span_of(raw, self.start_line_raw()),
            start,
            headers,
            body_start: self.body_offset() as u32,
        }
    }

    /// The message `index` describes in `buffer`, rebuilt without parsing: `buffer` must be
    /// the buffer it was parsed from. `None` if the index does not fit the buffer.
    pub fn from_index(buffer: &'a [u8], index: &Index) -> Option<Message<'a>> {
        let raw = slice(buffer, index.raw)?;
        let start = match index.start {
            IndexedStart::Request {
                method,
                uri,
                version,
            } => StartLine::Request(RequestLine {
                method: Method::parse(slice(raw, method)?)?,
                uri: slice(raw, uri)?,
                version,
            }),
            IndexedStart::Response {
                version,
                code,
                reason,
            } => StartLine::Response(StatusLine {
                version,
                code,
                reason: slice(raw, reason)?,
            }),
        };
        let mut headers = Vec::with_capacity(index.headers.len());
        for h in &index.headers {
            headers.push(Header {
                name: h.name,
                raw_name: slice(raw, h.raw_name)?,
                value: slice(raw, h.value)?,
                line: h.line,
            });
        }
        Some(Message::assemble(
            raw,
            start,
            slice(raw, index.start_line)?,
            headers,
            index.body_start as usize,
            index.raw.0 as usize,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &[u8] =
        b"\r\nINVITE sip:bob@b.test SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n\
Max-Forwards: 70\r\nFrom: <sip:a@a.test>;tag=1\r\nTo: <sip:bob@b.test>\r\nCall-ID: c1\r\n\
CSeq: 1 INVITE\r\nSubject: folded\r\n  on two lines\r\nContent-Length: 4\r\n\r\nbody";

    #[test]
    fn a_rebuilt_message_is_the_parsed_one() {
        for bytes in [
            INVITE,
            b"SIP/2.0 180 Ringing\r\nCall-ID: c1\r\nContent-Length: 0\r\n\r\n",
        ] {
            let parsed = Message::parse(bytes).unwrap();
            let index = parsed.index();
            let again = Message::from_index(bytes, &index).unwrap();
            assert_eq!(format!("{parsed:?}"), format!("{again:?}"));
            assert_eq!(again.index(), index);
        }
    }

    #[test]
    fn a_wrong_buffer_gives_none_not_a_panic() {
        let index = Message::parse(INVITE).unwrap().index();
        assert!(Message::from_index(b"INVITE", &index).is_none());
    }
}
