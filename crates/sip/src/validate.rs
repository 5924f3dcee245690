//! Whole-message well-formedness: every header a SIP element relies on checked against its
//! grammar, plus the cross-header rules of RFC 3261 §8.2 (CSeq method, single-valued headers).
//!
//! The message parser only frames; this is the stricter pass a server runs on each request
//! before acting on it, and what decides the RFC 4475 valid/invalid verdict.

use std::fmt;

use crate::error::{HeaderError, Problem};
use crate::header_name::HeaderName;
use crate::message::{Message, StartLine, Version};
use crate::uri::Uri;

/// Why a parsed message is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// The SIP version is not 2.0 (answer 505).
    Version(Version),
    /// The Request-URI does not parse.
    RequestUri(Problem),
    /// The Request-URI carries `?headers`, which RFC 3261 §19.1.1 forbids there.
    RequestUriHeaders,
    /// A header violates its grammar, is missing or is duplicated.
    Header(HeaderError),
    /// The CSeq method differs from the request method (RFC 3261 §8.1.1.5).
    CSeqMethodMismatch,
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Defect::Version(v) => write!(f, "SIP/{}.{} not supported", v.major, v.minor),
            Defect::RequestUri(p) => write!(f, "Request-URI: {p}"),
            Defect::RequestUriHeaders => f.write_str("Request-URI: headers not allowed"),
            Defect::Header(h) => write!(f, "{h}"),
            Defect::CSeqMethodMismatch => f.write_str("CSeq: method does not match"),
        }
    }
}

impl From<HeaderError> for Defect {
    fn from(e: HeaderError) -> Self {
        Defect::Header(e)
    }
}

/// Checks a request or response; the first defect found is returned.
pub fn check(msg: &Message<'_>) -> Result<(), Defect> {
    let version = match msg.start_line() {
        StartLine::Request(r) => r.version,
        StartLine::Response(s) => s.version,
    };
    if version != Version::SIP_2_0 {
        return Err(Defect::Version(version));
    }
    if let Some(rl) = msg.request_line() {
        let uri = Uri::parse(rl.uri).map_err(Defect::RequestUri)?;
        if uri.as_sip().is_some_and(|u| u.headers.is_some()) {
            return Err(Defect::RequestUriHeaders);
        }
    }
    let mut vias = 0;
    for via in msg.vias() {
        let via = via?;
        // A branch that is only the magic cookie is neither RFC 3261 nor RFC 2543 style
        // (RFC 4475 §3.2.1).
        if via.branch() == Some(crate::via::MAGIC_COOKIE.as_bytes()) {
            return Err(HeaderError::new("Via", Problem::BadParam).into());
        }
        vias += 1;
    }
    if vias == 0 {
        return Err(HeaderError::new("Via", Problem::Missing).into());
    }
    msg.from()?;
    msg.to()?;
    msg.call_id()?;
    let cseq = msg.cseq()?;
    if let Some(method) = msg.method()
        && cseq.method != method
    {
        return Err(Defect::CSeqMethodMismatch);
    }
    msg.max_forwards()?;
    msg.expires()?;
    msg.content_type()?;
    for c in msg.contacts() {
        c?;
    }
    for name in [HeaderName::Route, HeaderName::RecordRoute, HeaderName::Path] {
        for r in msg.name_addrs(name) {
            r?;
        }
    }
    for name in [
        HeaderName::Require,
        HeaderName::ProxyRequire,
        HeaderName::Supported,
        HeaderName::Unsupported,
    ] {
        for t in msg.option_tags(name) {
            t?;
        }
    }
    if let Some(date) = msg.single(HeaderName::Date)? {
        // SIP-date is RFC 1123 and always GMT (RFC 3261 §20.17).
        if !date.ends_with(b" GMT") {
            return Err(HeaderError::new("Date", Problem::Trailing).into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defect(raw: &str) -> Option<Defect> {
        check(&Message::parse(raw.as_bytes()).unwrap()).err()
    }

    const OK: &str = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
From: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n";

    #[test]
    fn accepts_minimal() {
        assert_eq!(defect(&format!("{OK}\r\n")), None);
    }

    #[test]
    fn finds_defects() {
        assert_eq!(
            defect(&format!("{OK}Max-Forwards: 1\r\nMax-Forwards: 2\r\n\r\n")),
            Some(Defect::Header(HeaderError::new(
                "Max-Forwards",
                Problem::Duplicate
            )))
        );
        assert_eq!(
            defect(&(OK.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE") + "\r\n")),
            Some(Defect::CSeqMethodMismatch)
        );
        assert_eq!(
            defect(&(OK.replace("sip:a@b SIP", "sip:a@b?Route=x SIP") + "\r\n")),
            Some(Defect::RequestUriHeaders)
        );
        assert!(matches!(
            defect(&(OK.replace("SIP/2.0\r\n", "SIP/3.0\r\n") + "\r\n")),
            Some(Defect::Version(_))
        ));
        assert_eq!(
            defect(&format!("{OK}Date: Fri, 01 Jan 2010 16:00:00 EST\r\n\r\n"))
                .map(|d| d.to_string()),
            Some("Date: unexpected trailing characters".to_string())
        );
    }
}
