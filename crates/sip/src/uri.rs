//! URIs: `sip:`/`sips:` (RFC 3261 §19.1), `tel:` (RFC 3966), and any other absolute URI.

use std::borrow::Cow;
use std::fmt;

use memchr::memchr;

use crate::error::Problem;
use crate::host::{self, Host};
use crate::scan::{self, is_hnv_char, is_paramchar, is_password_char, is_user_char};

/// A parsed URI, borrowed from the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uri<'a> {
    /// `sip:` or `sips:`.
    Sip(SipUri<'a>),
    /// `tel:`.
    Tel(TelUri<'a>),
    /// Any other scheme, kept as `scheme:rest`.
    Absolute(AbsoluteUri<'a>),
}

/// A `sip:` or `sips:` URI. User and password keep their %-escapes; see [`unescape`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SipUri<'a> {
    /// True for `sips:`.
    pub secure: bool,
    /// The user part, escaped as received.
    pub user: Option<&'a [u8]>,
    /// The password, escaped as received (deprecated by RFC 3261 but legal).
    pub password: Option<&'a [u8]>,
    /// The host.
    pub host: Host<'a>,
    /// The port, if written.
    pub port: Option<u16>,
    /// `;name[=value]` URI parameters as received (starting with `;`), validated.
    pub params: UriParams<'a>,
    /// The `?hname=hvalue&…` part without the `?`, validated.
    pub headers: Option<&'a [u8]>,
}

/// A `tel:` URI (RFC 3966): the number with its visual separators, and parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelUri<'a> {
    /// The number as written, e.g. `+49-30-123456`.
    pub number: &'a str,
    /// `;name[=value]` parameters as received.
    pub params: UriParams<'a>,
}

/// A URI of a scheme this crate does not interpret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbsoluteUri<'a> {
    /// The scheme, as written.
    pub scheme: &'a str,
    /// Everything after `scheme:`.
    pub rest: &'a [u8],
}

/// URI parameters (`;transport=tcp;lr`), which unlike header parameters allow no LWS and
/// admit the `paramchar` set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UriParams<'a> {
    raw: &'a [u8],
}

impl<'a> UriParams<'a> {
    fn parse(raw: &'a [u8]) -> Result<UriParams<'a>, Problem> {
        for p in raw.split(|&b| b == b';').skip(1) {
            let (name, value) = match p.iter().position(|&b| b == b'=') {
                Some(eq) => (&p[..eq], Some(&p[eq + 1..])),
                None => (p, None),
            };
            if name.is_empty() || !valid_chars(name, is_paramchar) {
                return Err(Problem::BadParam);
            }
            if let Some(v) = value
                && (v.is_empty() || !valid_chars(v, is_paramchar))
            {
                return Err(Problem::BadParam);
            }
        }
        Ok(UriParams { raw })
    }

    /// As received, starting with `;` (or empty).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Iterates `(name, value)` with escapes kept.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], Option<&'a [u8]>)> + 'a {
        self.raw
            .split(|&b| b == b';')
            .skip(1)
            .map(|p| match memchr(b'=', p) {
                Some(eq) => (&p[..eq], Some(&p[eq + 1..])),
                None => (p, None),
            })
    }

    /// `Some(value)` when present (name compared case-insensitively); `Some(None)` for a flag.
    pub fn get(&self, name: &str) -> Option<Option<&'a [u8]>> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// True when the parameter is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

impl<'a> Uri<'a> {
    /// Parses a URI. `sip:`, `sips:` and `tel:` are checked against their grammar; other
    /// schemes only need a well-formed scheme and a non-empty remainder without white space.
    pub fn parse(s: &'a [u8]) -> Result<Uri<'a>, Problem> {
        let colon = memchr(b':', s).ok_or(Problem::BadScheme)?;
        let scheme = &s[..colon];
        let rest = &s[colon + 1..];
        let valid_scheme = scheme.first().is_some_and(u8::is_ascii_alphabetic)
            && scheme
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !valid_scheme {
            return Err(Problem::BadScheme);
        }
        if scheme.eq_ignore_ascii_case(b"sip") {
            SipUri::parse_after_scheme(rest, false).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case(b"sips") {
            SipUri::parse_after_scheme(rest, true).map(Uri::Sip)
        } else if scheme.eq_ignore_ascii_case(b"tel") {
            TelUri::parse_after_scheme(rest).map(Uri::Tel)
        } else {
            if rest.is_empty()
                || rest
                    .iter()
                    .any(|&b| scan::is_lws(b) || !(0x20..0x7f).contains(&b))
            {
                return Err(Problem::Empty);
            }
            Ok(Uri::Absolute(AbsoluteUri {
                scheme: scan::ascii_str(scheme).ok_or(Problem::BadScheme)?,
                rest,
            }))
        }
    }

    /// The SIP URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri<'a>> {
        match self {
            Uri::Sip(u) => Some(u),
            _ => None,
        }
    }

    /// The scheme in lower case.
    pub fn scheme(&self) -> Cow<'a, str> {
        match self {
            Uri::Sip(u) if u.secure => Cow::Borrowed("sips"),
            Uri::Sip(_) => Cow::Borrowed("sip"),
            Uri::Tel(_) => Cow::Borrowed("tel"),
            Uri::Absolute(a) => Cow::Owned(a.scheme.to_ascii_lowercase()),
        }
    }
}

impl<'a> SipUri<'a> {
    fn parse_after_scheme(s: &'a [u8], secure: bool) -> Result<SipUri<'a>, Problem> {
        // '@' cannot appear unescaped in params or headers, so the only one ends userinfo.
        let (userinfo, rest) = match s.iter().position(|&b| b == b'@') {
            Some(at) => (Some(&s[..at]), &s[at + 1..]),
            None => (None, s),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(ui) => {
                let (u, p) = match ui.iter().position(|&b| b == b':') {
                    Some(c) => (&ui[..c], Some(&ui[c + 1..])),
                    None => (ui, None),
                };
                if u.is_empty() || !valid_chars(u, is_user_char) {
                    return Err(Problem::BadUser);
                }
                if let Some(p) = p
                    && !valid_chars(p, is_password_char)
                {
                    return Err(Problem::BadUser);
                }
                check_escapes(ui)?;
                (Some(u), p)
            }
        };
        let hp_end = rest
            .iter()
            .position(|&b| b == b';' || b == b'?')
            .unwrap_or(rest.len());
        // IPv6 references contain ':' but never ';' or '?', so the split above is safe.
        let (host, port) = host::parse_hostport(&rest[..hp_end])?;
        let after = &rest[hp_end..];
        let (params_raw, headers) = match after.iter().position(|&b| b == b'?') {
            Some(q) => (&after[..q], Some(&after[q + 1..])),
            None => (after, None),
        };
        let params = UriParams::parse(params_raw)?;
        check_escapes(params_raw)?;
        if let Some(h) = headers {
            validate_uri_headers(h)?;
        }
        Ok(SipUri {
            secure,
            user,
            password,
            host,
            port,
            params,
            headers,
        })
    }

    /// `transport` parameter, if any.
    pub fn transport(&self) -> Option<&'a [u8]> {
        self.params.get("transport").flatten()
    }

    /// True with the `lr` parameter (a loose router, RFC 3261 §19.1.1).
    pub fn is_loose_router(&self) -> bool {
        self.params.contains("lr")
    }

    /// The user part with %-escapes decoded.
    pub fn user_unescaped(&self) -> Option<Cow<'a, [u8]>> {
        self.user.map(unescape)
    }
}

impl<'a> TelUri<'a> {
    fn parse_after_scheme(s: &'a [u8]) -> Result<TelUri<'a>, Problem> {
        let end = memchr(b';', s).unwrap_or(s.len());
        let number = &s[..end];
        let global = number.first() == Some(&b'+');
        let digits = if global { &number[1..] } else { number };
        let ok = !digits.is_empty()
            && digits.iter().all(|&b| {
                b.is_ascii_digit()
                    || matches!(b, b'-' | b'.' | b'(' | b')')
                    || (!global && (b.is_ascii_hexdigit() || b == b'*' || b == b'#'))
            });
        if !ok {
            return Err(Problem::BadUser);
        }
        let params = UriParams::parse(&s[end..])?;
        Ok(TelUri {
            number: scan::ascii_str(number).ok_or(Problem::BadUser)?,
            params,
        })
    }

    /// True for a global number (`+` followed by digits).
    pub fn is_global(&self) -> bool {
        self.number.starts_with('+')
    }
}

impl fmt::Display for SipUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(u) = self.user {
            f.write_str(&String::from_utf8_lossy(u))?;
            if let Some(p) = self.password {
                write!(f, ":{}", String::from_utf8_lossy(p))?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        f.write_str(&String::from_utf8_lossy(self.params.raw))?;
        if let Some(h) = self.headers {
            write!(f, "?{}", String::from_utf8_lossy(h))?;
        }
        Ok(())
    }
}

#[inline]
fn valid_chars(s: &[u8], class: impl Fn(u8) -> bool) -> bool {
    s.iter().all(|&b| class(b))
}

fn validate_uri_headers(h: &[u8]) -> Result<(), Problem> {
    for pair in h.split(|&b| b == b'&') {
        let eq = memchr(b'=', pair).ok_or(Problem::BadUriHeaders)?;
        let (name, value) = (&pair[..eq], &pair[eq + 1..]);
        if name.is_empty() || !valid_chars(name, is_hnv_char) || !valid_chars(value, is_hnv_char) {
            return Err(Problem::BadUriHeaders);
        }
    }
    check_escapes(h)
}

fn check_escapes(s: &[u8]) -> Result<(), Problem> {
    let mut i = 0;
    while let Some(off) = s[i..].iter().position(|&b| b == b'%') {
        let p = i + off;
        match (s.get(p + 1), s.get(p + 2)) {
            (Some(a), Some(b)) if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => i = p + 3,
            _ => return Err(Problem::BadEscape),
        }
    }
    Ok(())
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes `%HH` escapes; borrows when there are none. A malformed escape is kept literally.
/// The result may hold any octet, NUL included (RFC 4475 §3.1.1.4).
pub fn unescape(s: &[u8]) -> Cow<'_, [u8]> {
    if memchr(b'%', s).is_none() {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%'
            && let (Some(h), Some(l)) = (
                s.get(i + 1).copied().and_then(hex),
                s.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(s[i]);
        i += 1;
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sip(s: &str) -> SipUri<'_> {
        match Uri::parse(s.as_bytes()).unwrap() {
            Uri::Sip(u) => u,
            other => panic!("not sip: {other:?}"),
        }
    }

    #[test]
    fn full_sip_uri() {
        let u = sip("sips:alice:pw@[2001:db8::1]:5061;transport=tcp;lr?subject=x&h=y");
        assert!(u.secure);
        assert_eq!(u.user, Some(&b"alice"[..]));
        assert_eq!(u.password, Some(&b"pw"[..]));
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.transport(), Some(&b"tcp"[..]));
        assert!(u.is_loose_router());
        assert_eq!(u.headers, Some(&b"subject=x&h=y"[..]));
    }

    #[test]
    fn rfc4475_user_parts() {
        let u = sip(
            "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
        );
        assert_eq!(
            u.user,
            Some(&b"1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"[..])
        );
        let u = sip("sip:user;par=u%40example.net@example.com");
        assert_eq!(u.user, Some(&b"user;par=u%40example.net"[..]));
        let u = sip("sip:sips%3Auser%40example.com@example.net");
        assert_eq!(
            u.user_unescaped().as_deref(),
            Some(&b"sips:user@example.com"[..])
        );
        let u = sip("sip:null-%00-null@example.com");
        assert_eq!(u.user_unescaped().as_deref(), Some(&b"null-\0-null"[..]));
    }

    #[test]
    fn other_schemes() {
        assert!(matches!(
            Uri::parse(b"tel:+1-201-555-0123;phone-context=x"),
            Ok(Uri::Tel(_))
        ));
        assert!(matches!(
            Uri::parse(b"soap.beep://192.0.2.103:3002"),
            Ok(Uri::Absolute(_))
        ));
        assert_eq!(Uri::parse(b"<sip:a@b>"), Err(Problem::BadScheme));
        assert_eq!(Uri::parse(b"sip:a@b:x"), Err(Problem::BadPort));
        assert_eq!(Uri::parse(b"sip:a%zz@b"), Err(Problem::BadEscape));
        assert_eq!(Uri::parse(b"sip:a@b;;"), Err(Problem::BadParam));
        assert_eq!(Uri::parse(b"sip:a@b?x"), Err(Problem::BadUriHeaders));
        assert!(Uri::parse(b"sip:").is_err());
    }
}
