//! The zero-copy message: start line, an index of header lines, and the body, all borrowed.
//!
//! Parsing only frames the message (start line, header lines, body by Content-Length); header
//! values are interpreted lazily by the typed accessors in [`crate::headers`].

use memchr::memchr;

use crate::error::{ParseError, ParseErrorKind, Problem};
use crate::header_name::HeaderName;
use crate::method::Method;
use crate::scan::{self, CommaSplit};

/// A SIP message borrowed from the buffer it was parsed from.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    raw: &'a [u8],
    start: StartLine<'a>,
    start_line: &'a [u8],
    headers: Vec<Header<'a>>,
    body_start: usize,
    /// CRLFs skipped before the start line (RFC 3261 §7.5): where `raw` starts in the buffer.
    skipped: usize,
}

/// Request-Line or Status-Line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// `Method SP Request-URI SP SIP-Version`.
    Request(RequestLine<'a>),
    /// `SIP-Version SP Status-Code SP Reason-Phrase`.
    Response(StatusLine<'a>),
}

/// The first line of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLine<'a> {
    /// The method token.
    pub method: Method<'a>,
    /// The Request-URI exactly as received; [`crate::Uri::parse`] interprets it.
    pub uri: &'a [u8],
    /// The protocol version.
    pub version: Version,
}

/// The first line of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusLine<'a> {
    /// The protocol version.
    pub version: Version,
    /// The status code, 100..=699.
    pub code: u16,
    /// The reason phrase, possibly empty, possibly UTF-8.
    pub reason: &'a [u8],
}

/// `SIP/major.minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

impl Version {
    /// SIP/2.0, the only version spoken here.
    pub const SIP_2_0: Version = Version { major: 2, minor: 0 };

    fn parse(s: &[u8]) -> Option<Version> {
        if s == b"SIP/2.0" {
            return Some(Version::SIP_2_0);
        }
        if s.len() < 7 || !s[..4].eq_ignore_ascii_case(b"SIP/") {
            return None;
        }
        let rest = &s[4..];
        let dot = memchr(b'.', rest)?;
        let major = scan::parse_u32(&rest[..dot])?;
        let minor = scan::parse_u32(&rest[dot + 1..])?;
        Some(Version {
            major: u16::try_from(major).ok()?,
            minor: u16::try_from(minor).ok()?,
        })
    }
}

/// One header line: its classified name, the raw name, and the value with folding kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// The classified name.
    pub name: HeaderName,
    /// The name as it appeared (any case, maybe compact).
    pub raw_name: &'a [u8],
    /// The value with leading/trailing white space removed; folding inside is kept.
    pub value: &'a [u8],
    /// Offsets of the whole header line (name to last value byte, no CRLF) in the message.
    pub(crate) line: (u32, u32),
}

impl<'a> Message<'a> {
    /// A message from its parts, for [`Message::from_index`].
    pub(crate) fn assemble(
        raw: &'a [u8],
        start: StartLine<'a>,
        start_line: &'a [u8],
        headers: Vec<Header<'a>>,
        body_start: usize,
        skipped: usize,
    ) -> Self {
        Message {
            raw,
            start,
            start_line,
            headers,
            body_start,
            skipped,
        }
    }

    /// CRLFs skipped before the start line: where [`Message::raw`] starts in the buffer.
    pub(crate) fn skipped(&self) -> usize {
        self.skipped
    }
}

impl<'a> Header<'a> {
    /// The comma-separated elements of this one line (RFC 3261 §7.3.1), trimmed; `Err` for
    /// an element with an unterminated quote or bracket.
    pub fn elements(&self) -> impl Iterator<Item = Result<&'a [u8], Problem>> + 'a {
        CommaSplit::new(self.value).map(|r| r.map_err(|_| Problem::Unterminated))
    }

    /// The line's value without its first `n` elements, `None` when nothing would remain
    /// (a proxy drops its own Route or Via from a line that carries several).
    pub fn value_without_first(&self, n: usize) -> Option<&'a [u8]> {
        let mut split = CommaSplit::new(self.value);
        for _ in 0..n {
            split.next()?.ok()?;
        }
        split.remainder()
    }
}

/// How the body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// A datagram: Content-Length if present, else the rest of the datagram (RFC 3261 §18.3).
    Datagram,
    /// A stream frame: Content-Length is mandatory.
    Stream,
    /// Salvage: headers only, the body is whatever follows; the header section may be
    /// unterminated. Used to answer a broken request with a 400.
    HeadOnly,
}

impl<'a> Message<'a> {
    /// Parses one message from a datagram. Octets after the body that Content-Length
    /// delimits are ignored (RFC 3261 §18.3).
    pub fn parse(bytes: &'a [u8]) -> Result<Message<'a>, ParseError> {
        parse(bytes, Framing::Datagram)
    }

    /// Parses one complete message cut from a stream by [`crate::StreamFramer`];
    /// Content-Length is mandatory.
    pub fn parse_stream(bytes: &'a [u8]) -> Result<Message<'a>, ParseError> {
        parse(bytes, Framing::Stream)
    }

    /// Parses the start line and headers leniently (the body and its length are not checked,
    /// the blank line may be missing). Only for building an error response to a message that
    /// [`Message::parse`] rejected.
    pub fn parse_head(bytes: &'a [u8]) -> Result<Message<'a>, ParseError> {
        parse(bytes, Framing::HeadOnly)
    }

    /// The bytes of this message, from the start line to the end of the body.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The start line, parsed.
    pub fn start_line(&self) -> &StartLine<'a> {
        &self.start
    }

    /// The start line exactly as received, without CRLF.
    pub fn start_line_raw(&self) -> &'a [u8] {
        self.start_line
    }

    /// `Some` for a request.
    pub fn request_line(&self) -> Option<&RequestLine<'a>> {
        match &self.start {
            StartLine::Request(r) => Some(r),
            StartLine::Response(_) => None,
        }
    }

    /// `Some` for a response.
    pub fn status_line(&self) -> Option<&StatusLine<'a>> {
        match &self.start {
            StartLine::Response(s) => Some(s),
            StartLine::Request(_) => None,
        }
    }

    /// True for a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request(_))
    }

    /// The request method, `None` for a response.
    pub fn method(&self) -> Option<Method<'a>> {
        self.request_line().map(|r| r.method)
    }

    /// All header lines in order.
    pub fn headers(&self) -> &[Header<'a>] {
        &self.headers
    }

    /// The first header line with this name.
    pub fn header(&self, name: HeaderName) -> Option<&Header<'a>> {
        self.headers.iter().find(|h| h.name == name)
    }

    /// Every header line with this name, in order.
    pub fn headers_named(&self, name: HeaderName) -> impl Iterator<Item = &Header<'a>> {
        self.headers.iter().filter(move |h| h.name == name)
    }

    /// Every header line whose raw name matches `name` case-insensitively (for unknown headers).
    pub fn headers_raw_named<'s>(
        &'s self,
        name: &'s str,
    ) -> impl Iterator<Item = &'s Header<'a>> + 's {
        self.headers
            .iter()
            .filter(move |h| h.raw_name.eq_ignore_ascii_case(name.as_bytes()))
    }

    /// The header line as received (name, colon, value with folding), without CRLF.
    pub fn header_line(&self, h: &Header<'a>) -> &'a [u8] {
        &self.raw[h.line.0 as usize..h.line.1 as usize]
    }

    /// The body (empty when there is none).
    pub fn body(&self) -> &'a [u8] {
        &self.raw[self.body_start..]
    }

    /// Offset of the body in [`Message::raw`]; everything before it is the head.
    pub fn body_offset(&self) -> usize {
        self.body_start
    }
}

/// Walks the lines of a message in order. One SIMD newline search runs across the whole
/// head instead of a fresh search per line, whose setup would cost more than the short
/// header lines themselves.
struct Lines<'a> {
    bytes: &'a [u8],
    newlines: memchr::Memchr<'a>,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Lines {
            bytes,
            newlines: memchr::memchr_iter(b'\n', bytes),
        }
    }

    /// End of the line starting at `start`, which must be where the previous line ended:
    /// (content end without CR, next line start). A missing final newline ends the line at
    /// the end of input.
    #[inline]
    fn next(&mut self, start: usize) -> (usize, usize) {
        match self.newlines.next() {
            Some(nl) => {
                let end = if nl > start && self.bytes[nl - 1] == b'\r' {
                    nl - 1
                } else {
                    nl
                };
                (end, nl + 1)
            }
            None => (self.bytes.len(), self.bytes.len()),
        }
    }
}

fn err(kind: ParseErrorKind, offset: usize) -> ParseError {
    ParseError { kind, offset }
}

/// Messages framed so far by this process, with the `count-parses` feature: tests check with
/// it that a message is parsed once on its way through the layers.
#[cfg(feature = "count-parses")]
pub static PARSES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn parse(bytes: &[u8], framing: Framing) -> Result<Message<'_>, ParseError> {
    #[cfg(feature = "count-parses")]
    PARSES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // RFC 3261 §7.5: CRLFs before the start line are ignored.
    let mut pos = 0;
    while pos < bytes.len() && (bytes[pos] == b'\r' || bytes[pos] == b'\n') {
        pos += 1;
    }
    if pos >= bytes.len() {
        return Err(err(ParseErrorKind::Empty, pos));
    }
    let bytes = &bytes[pos..];
    let mut lines = Lines::new(bytes);
    let (sl_end, mut i) = lines.next(0);
    if i >= bytes.len() && framing != Framing::HeadOnly {
        return Err(err(ParseErrorKind::IncompleteHeaders, bytes.len()));
    }
    let start_line = &bytes[..sl_end];
    let start = parse_start_line(start_line)?;

    let mut headers: Vec<Header<'_>> = Vec::with_capacity(32);
    let mut content_length: Option<usize> = None;
    let body_start;
    loop {
        if i >= bytes.len() {
            if framing == Framing::HeadOnly {
                body_start = bytes.len();
                break;
            }
            return Err(err(ParseErrorKind::IncompleteHeaders, i));
        }
        let line_start = i;
        let (mut end, mut next) = lines.next(i);
        if end == line_start {
            body_start = next;
            break;
        }
        if scan::is_lws(bytes[line_start]) {
            // A continuation line with no header to continue.
            return Err(err(ParseErrorKind::BadHeaderLine, line_start));
        }
        // Folding: following lines that start with SP/HT belong to this header.
        while next < bytes.len() && (bytes[next] == b' ' || bytes[next] == b'\t') {
            let (e, n) = lines.next(next);
            end = e;
            next = n;
        }
        let line = &bytes[line_start..end];
        let (name_end, name) = HeaderName::scan(line);
        let mut colon = name_end;
        while colon < line.len() && (line[colon] == b' ' || line[colon] == b'\t') {
            colon += 1;
        }
        if name_end == 0 || colon >= line.len() || line[colon] != b':' {
            return Err(err(ParseErrorKind::BadHeaderLine, line_start));
        }
        let raw_name = &line[..name_end];
        let value = scan::trim(&line[colon + 1..]);
        if name == HeaderName::ContentLength && framing != Framing::HeadOnly {
            let n = scan::parse_u32(value)
                .ok_or_else(|| err(ParseErrorKind::BadContentLength, line_start))?
                as usize;
            match content_length {
                Some(prev) if prev != n => {
                    return Err(err(ParseErrorKind::ConflictingContentLength, line_start));
                }
                _ => content_length = Some(n),
            }
        }
        headers.push(Header {
            name,
            raw_name,
            value,
            line: (line_start as u32, end as u32),
        });
        i = next;
    }

    let end = match (framing, content_length) {
        (Framing::HeadOnly, _) | (Framing::Datagram, None) => bytes.len(),
        (Framing::Stream, None) => {
            return Err(err(ParseErrorKind::MissingContentLength, body_start));
        }
        (_, Some(n)) => {
            let end = body_start.saturating_add(n);
            if end > bytes.len() {
                return Err(err(ParseErrorKind::TruncatedBody, bytes.len()));
            }
            end
        }
    };
    Ok(Message {
        raw: &bytes[..end],
        start,
        start_line,
        headers,
        body_start,
        skipped: pos,
    })
}

fn parse_start_line(line: &[u8]) -> Result<StartLine<'_>, ParseError> {
    if line.len() > 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        return parse_status_line(line).map(StartLine::Response);
    }
    let sp1 = memchr(b' ', line).ok_or_else(|| err(ParseErrorKind::BadStartLine, 0))?;
    let method = Method::parse(&line[..sp1]).ok_or_else(|| err(ParseErrorKind::BadMethod, 0))?;
    let rest = &line[sp1 + 1..];
    let sp2 = memchr(b' ', rest).ok_or_else(|| err(ParseErrorKind::BadStartLine, sp1 + 1))?;
    let uri = &rest[..sp2];
    if uri.is_empty() || uri.iter().any(|&b| scan::is_lws(b)) {
        return Err(err(ParseErrorKind::BadRequestUri, sp1 + 1));
    }
    let version_bytes = &rest[sp2 + 1..];
    let version = Version::parse(version_bytes)
        .ok_or_else(|| err(ParseErrorKind::BadVersion, sp1 + 1 + sp2 + 1))?;
    Ok(StartLine::Request(RequestLine {
        method,
        uri,
        version,
    }))
}

fn parse_status_line(line: &[u8]) -> Result<StatusLine<'_>, ParseError> {
    let sp1 = memchr(b' ', line).ok_or_else(|| err(ParseErrorKind::BadStartLine, 0))?;
    let version = Version::parse(&line[..sp1]).ok_or_else(|| err(ParseErrorKind::BadVersion, 0))?;
    let rest = &line[sp1 + 1..];
    let code_end = memchr(b' ', rest).unwrap_or(rest.len());
    let code_bytes = &rest[..code_end];
    let code = match code_bytes {
        [a, b, c] if code_bytes.iter().all(u8::is_ascii_digit) => {
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return Err(err(ParseErrorKind::BadStatusCode, sp1 + 1)),
    };
    if !(100..=699).contains(&code) {
        return Err(err(ParseErrorKind::BadStatusCode, sp1 + 1));
    }
    let reason = rest.get(code_end + 1..).unwrap_or(&[]);
    Ok(StatusLine {
        version,
        code,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: &[u8] = b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1\r\nv: SIP/2.0/UDP 5.6.7.8\r\n ;branch=z9hG4bK2\r\nContent-Length: 4\r\n\r\nbodyEXTRA";

    #[test]
    fn line_elements_and_what_remains() {
        let m = Message::parse(
            b"BYE sip:a@b SIP/2.0\r\nRoute: <sip:p1;lr>, \"x,y\" <sip:p2;lr> ,<sip:p3>\r\nRoute: <sip:p4>\r\n\r\n",
        )
        .unwrap();
        let line = m.headers()[0];
        let all: Vec<_> = line.elements().map(Result::unwrap).collect();
        assert_eq!(
            all,
            [&b"<sip:p1;lr>"[..], b"\"x,y\" <sip:p2;lr>", b"<sip:p3>"]
        );
        assert_eq!(
            line.value_without_first(1),
            Some(&b"\"x,y\" <sip:p2;lr> ,<sip:p3>"[..])
        );
        assert_eq!(line.value_without_first(2), Some(&b"<sip:p3>"[..]));
        assert_eq!(line.value_without_first(3), None);
        assert_eq!(m.headers()[1].value_without_first(1), None);
    }

    #[test]
    fn frames_datagram() {
        let m = Message::parse(OPTIONS).unwrap();
        assert_eq!(m.method(), Some(Method::Options));
        assert_eq!(m.headers().len(), 3);
        assert_eq!(m.body(), b"body");
        assert_eq!(m.headers()[1].name, HeaderName::Via);
        assert_eq!(
            m.headers()[1].value,
            b"SIP/2.0/UDP 5.6.7.8\r\n ;branch=z9hG4bK2"
        );
        assert_eq!(
            m.header_line(&m.headers()[0]),
            b"Via: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bK1"
        );
    }

    #[test]
    fn status_lines() {
        let m = Message::parse(b"SIP/2.0 100 \r\nCall-ID: x\r\n\r\n").unwrap();
        assert_eq!(m.status_line().unwrap().code, 100);
        assert_eq!(m.status_line().unwrap().reason, b"");
        assert!(Message::parse(b"SIP/2.0 4294967301 Huge\r\n\r\n").is_err());
        assert!(Message::parse(b"SIP/2.0 099 Low\r\n\r\n").is_err());
    }

    #[test]
    fn content_length_errors() {
        let kind = |b: &[u8]| Message::parse(b).unwrap_err().kind;
        assert_eq!(
            kind(b"A sip:x SIP/2.0\r\nl: 10\r\n\r\nab"),
            ParseErrorKind::TruncatedBody
        );
        assert_eq!(
            kind(b"A sip:x SIP/2.0\r\nl: -1\r\n\r\n"),
            ParseErrorKind::BadContentLength
        );
        assert_eq!(
            kind(b"A sip:x SIP/2.0\r\nl: 1\r\nContent-Length: 2\r\n\r\nab"),
            ParseErrorKind::ConflictingContentLength
        );
        assert_eq!(
            Message::parse_stream(b"A sip:x SIP/2.0\r\nX: 1\r\n\r\n")
                .unwrap_err()
                .kind,
            ParseErrorKind::MissingContentLength
        );
    }

    #[test]
    fn versions() {
        let m = Message::parse(b"INVITE sip:x SIP/7.0\r\n\r\n").unwrap();
        assert_eq!(
            m.request_line().unwrap().version,
            Version { major: 7, minor: 0 }
        );
        assert!(Message::parse(b"INVITE sip:x SIP/2.0 \r\n\r\n").is_err());
        assert!(Message::parse(b"INVITE  sip:x SIP/2.0\r\n\r\n").is_err());
    }

    #[test]
    fn head_only_salvages() {
        let m = Message::parse_head(b"INVITE sip:x SIP/2.0\r\nl: 99\r\nCall-ID: a").unwrap();
        assert_eq!(m.headers().len(), 2);
        assert!(Message::parse(b"INVITE sip:x SIP/2.0\r\nCall-ID: a").is_err());
    }
}
