//! Walks multipart bodies (RFC 2046 §5.1, as carried by SIP per RFC 5621).

use memchr::memmem;

use crate::error::Problem;
use crate::media_type::MediaType;
use crate::name_addr::unquote;

/// One body part: its header block (raw, CRLF-separated) and its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part<'a> {
    /// The part's header lines, raw, without the blank line.
    pub headers: &'a [u8],
    /// The part's content (may contain any octets).
    pub body: &'a [u8],
}

impl<'a> Part<'a> {
    /// The value of the part's header `name` (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers.split(|&b| b == b'\n').find_map(|line| {
            let colon = memchr::memchr(b':', line)?;
            crate::scan::trim(&line[..colon])
                .eq_ignore_ascii_case(name.as_bytes())
                .then(|| crate::scan::trim(&line[colon + 1..]))
        })
    }
}

/// Splits `body` into parts using the `boundary` of `content_type`.
pub fn parts<'a>(content_type: &MediaType<'_>, body: &'a [u8]) -> Result<Vec<Part<'a>>, Problem> {
    let boundary = content_type
        .params
        .get("boundary")
        .flatten()
        .ok_or(Problem::BadParam)?;
    let boundary = unquote(boundary);
    if boundary.is_empty() || boundary.len() > 70 {
        return Err(Problem::BadParam);
    }
    let mut delim = Vec::with_capacity(boundary.len() + 2);
    delim.extend_from_slice(b"--");
    delim.extend_from_slice(&boundary);
    let finder = memmem::Finder::new(&delim);

    // Positions of delimiter lines: at the start of the body or after a line break.
    let mut marks = Vec::new();
    let mut from = 0;
    while let Some(off) = finder.find(&body[from..]) {
        let at = from + off;
        if at == 0 || body[at - 1] == b'\n' {
            marks.push(at);
        }
        from = at + delim.len();
    }
    let mut out = Vec::new();
    for pair in marks.windows(2) {
        let after_delim = pair[0] + delim.len();
        if body[after_delim..].starts_with(b"--") {
            break;
        }
        let content_start = match memmem::find(&body[after_delim..], b"\n") {
            Some(nl) => after_delim + nl + 1,
            None => return Err(Problem::Unterminated),
        };
        // The CRLF before the next delimiter belongs to the delimiter.
        let mut end = pair[1];
        if end > content_start && body[end - 1] == b'\n' {
            end -= 1;
        }
        if end > content_start && body[end - 1] == b'\r' {
            end -= 1;
        }
        let part = &body[content_start..end.max(content_start)];
        let (headers, content) = match memmem::find(part, b"\r\n\r\n") {
            Some(p) => (&part[..p], &part[p + 4..]),
            None if part.starts_with(b"\r\n") => (&part[..0], &part[2..]),
            None => return Err(Problem::Unterminated),
        };
        out.push(Part {
            headers,
            body: content,
        });
    }
    match marks.last() {
        Some(&last) if body[last + delim.len()..].starts_with(b"--") => Ok(out),
        _ => Err(Problem::Unterminated),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_parts() {
        let ct = MediaType::parse(b"multipart/mixed;boundary=\"xx\"").unwrap();
        let body = b"preamble\r\n--xx\r\nContent-Type: text/plain\r\n\r\nhello\r\n--xx\r\nContent-Type: application/octet-stream\r\n\r\n\x00\n\xff\r\n--xx--\r\n";
        let p = parts(&ct, body).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].body, b"hello");
        assert_eq!(p[0].header("content-type"), Some(&b"text/plain"[..]));
        assert_eq!(p[1].body, b"\x00\n\xff");
        assert!(parts(&ct, b"--xx\r\n\r\nunterminated").is_err());
    }
}
