//! name-addr / addr-spec values: From, To, Contact, Route, Record-Route (RFC 3261 §20.10).

use std::borrow::Cow;

use memchr::memchr;

use crate::error::Problem;
use crate::params::Params;
use crate::scan;
use crate::uri::Uri;

/// `[display-name] <uri> *(;param)` or `uri *(;param)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name as written: a quoted string (quotes included) or a run of tokens.
    pub display: Option<&'a [u8]>,
    /// The URI as written (without `<>`).
    pub uri_raw: &'a [u8],
    /// The parsed URI.
    pub uri: Uri<'a>,
    /// Header parameters after the URI (`;tag=…`, `;expires=…`).
    pub params: Params<'a>,
    /// True when the URI was enclosed in `<>`.
    pub bracketed: bool,
}

impl<'a> NameAddr<'a> {
    /// Parses one (already comma-split) element.
    pub fn parse(s: &'a [u8]) -> Result<NameAddr<'a>, Problem> {
        let s = scan::trim(s);
        if s.is_empty() {
            return Err(Problem::Empty);
        }
        let (display, rest) = if s[0] == b'"' {
            let end = scan::quoted_end(s, 0).ok_or(Problem::Unterminated)?;
            let after = scan::skip_lws(s, end);
            if s.get(after) != Some(&b'<') {
                return Err(Problem::BadDisplayName);
            }
            (Some(&s[..end]), &s[after..])
        } else if let Some(lt) = memchr(b'<', s) {
            // An unquoted display name is tokens separated by LWS (RFC 3261 §25.1).
            let name = scan::trim(&s[..lt]);
            if !name.iter().all(|&b| scan::is_token(b) || scan::is_lws(b)) {
                return Err(Problem::BadDisplayName);
            }
            ((!name.is_empty()).then_some(name), &s[lt..])
        } else {
            (None, s)
        };
        if rest.first() == Some(&b'<') {
            let gt = memchr(b'>', rest).ok_or(Problem::Unterminated)?;
            let uri_raw = &rest[1..gt];
            let uri = Uri::parse(uri_raw)?;
            let params = Params::parse(&rest[gt + 1..])?;
            Ok(NameAddr {
                display,
                uri_raw,
                uri,
                params,
                bracketed: true,
            })
        } else {
            // addr-spec form: parameters after ';' belong to the header, not the URI
            // (RFC 3261 §20.10), which is what RFC 4475 §3.3.12 checks.
            let end = memchr(b';', rest).unwrap_or(rest.len());
            let uri_raw = scan::trim(&rest[..end]);
            // A URI holding ',' or '?' must be bracketed (RFC 3261 §20.10, RFC 4475 §3.1.2.13).
            if uri_raw.iter().any(|&b| b == b',' || b == b'?') {
                return Err(Problem::BadUriHeaders);
            }
            let uri = Uri::parse(uri_raw)?;
            let params = Params::parse(&rest[end..])?;
            Ok(NameAddr {
                display: None,
                uri_raw,
                uri,
                params,
                bracketed: false,
            })
        }
    }

    /// The `tag` parameter (From/To).
    pub fn tag(&self) -> Option<&'a [u8]> {
        self.params.get("tag").flatten()
    }

    /// The display name without quotes and with quoted-pairs resolved.
    pub fn display_unquoted(&self) -> Option<Cow<'a, [u8]>> {
        self.display.map(unquote)
    }
}

/// Removes surrounding quotes and resolves `\x` pairs; borrows when nothing needs changing.
pub fn unquote(s: &[u8]) -> Cow<'_, [u8]> {
    let inner = match s {
        [b'"', inner @ .., b'"'] => inner,
        _ => return Cow::Borrowed(s),
    };
    if memchr(b'\\', inner).is_none() {
        return Cow::Borrowed(inner);
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut it = inner.iter();
    while let Some(&b) = it.next() {
        if b == b'\\' {
            if let Some(&n) = it.next() {
                out.push(n);
            }
        } else {
            out.push(b);
        }
    }
    Cow::Owned(out)
}

/// A Contact element: a name-addr with registration parameters, or `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contact<'a> {
    /// `Contact: *` (REGISTER removing all bindings).
    Star,
    /// One binding.
    Addr(NameAddr<'a>),
}

impl<'a> Contact<'a> {
    /// Parses one comma-split Contact element.
    pub fn parse(s: &'a [u8]) -> Result<Contact<'a>, Problem> {
        if scan::trim(s) == b"*" {
            return Ok(Contact::Star);
        }
        NameAddr::parse(s).map(Contact::Addr)
    }
}

/// Registration parameters of a Contact (RFC 3261 §10.2.1, RFC 5626, RFC 5627).
impl<'a> NameAddr<'a> {
    /// `expires` in seconds; overlarge values saturate, malformed ones are an error.
    pub fn expires(&self) -> Result<Option<u32>, Problem> {
        match self.params.get("expires") {
            None => Ok(None),
            Some(v) => v
                .and_then(scan::parse_u32_saturating)
                .map(Some)
                .ok_or(Problem::BadNumber),
        }
    }

    /// `q` as thousandths (0..=1000); `q=0.5` is 500.
    pub fn q(&self) -> Result<Option<u16>, Problem> {
        match self.params.get("q") {
            None => Ok(None),
            Some(v) => parse_qvalue(v.unwrap_or(b"")).map(Some),
        }
    }

    /// `+sip.instance`, quotes removed (RFC 5626 §4.1).
    pub fn instance(&self) -> Option<Cow<'a, [u8]>> {
        self.params.get("+sip.instance").flatten().map(unquote)
    }

    /// `reg-id` (RFC 5626).
    pub fn reg_id(&self) -> Result<Option<u32>, Problem> {
        match self.params.get("reg-id") {
            None => Ok(None),
            Some(v) => v
                .and_then(scan::parse_u32)
                .map(Some)
                .ok_or(Problem::BadNumber),
        }
    }
}

/// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), in thousandths.
fn parse_qvalue(v: &[u8]) -> Result<u16, Problem> {
    let (int, frac) = match memchr(b'.', v) {
        Some(d) => (&v[..d], &v[d + 1..]),
        None => (v, &b""[..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return Err(Problem::BadNumber);
    }
    let mut thousandths: u16 = 0;
    for (i, &d) in frac.iter().enumerate() {
        thousandths += u16::from(d - b'0') * [100, 10, 1][i];
    }
    match int {
        b"0" => Ok(thousandths),
        b"1" if thousandths == 0 => Ok(1000),
        _ => Err(Problem::BadNumber),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let n = NameAddr::parse(
            br#""J Rosenberg \\\""       <sip:jdrosen@example.com>
  ;
  tag = 98asjd8"#,
        )
        .unwrap();
        assert_eq!(n.tag(), Some(&b"98asjd8"[..]));
        assert_eq!(
            n.display_unquoted().as_deref(),
            Some(&br#"J Rosenberg \""#[..])
        );
        let n = NameAddr::parse(b"caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(n.display, Some(&b"caller"[..]));
        let n = NameAddr::parse(b"sip:user@example.com;unknownparam").unwrap();
        assert!(n.params.contains("unknownparam"));
        assert_eq!(n.uri_raw, b"sip:user@example.com");
        assert!(NameAddr::parse(b"Bell, Alexander <sip:a@b>").is_err());
        assert!(NameAddr::parse(br#""unterminated <sip:a@b>"#).is_err());
        assert!(NameAddr::parse(b"<sip:a@b;;,;,,").is_err());
    }

    #[test]
    fn contact_params() {
        let c = Contact::parse(
            br#"<sip:a@b>;expires=36893749652;q=0.33;+sip.instance="<urn:uuid:1>";reg-id=1"#,
        )
        .unwrap();
        let Contact::Addr(n) = c else { panic!() };
        assert_eq!(n.expires(), Ok(Some(u32::MAX)));
        assert_eq!(n.q(), Ok(Some(330)));
        assert_eq!(n.instance().as_deref(), Some(&b"<urn:uuid:1>"[..]));
        assert_eq!(n.reg_id(), Ok(Some(1)));
        assert_eq!(Contact::parse(b" * "), Ok(Contact::Star));
        assert_eq!(parse_qvalue(b"1.5"), Err(Problem::BadNumber));
        assert_eq!(parse_qvalue(b"1.000"), Ok(1000));
    }
}
