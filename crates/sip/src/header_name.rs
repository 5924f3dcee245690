//! Header names: case-insensitive, compact forms folded to their long form (RFC 3261 §7.3.3).

/// The headers Trunkline reads; every other name is [`HeaderName::Other`] and kept verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // the variants are the header names themselves
pub enum HeaderName {
    Accept,
    AcceptEncoding,
    AcceptLanguage,
    AlertInfo,
    Allow,
    AllowEvents,
    Authorization,
    CallId,
    CallInfo,
    Contact,
    ContentDisposition,
    ContentEncoding,
    ContentLength,
    ContentType,
    CSeq,
    Date,
    Event,
    Expires,
    From,
    MaxForwards,
    MinExpires,
    Path,
    PAssertedIdentity,
    PPreferredIdentity,
    Privacy,
    ProxyAuthenticate,
    ProxyAuthorization,
    ProxyRequire,
    RecordRoute,
    ReferTo,
    ReferredBy,
    Require,
    RetryAfter,
    Route,
    Server,
    SessionExpires,
    Subject,
    Supported,
    Timestamp,
    To,
    Unsupported,
    UserAgent,
    Via,
    Warning,
    WwwAuthenticate,
    /// Any other header, matched by its raw name.
    Other,
}

impl HeaderName {
    /// Classifies a raw header name (long or compact form, any case).
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        if name.len() == 1 {
            return match name[0].to_ascii_lowercase() {
                b'i' => HeaderName::CallId,
                b'm' => HeaderName::Contact,
                b'e' => HeaderName::ContentEncoding,
                b'l' => HeaderName::ContentLength,
                b'c' => HeaderName::ContentType,
                b'f' => HeaderName::From,
                b's' => HeaderName::Subject,
                b'k' => HeaderName::Supported,
                b't' => HeaderName::To,
                b'v' => HeaderName::Via,
                b'o' => HeaderName::Event,
                b'r' => HeaderName::ReferTo,
                b'b' => HeaderName::ReferredBy,
                b'u' => HeaderName::AllowEvents,
                b'x' => HeaderName::SessionExpires,
                _ => HeaderName::Other,
            };
        }
        // Lower-case by setting bit 0x20: exact for letters, and it maps no other token
        // character onto a letter or '-', so no false match is possible. Then only the
        // candidates of that length and first letter are compared.
        let Some(&first) = name.first() else {
            return HeaderName::Other;
        };
        let mut buf = [0u8; 20];
        if name.len() > buf.len() {
            return HeaderName::Other;
        }
        let lower = &mut buf[..name.len()];
        for (d, s) in lower.iter_mut().zip(name) {
            *d = s | 0x20;
        }
        let candidates: &[(&[u8], HeaderName)] = match (name.len(), first | 0x20) {
            (2, b't') => &[(b"to", HeaderName::To)],
            (3, b'v') => &[(b"via", HeaderName::Via)],
            (4, b'c') => &[(b"cseq", HeaderName::CSeq)],
            (4, b'd') => &[(b"date", HeaderName::Date)],
            (4, b'f') => &[(b"from", HeaderName::From)],
            (4, b'p') => &[(b"path", HeaderName::Path)],
            (5, b'a') => &[(b"allow", HeaderName::Allow)],
            (5, b'e') => &[(b"event", HeaderName::Event)],
            (5, b'r') => &[(b"route", HeaderName::Route)],
            (6, b'a') => &[(b"accept", HeaderName::Accept)],
            (6, b's') => &[(b"server", HeaderName::Server)],
            (7, b'c') => &[
                (b"call-id", HeaderName::CallId),
                (b"contact", HeaderName::Contact),
            ],
            (7, b'e') => &[(b"expires", HeaderName::Expires)],
            (7, b'p') => &[(b"privacy", HeaderName::Privacy)],
            (7, b'r') => &[(b"require", HeaderName::Require)],
            (7, b's') => &[(b"subject", HeaderName::Subject)],
            (7, b'w') => &[(b"warning", HeaderName::Warning)],
            (8, b'r') => &[(b"refer-to", HeaderName::ReferTo)],
            (9, b'c') => &[(b"call-info", HeaderName::CallInfo)],
            (9, b's') => &[(b"supported", HeaderName::Supported)],
            (9, b't') => &[(b"timestamp", HeaderName::Timestamp)],
            (10, b'a') => &[(b"alert-info", HeaderName::AlertInfo)],
            (10, b'u') => &[(b"user-agent", HeaderName::UserAgent)],
            (11, b'm') => &[(b"min-expires", HeaderName::MinExpires)],
            (11, b'r') => &[
                (b"retry-after", HeaderName::RetryAfter),
                (b"referred-by", HeaderName::ReferredBy),
            ],
            (11, b'u') => &[(b"unsupported", HeaderName::Unsupported)],
            (12, b'a') => &[(b"allow-events", HeaderName::AllowEvents)],
            (12, b'c') => &[(b"content-type", HeaderName::ContentType)],
            (12, b'm') => &[(b"max-forwards", HeaderName::MaxForwards)],
            (12, b'r') => &[(b"record-route", HeaderName::RecordRoute)],
            (13, b'a') => &[(b"authorization", HeaderName::Authorization)],
            (13, b'p') => &[(b"proxy-require", HeaderName::ProxyRequire)],
            (14, b'c') => &[(b"content-length", HeaderName::ContentLength)],
            (15, b'a') => &[
                (b"accept-encoding", HeaderName::AcceptEncoding),
                (b"accept-language", HeaderName::AcceptLanguage),
            ],
            (15, b's') => &[(b"session-expires", HeaderName::SessionExpires)],
            (16, b'c') => &[(b"content-encoding", HeaderName::ContentEncoding)],
            (16, b'w') => &[(b"www-authenticate", HeaderName::WwwAuthenticate)],
            (18, b'p') => &[(b"proxy-authenticate", HeaderName::ProxyAuthenticate)],
            (19, b'c') => &[(b"content-disposition", HeaderName::ContentDisposition)],
            (19, b'p') => &[
                (b"p-asserted-identity", HeaderName::PAssertedIdentity),
                (b"proxy-authorization", HeaderName::ProxyAuthorization),
            ],
            (20, b'p') => &[(b"p-preferred-identity", HeaderName::PPreferredIdentity)],
            _ => &[],
        };
        candidates
            .iter()
            .find(|(n, _)| *n == &*lower)
            .map_or(HeaderName::Other, |(_, h)| *h)
    }

    /// The canonical long form, e.g. `Call-ID`; `"Other"` for unknown names.
    pub fn as_str(&self) -> &'static str {
        match self {
            HeaderName::Accept => "Accept",
            HeaderName::AcceptEncoding => "Accept-Encoding",
            HeaderName::AcceptLanguage => "Accept-Language",
            HeaderName::AlertInfo => "Alert-Info",
            HeaderName::Allow => "Allow",
            HeaderName::AllowEvents => "Allow-Events",
            HeaderName::Authorization => "Authorization",
            HeaderName::CallId => "Call-ID",
            HeaderName::CallInfo => "Call-Info",
            HeaderName::Contact => "Contact",
            HeaderName::ContentDisposition => "Content-Disposition",
            HeaderName::ContentEncoding => "Content-Encoding",
            HeaderName::ContentLength => "Content-Length",
            HeaderName::ContentType => "Content-Type",
            HeaderName::CSeq => "CSeq",
            HeaderName::Date => "Date",
            HeaderName::Event => "Event",
            HeaderName::Expires => "Expires",
            HeaderName::From => "From",
            HeaderName::MaxForwards => "Max-Forwards",
            HeaderName::MinExpires => "Min-Expires",
            HeaderName::Path => "Path",
            HeaderName::PAssertedIdentity => "P-Asserted-Identity",
            HeaderName::PPreferredIdentity => "P-Preferred-Identity",
            HeaderName::Privacy => "Privacy",
            HeaderName::ProxyAuthenticate => "Proxy-Authenticate",
            HeaderName::ProxyAuthorization => "Proxy-Authorization",
            HeaderName::ProxyRequire => "Proxy-Require",
            HeaderName::RecordRoute => "Record-Route",
            HeaderName::ReferTo => "Refer-To",
            HeaderName::ReferredBy => "Referred-By",
            HeaderName::Require => "Require",
            HeaderName::RetryAfter => "Retry-After",
            HeaderName::Route => "Route",
            HeaderName::Server => "Server",
            HeaderName::SessionExpires => "Session-Expires",
            HeaderName::Subject => "Subject",
            HeaderName::Supported => "Supported",
            HeaderName::Timestamp => "Timestamp",
            HeaderName::To => "To",
            HeaderName::Unsupported => "Unsupported",
            HeaderName::UserAgent => "User-Agent",
            HeaderName::Via => "Via",
            HeaderName::Warning => "Warning",
            HeaderName::WwwAuthenticate => "WWW-Authenticate",
            HeaderName::Other => "Other",
        }
    }

    /// Headers whose value is a comma-separated list that may be split across lines
    /// (RFC 3261 §7.3.1). Authorization-style headers are not: their commas separate params.
    pub fn is_list(&self) -> bool {
        matches!(
            self,
            HeaderName::Accept
                | HeaderName::AcceptEncoding
                | HeaderName::AcceptLanguage
                | HeaderName::AlertInfo
                | HeaderName::Allow
                | HeaderName::AllowEvents
                | HeaderName::CallInfo
                | HeaderName::Contact
                | HeaderName::ContentEncoding
                | HeaderName::Path
                | HeaderName::PAssertedIdentity
                | HeaderName::PPreferredIdentity
                | HeaderName::Privacy
                | HeaderName::ProxyRequire
                | HeaderName::RecordRoute
                | HeaderName::Require
                | HeaderName::Route
                | HeaderName::Supported
                | HeaderName::Unsupported
                | HeaderName::Via
                | HeaderName::Warning
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_long_form_is_recognised() {
        let all = [
            HeaderName::Accept,
            HeaderName::AcceptEncoding,
            HeaderName::AcceptLanguage,
            HeaderName::AlertInfo,
            HeaderName::Allow,
            HeaderName::AllowEvents,
            HeaderName::Authorization,
            HeaderName::CallId,
            HeaderName::CallInfo,
            HeaderName::Contact,
            HeaderName::ContentDisposition,
            HeaderName::ContentEncoding,
            HeaderName::ContentLength,
            HeaderName::ContentType,
            HeaderName::CSeq,
            HeaderName::Date,
            HeaderName::Event,
            HeaderName::Expires,
            HeaderName::From,
            HeaderName::MaxForwards,
            HeaderName::MinExpires,
            HeaderName::Path,
            HeaderName::PAssertedIdentity,
            HeaderName::PPreferredIdentity,
            HeaderName::Privacy,
            HeaderName::ProxyAuthenticate,
            HeaderName::ProxyAuthorization,
            HeaderName::ProxyRequire,
            HeaderName::RecordRoute,
            HeaderName::ReferTo,
            HeaderName::ReferredBy,
            HeaderName::Require,
            HeaderName::RetryAfter,
            HeaderName::Route,
            HeaderName::Server,
            HeaderName::SessionExpires,
            HeaderName::Subject,
            HeaderName::Supported,
            HeaderName::Timestamp,
            HeaderName::To,
            HeaderName::Unsupported,
            HeaderName::UserAgent,
            HeaderName::Via,
            HeaderName::Warning,
            HeaderName::WwwAuthenticate,
        ];
        for h in all {
            assert_eq!(HeaderName::from_bytes(h.as_str().as_bytes()), h);
            let upper = h.as_str().to_ascii_uppercase();
            assert_eq!(HeaderName::from_bytes(upper.as_bytes()), h);
        }
    }

    #[test]
    fn compact_and_case() {
        assert_eq!(HeaderName::from_bytes(b"v"), HeaderName::Via);
        assert_eq!(
            HeaderName::from_bytes(b"MaX-fOrWaRdS"),
            HeaderName::MaxForwards
        );
        assert_eq!(HeaderName::from_bytes(b"C%6Fntact"), HeaderName::Other);
        assert_eq!(HeaderName::from_bytes(b"i"), HeaderName::CallId);
        assert_eq!(
            HeaderName::from_bytes(b"a-very-long-unknown-header-name"),
            HeaderName::Other
        );
    }
}
