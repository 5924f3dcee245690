//! Auth-param syntax shared by credentials and challenges (RFC 3261 §25.1, RFC 7235 §2.1).

use std::borrow::Cow;

use super::{DigestError, Scheme, excerpt};

/// Real clients send at most a dozen; the cap bounds the duplicate check, which uses a fixed
/// array instead of a heap set.
const MAX_PARAMS: usize = 32;

/// A parameter value as written: a token, or the inside of a quoted string with its escapes
/// (`\"`, `\\`) and any line folding still in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Value<'a> {
    raw: &'a str,
    quoted: bool,
}

impl<'a> Value<'a> {
    /// The value as written, without the surrounding quotes.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Whether the value was a quoted string.
    pub fn is_quoted(&self) -> bool {
        self.quoted
    }

    /// The value with quoted-pairs resolved; borrows unless it had escapes or folding.
    pub fn unescape(&self) -> Cow<'a, str> {
        if self.quoted {
            unescape(self.raw)
        } else {
            Cow::Borrowed(self.raw)
        }
    }
}

/// Resolves quoted-pairs (`\x` → `x`) and turns line folding into one space (RFC 3261 §7.3.1).
/// Borrows when there is nothing to change.
pub fn unescape(raw: &str) -> Cow<'_, str> {
    if memchr::memchr3(b'\\', b'\r', b'\n', raw.as_bytes()).is_none() {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(escaped) = chars.next() {
                    out.push(escaped);
                }
            }
            '\r' | '\n' => {
                while chars
                    .next_if(|c| matches!(c, '\r' | '\n' | ' ' | '\t'))
                    .is_some()
                {}
                out.push(' ');
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// One `name=value` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    /// The name as written; compare it case-insensitively (RFC 7235 §2.1).
    pub name: &'a str,
    /// The value.
    pub value: Value<'a>,
}

/// Iterator over the parameters of a credentials or challenge value, in order. It re-scans the
/// header bytes, so it allocates nothing; after an error it ends.
#[derive(Debug, Clone)]
pub struct Params<'a> {
    cur: Cursor<'a>,
    first: bool,
    done: bool,
}

impl<'a> Params<'a> {
    pub(super) fn new(value: &'a [u8], at: usize) -> Self {
        Self {
            cur: Cursor {
                buf: value,
                pos: at,
            },
            first: true,
            done: false,
        }
    }

    fn step(&mut self) -> Result<Option<Param<'a>>, DigestError> {
        let c = &mut self.cur;
        c.skip_lws()?;
        if c.at_end() {
            return Ok(None);
        }
        if !self.first {
            // COMMA = SWS "," SWS; the grammar has no empty list elements.
            c.expect(b',', "',' or end of value")?;
            c.skip_lws()?;
        }
        self.first = false;
        let at = c.pos;
        let name = c.token();
        if name.is_empty() {
            return Err(DigestError::Expected {
                expected: "a parameter name",
                at,
            });
        }
        c.skip_lws()?;
        c.expect(b'=', "'=' after the parameter name")?;
        c.skip_lws()?;
        let value = c.value()?;
        Ok(Some(Param { name, value }))
    }
}

impl<'a> Iterator for Params<'a> {
    type Item = Result<Param<'a>, DigestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.step().transpose();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

/// Position in a header value. Every index goes through `get`, so no input can panic it.
#[derive(Debug, Clone)]
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn pos(&self) -> usize {
        self.pos
    }

    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    fn expect(&mut self, byte: u8, expected: &'static str) -> Result<(), DigestError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(DigestError::Expected {
                expected,
                at: self.pos,
            })
        }
    }

    /// Skips LWS (`[*WSP CRLF] 1*WSP`); returns whether it skipped anything.
    fn skip_lws(&mut self) -> Result<bool, DigestError> {
        let start = self.pos;
        while let Some(b) = self.peek() {
            match b {
                b' ' | b'\t' => self.pos += 1,
                b'\r' | b'\n' => match fold_len(self.buf, self.pos) {
                    Some(n) => self.pos += n,
                    None => {
                        return Err(DigestError::InvalidByte {
                            byte: b,
                            at: self.pos,
                        });
                    }
                },
                _ => break,
            }
        }
        Ok(self.pos > start)
    }

    /// Consumes a token (RFC 3261 §25.1), possibly empty.
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        let rest = self.buf.get(start..).unwrap_or_default();
        self.pos += rest.iter().take_while(|&&b| is_token_byte(b)).count();
        let bytes = self.buf.get(start..self.pos).unwrap_or_default();
        // Token bytes are ASCII, so this never falls back.
        core::str::from_utf8(bytes).unwrap_or_default()
    }

    fn value(&mut self) -> Result<Value<'a>, DigestError> {
        if self.peek() == Some(b'"') {
            return Ok(Value {
                raw: self.quoted()?,
                quoted: true,
            });
        }
        let at = self.pos;
        let raw = self.token();
        if raw.is_empty() {
            return Err(DigestError::Expected {
                expected: "a token or quoted string",
                at,
            });
        }
        Ok(Value { raw, quoted: false })
    }

    /// Consumes a quoted string starting at `"`; returns its inside, escapes intact.
    fn quoted(&mut self) -> Result<&'a str, DigestError> {
        let open = self.pos;
        let mut i = open + 1;
        loop {
            let rest = self.buf.get(i..).unwrap_or_default();
            i += rest.iter().take_while(|&&b| is_plain_qdtext(b)).count();
            let Some(&b) = self.buf.get(i) else {
                return Err(DigestError::UnterminatedQuote { at: open });
            };
            match b {
                b'"' => break,
                // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
                b'\\' => match self.buf.get(i + 1) {
                    None => return Err(DigestError::UnterminatedQuote { at: open }),
                    Some(&e @ (b'\r' | b'\n' | 0x80..=0xff)) => {
                        return Err(DigestError::InvalidByte { byte: e, at: i + 1 });
                    }
                    Some(_) => i += 2,
                },
                b'\r' | b'\n' => match fold_len(self.buf, i) {
                    Some(n) => i += n,
                    None => return Err(DigestError::InvalidByte { byte: b, at: i }),
                },
                // What the fast path stops at besides the above: control bytes.
                _ => return Err(DigestError::InvalidByte { byte: b, at: i }),
            }
        }
        let inside = self.buf.get(open + 1..i).unwrap_or_default();
        let raw = core::str::from_utf8(inside).map_err(|e| DigestError::InvalidUtf8 {
            at: open + 1 + e.valid_up_to(),
        })?;
        self.pos = i + 1;
        Ok(raw)
    }
}

/// Length of a line fold (CRLF or bare LF, then one SP/HT) at `at`, or of a line break that ends
/// the value (a caller may hand us the header line with its CRLF). `None` if neither: a line break
/// inside a header value must be folding (RFC 3261 §7.3.1).
fn fold_len(buf: &[u8], at: usize) -> Option<usize> {
    let brk = match (buf.get(at), buf.get(at + 1)) {
        (Some(b'\r'), Some(b'\n')) => 2,
        (Some(b'\n'), _) => 1,
        _ => return None,
    };
    match buf.get(at + brk) {
        Some(b' ' | b'\t') => Some(brk + 1),
        None => Some(brk),
        Some(_) => None,
    }
}

/// Byte classes, looked up per byte on the hot path.
const TOKEN: u8 = 1;
const PLAIN_QDTEXT: u8 = 2;
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        // token (RFC 3261 §25.1)
        if c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            )
        {
            t[b] |= TOKEN;
        }
        // qdtext apart from LWS; non-ASCII is checked as UTF-8 afterwards
        if c == b'\t' || (c >= 0x20 && c != 0x7f && c != b'"' && c != b'\\') {
            t[b] |= PLAIN_QDTEXT;
        }
        b += 1;
    }
    t
};

fn is_token_byte(b: u8) -> bool {
    CLASS[usize::from(b)] & TOKEN != 0
}

fn is_plain_qdtext(b: u8) -> bool {
    CLASS[usize::from(b)] & PLAIN_QDTEXT != 0
}

/// Reads `auth-scheme LWS`; returns the scheme and where the parameters start.
pub(super) fn scheme(value: &[u8]) -> Result<(Scheme<'_>, usize), DigestError> {
    let mut c = Cursor::new(value);
    c.skip_lws()?;
    if c.at_end() {
        return Err(DigestError::Empty);
    }
    let at = c.pos();
    let name = c.token();
    if name.is_empty() {
        return Err(DigestError::Expected {
            expected: "an auth scheme",
            at,
        });
    }
    if !c.skip_lws()? && !c.at_end() {
        return Err(DigestError::Expected {
            expected: "whitespace after the auth scheme",
            at: c.pos(),
        });
    }
    let scheme = if name.eq_ignore_ascii_case("Digest") {
        Scheme::Digest
    } else {
        Scheme::Other(name)
    };
    Ok((scheme, c.pos()))
}

/// Validates every Digest parameter, rejects duplicates and hands known ones to `f` by lowercase
/// name. RFC 3261 §25.1 requires at least one parameter after `Digest`.
pub(super) fn for_each_param<'a>(
    input: &'a [u8],
    params_at: usize,
    mut f: impl FnMut(&[u8], Value<'a>) -> Result<(), DigestError>,
) -> Result<(), DigestError> {
    let mut seen: [&str; MAX_PARAMS] = [""; MAX_PARAMS];
    let mut count = 0;
    for param in Params::new(input, params_at) {
        let Param { name, value } = param?;
        let earlier = seen.get(..count).unwrap_or_default();
        if earlier.iter().any(|n| n.eq_ignore_ascii_case(name)) {
            return Err(DigestError::DuplicateParam {
                name: excerpt(name.as_bytes()),
            });
        }
        let slot = seen
            .get_mut(count)
            .ok_or(DigestError::TooManyParams { max: MAX_PARAMS })?;
        *slot = name;
        count += 1;
        // Longer than `algorithm`, the longest known name: nothing for `f`.
        let mut buf = [0u8; 9];
        if let Some(dst) = buf.get_mut(..name.len()) {
            dst.copy_from_slice(name.as_bytes());
            dst.make_ascii_lowercase();
            f(dst, value)?;
        }
    }
    if count == 0 {
        return Err(DigestError::Expected {
            expected: "digest parameters",
            at: params_at,
        });
    }
    Ok(())
}

pub(super) fn find<'a>(params: Params<'a>, name: &str) -> Option<Value<'a>> {
    params
        .map_while(Result::ok)
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .map(|p| p.value)
}

/// RFC 7616 §3.3: `stale` and `userhash` are "true" or "false", case-insensitive; anything else
/// counts as false.
pub(super) fn is_true(v: Value<'_>) -> bool {
    v.raw().eq_ignore_ascii_case("true")
}

pub(super) fn trim(bytes: &[u8]) -> &[u8] {
    let ws = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = bytes.iter().position(|b| !ws(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !ws(b)).map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(s: &[u8]) -> Result<Vec<(String, String, bool)>, DigestError> {
        Params::new(s, 0)
            .map(|p| p.map(|p| (p.name.into(), p.value.raw().into(), p.value.is_quoted())))
            .collect()
    }

    #[test]
    fn tokens_and_quoted_strings() {
        let got = params(br#"a=b, c="d e", f = "" ,g=h"#).unwrap();
        assert_eq!(
            got,
            [
                ("a".into(), "b".into(), false),
                ("c".into(), "d e".into(), true),
                ("f".into(), "".into(), true),
                ("g".into(), "h".into(), false),
            ]
        );
        assert_eq!(params(b"").unwrap(), []);
        assert_eq!(params(b"  \r\n ").unwrap(), []);
    }

    #[test]
    fn folding_between_and_inside_params() {
        let got = params(b"a=\"x\r\n y\",\r\n\tb\r\n =\n c\r\n").unwrap();
        assert_eq!(got[0].1, "x\r\n y");
        assert_eq!(got[1], ("b".into(), "c".into(), false));
        assert_eq!(unescape("x\r\n y"), "x y");
    }

    #[test]
    fn quoted_pairs_stay_raw_until_unescaped() {
        let got = params(br#"u="a\"b\\c""#).unwrap();
        assert_eq!(got[0].1, r#"a\"b\\c"#);
        assert_eq!(unescape(&got[0].1), r#"a"b\c"#);
        assert!(matches!(unescape("plain"), Cow::Borrowed("plain")));
        // A dangling backslash cannot come from the parser, but must not panic either.
        assert_eq!(unescape("a\\"), "a");
    }

    #[test]
    fn syntax_errors_name_the_byte() {
        let e = |s: &[u8]| params(s).unwrap_err();
        assert_eq!(
            e(b"a=b, nonce=\"abc").to_string(),
            "digest: unterminated quoted string at byte 11"
        );
        assert_eq!(e(b"a=\"x\\"), DigestError::UnterminatedQuote { at: 2 });
        assert_eq!(
            e(b"a"),
            DigestError::Expected {
                expected: "'=' after the parameter name",
                at: 1
            }
        );
        assert_eq!(
            e(b"a=b,"),
            DigestError::Expected {
                expected: "a parameter name",
                at: 4
            }
        );
        assert_eq!(
            e(b"a=,b=c"),
            DigestError::Expected {
                expected: "a token or quoted string",
                at: 2
            }
        );
        assert_eq!(
            e(b"a=b c=d"),
            DigestError::Expected {
                expected: "',' or end of value",
                at: 4
            }
        );
        assert_eq!(
            e(b"a=b,,c=d").to_string(),
            "digest: expected a parameter name at byte 4"
        );
    }

    #[test]
    fn line_breaks_must_fold() {
        let e = |s: &[u8]| params(s).unwrap_err();
        assert_eq!(
            e(b"a=b\r\nc=d"),
            DigestError::InvalidByte { byte: b'\r', at: 3 }
        );
        assert_eq!(
            e(b"a=b\rc"),
            DigestError::InvalidByte { byte: b'\r', at: 3 }
        );
        assert_eq!(
            e(b"a=\"b\rc\""),
            DigestError::InvalidByte { byte: b'\r', at: 4 }
        );
        assert_eq!(
            e(b"a=\"b\\\r\n c\""),
            DigestError::InvalidByte { byte: b'\r', at: 5 }
        );
    }

    #[test]
    fn control_bytes_and_bad_utf8_in_quotes() {
        let e = |s: &[u8]| params(s).unwrap_err();
        assert_eq!(e(b"a=\"b\0\""), DigestError::InvalidByte { byte: 0, at: 4 });
        assert_eq!(
            e(b"a=\"b\x7f\""),
            DigestError::InvalidByte { byte: 0x7f, at: 4 }
        );
        assert_eq!(
            e(b"a=\"ok\xff\"").to_string(),
            "digest: invalid UTF-8 at byte 5"
        );
        assert_eq!(e(b"a=b\xff"), e(b"a=b\x01"));
        let got = params("a=\"J\u{fc}rgen\\\t\"".as_bytes()).unwrap();
        assert_eq!(unescape(&got[0].1), "J\u{fc}rgen\t");
    }

    #[test]
    fn iteration_stops_after_an_error() {
        let mut it = Params::new(b"a=b, =c, d=e", 0);
        assert!(it.next().is_some_and(|p| p.is_ok()));
        assert!(it.next().is_some_and(|p| p.is_err()));
        assert!(it.next().is_none());
    }
}
