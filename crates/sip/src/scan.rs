//! Byte-level scanning helpers shared by every SIP grammar in this crate (RFC 3261 §25.1).

/// Character classes of RFC 3261 §25.1, one bit per class, indexed by byte.
const TOKEN: u8 = 1;
const UNRESERVED: u8 = 2;
const HOSTCHAR: u8 = 4;
const WS: u8 = 8;
const USER: u8 = 16;
const PASSWORD: u8 = 32;
const PARAMCHAR: u8 = 64;
const HNV: u8 = 128;

const fn classes() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        let alnum = c.is_ascii_alphanumeric();
        let mut v = 0;
        if alnum
            || matches!(
                c,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            )
        {
            v |= TOKEN;
        }
        if alnum
            || matches!(
                c,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            )
        {
            v |= UNRESERVED;
        }
        if alnum || matches!(c, b'-' | b'.' | b'_') {
            v |= HOSTCHAR;
        }
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n') {
            v |= WS;
        }
        // URI classes (RFC 3261 §25.1); '%' is admitted here and escapes are checked apart.
        let unreserved = v & UNRESERVED != 0 || c == b'%';
        if unreserved || matches!(c, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/') {
            v |= USER;
        }
        if unreserved || matches!(c, b'&' | b'=' | b'+' | b'$' | b',') {
            v |= PASSWORD;
        }
        if unreserved || matches!(c, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$') {
            v |= PARAMCHAR;
        }
        if unreserved || matches!(c, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$') {
            v |= HNV;
        }
        t[b] = v;
        b += 1;
    }
    t
}

static CLASS: [u8; 256] = classes();

/// `token` character (RFC 3261 §25.1).
#[inline]
pub(crate) fn is_token(b: u8) -> bool {
    CLASS[b as usize] & TOKEN != 0
}

/// A character that may appear in a host name (underscore tolerated, as real DNS names carry it).
#[inline]
pub(crate) fn is_hostchar(b: u8) -> bool {
    CLASS[b as usize] & HOSTCHAR != 0
}

/// Linear white space once folding is accounted for: SP, HT, CR, LF.
#[inline]
pub(crate) fn is_lws(b: u8) -> bool {
    CLASS[b as usize] & WS != 0
}

/// `user` characters of a SIP URI (unreserved, escaped, user-unreserved).
#[inline]
pub(crate) fn is_user_char(b: u8) -> bool {
    CLASS[b as usize] & USER != 0
}

/// `password` characters of a SIP URI.
#[inline]
pub(crate) fn is_password_char(b: u8) -> bool {
    CLASS[b as usize] & PASSWORD != 0
}

/// `paramchar`: URI parameter names and values.
#[inline]
pub(crate) fn is_paramchar(b: u8) -> bool {
    CLASS[b as usize] & PARAMCHAR != 0
}

/// `hname` / `hvalue` characters of URI headers.
#[inline]
pub(crate) fn is_hnv_char(b: u8) -> bool {
    CLASS[b as usize] & HNV != 0
}

/// True when every byte is a token character and there is at least one.
pub(crate) fn is_token_str(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_token(b))
}

/// Index of the first byte at or after `i` that is not linear white space.
#[inline]
pub(crate) fn skip_lws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_lws(s[i]) {
        i += 1;
    }
    i
}

/// `s` without leading and trailing linear white space.
pub(crate) fn trim(s: &[u8]) -> &[u8] {
    let start = skip_lws(s, 0);
    let mut end = s.len();
    while end > start && is_lws(s[end - 1]) {
        end -= 1;
    }
    &s[start..end]
}

/// End of the token starting at `i` (exclusive).
#[inline]
pub(crate) fn token_end(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_token(s[i]) {
        i += 1;
    }
    i
}

/// Given `s[i] == b'"'`, the index just past the closing quote, honouring quoted-pairs.
/// `None` when the string is unterminated or holds a bare CR/LF that is not folding.
pub(crate) fn quoted_end(s: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while j < s.len() {
        match s[j] {
            b'"' => return Some(j + 1),
            // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
            b'\\' => {
                let next = *s.get(j + 1)?;
                if next == b'\r' || next == b'\n' || next > 0x7f {
                    return None;
                }
                j += 2;
            }
            _ => j += 1,
        }
    }
    None
}

/// Bytes to `&str`; `None` unless valid UTF-8. Grammar positions that only admit ASCII
/// use this so typed values can be handed out as `&str` without copying.
#[inline]
pub(crate) fn ascii_str(s: &[u8]) -> Option<&str> {
    // Callers only pass bytes already checked against an ASCII grammar class, so the UTF-8
    // check is the only one needed.
    std::str::from_utf8(s).ok()
}

/// Parses 1*DIGIT (leading zeros allowed) into a `u32`; `None` on overflow or a non-digit.
pub(crate) fn parse_u32(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 32 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(b - b'0');
        if v > u64::from(u32::MAX) {
            return None;
        }
    }
    u32::try_from(v).ok()
}

/// Parses 1*DIGIT into a `u32`, saturating at `u32::MAX` for overlarge values (RFC 4475
/// §3.1.2.4: an element may tolerate an expiry beyond 2^32-1). `None` for a non-digit.
pub(crate) fn parse_u32_saturating(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(parse_u32(s).unwrap_or(u32::MAX))
}

/// Splits a header value into its comma-separated elements at top level, i.e. outside
/// quoted strings and angle brackets (RFC 3261 §7.3.1). Elements are trimmed of LWS.
#[derive(Debug, Clone)]
pub(crate) struct CommaSplit<'a> {
    rest: &'a [u8],
    done: bool,
}

impl<'a> CommaSplit<'a> {
    pub(crate) fn new(value: &'a [u8]) -> Self {
        CommaSplit {
            rest: value,
            done: false,
        }
    }

    /// What is left after the elements taken so far, trimmed; `None` once all are taken.
    pub(crate) fn remainder(&self) -> Option<&'a [u8]> {
        (!self.done)
            .then(|| trim(self.rest))
            .filter(|r| !r.is_empty())
    }
}

impl<'a> Iterator for CommaSplit<'a> {
    /// `Err` carries the unparseable remainder (an unterminated quote or bracket).
    type Item = Result<&'a [u8], &'a [u8]>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let s = self.rest;
        let mut i = 0;
        while let Some(off) = memchr::memchr3(b'"', b'<', b',', &s[i..]) {
            i += off;
            match s[i] {
                b'"' => match quoted_end(s, i) {
                    Some(end) => i = end,
                    None => {
                        self.done = true;
                        return Some(Err(s));
                    }
                },
                b'<' => match memchr::memchr(b'>', &s[i..]) {
                    Some(off) => i += off + 1,
                    None => {
                        self.done = true;
                        return Some(Err(s));
                    }
                },
                _ => {
                    self.rest = &s[i + 1..];
                    return Some(Ok(trim(&s[..i])));
                }
            }
        }
        self.done = true;
        Some(Ok(trim(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_split_respects_quotes_and_brackets() {
        let v = br#""a, b" <sip:x@y;p=1,2>;q=1 , <sip:z>"#;
        let parts: Vec<_> = CommaSplit::new(v).map(|p| p.unwrap()).collect();
        assert_eq!(
            parts,
            vec![&br#""a, b" <sip:x@y;p=1,2>;q=1"#[..], b"<sip:z>"]
        );
    }

    #[test]
    fn quoted_end_handles_escapes() {
        assert_eq!(quoted_end(br#""a\"b" x"#, 0), Some(6));
        assert_eq!(quoted_end(br#""abc"#, 0), None);
        assert_eq!(quoted_end(b"\"a\\", 0), None);
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u32(b"0068"), Some(68));
        assert_eq!(parse_u32(b"4294967296"), None);
        assert_eq!(parse_u32_saturating(b"36893749652"), Some(u32::MAX));
        assert_eq!(parse_u32(b"-1"), None);
    }
}
