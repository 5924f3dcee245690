//! Media types for Content-Type and Accept: `type/subtype *(;param)` (RFC 3261 §20.15).

use memchr::memchr;

use crate::error::Problem;
use crate::params::Params;
use crate::scan;

/// A parsed media type; compare type and subtype case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaType<'a> {
    /// e.g. `application`.
    pub top: &'a str,
    /// e.g. `sdp`.
    pub sub: &'a str,
    /// Parameters such as `boundary`.
    pub params: Params<'a>,
}

impl<'a> MediaType<'a> {
    /// Parses `type/subtype;params`, LWS allowed around `/` and `;`.
    pub fn parse(v: &'a [u8]) -> Result<MediaType<'a>, Problem> {
        let v = scan::trim(v);
        let slash = memchr(b'/', v).ok_or(Problem::BadMediaType)?;
        let top = scan::trim(&v[..slash]);
        let rest = &v[slash + 1..];
        let start = scan::skip_lws(rest, 0);
        let end = scan::token_end(rest, start);
        let sub = &rest[start..end];
        if !scan::is_token_str(top) || sub.is_empty() {
            return Err(Problem::BadMediaType);
        }
        Ok(MediaType {
            top: scan::ascii_str(top).ok_or(Problem::BadMediaType)?,
            sub: scan::ascii_str(sub).ok_or(Problem::BadMediaType)?,
            params: Params::parse(&rest[end..])?,
        })
    }

    /// True for `top/sub`, case-insensitively.
    pub fn is(&self, top: &str, sub: &str) -> bool {
        self.top.eq_ignore_ascii_case(top) && self.sub.eq_ignore_ascii_case(sub)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        let m = MediaType::parse(b"multipart/mixed;boundary=\"a b\"").unwrap();
        assert!(m.is("Multipart", "MIXED"));
        assert_eq!(m.params.get("boundary"), Some(Some(&b"\"a b\""[..])));
        assert!(MediaType::parse(b"text").is_err());
        assert!(MediaType::parse(b"/x").is_err());
    }
}
