//! Header names: case-insensitive, compact forms folded to their long form (RFC 3261 §7.3.3).

/// Longest header name recognised (`P-Preferred-Identity`).
const NAME_WIDTH: usize = 20;

/// `name` zero-padded to [`NAME_WIDTH`], for whole-array comparison.
const fn pad(name: &[u8]) -> [u8; NAME_WIDTH] {
    let mut out = [0u8; NAME_WIDTH];
    let mut i = 0;
    while i < name.len() {
        out[i] = name[i];
        i += 1;
    }
    out
}

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
    InReplyTo,
    MaxForwards,
    MinExpires,
    Organization,
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
    ReplyTo,
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
        if name.is_empty() || name.len() > NAME_WIDTH {
            return HeaderName::Other;
        }
        // Lower-case by setting bit 0x20: exact for letters, and it maps no other token
        // character onto a letter or '-', so no false match is possible.
        let mut lower = [0u8; NAME_WIDTH];
        for (d, s) in lower.iter_mut().zip(name) {
            *d = s | 0x20;
        }
        Self::classify(name.len(), &lower)
    }

    /// Reads the header name at the start of `line` (its token characters) and classifies it
    /// in the same pass: (end of the name, its class). The parser's hot path.
    #[inline]
    pub(crate) fn scan(line: &[u8]) -> (usize, HeaderName) {
        let mut lower = [0u8; NAME_WIDTH];
        let mut n = 0;
        while n < line.len() && crate::scan::is_token(line[n]) {
            if n < NAME_WIDTH {
                lower[n] = line[n] | 0x20;
            }
            n += 1;
        }
        if n == 0 || n > NAME_WIDTH {
            return (n, HeaderName::Other);
        }
        (n, Self::classify(n, &lower))
    }

    /// The name of length `len` whose lower-cased, zero-padded bytes are `lower`: compared
    /// word-wise against the few names of that length and first letter, no memcmp calls.
    fn classify(len: usize, lower: &[u8; NAME_WIDTH]) -> HeaderName {
        let lower = *lower;
        if len == 1 {
            return match lower[0] {
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
        match (len, lower[0]) {
            (2, b't') => {
                if lower == const { pad(b"to") } {
                    HeaderName::To
                } else {
                    HeaderName::Other
                }
            }
            (3, b'v') => {
                if lower == const { pad(b"via") } {
                    HeaderName::Via
                } else {
                    HeaderName::Other
                }
            }
            (4, b'c') => {
                if lower == const { pad(b"cseq") } {
                    HeaderName::CSeq
                } else {
                    HeaderName::Other
                }
            }
            (4, b'd') => {
                if lower == const { pad(b"date") } {
                    HeaderName::Date
                } else {
                    HeaderName::Other
                }
            }
            (4, b'f') => {
                if lower == const { pad(b"from") } {
                    HeaderName::From
                } else {
                    HeaderName::Other
                }
            }
            (4, b'p') => {
                if lower == const { pad(b"path") } {
                    HeaderName::Path
                } else {
                    HeaderName::Other
                }
            }
            (5, b'a') => {
                if lower == const { pad(b"allow") } {
                    HeaderName::Allow
                } else {
                    HeaderName::Other
                }
            }
            (5, b'e') => {
                if lower == const { pad(b"event") } {
                    HeaderName::Event
                } else {
                    HeaderName::Other
                }
            }
            (5, b'r') => {
                if lower == const { pad(b"route") } {
                    HeaderName::Route
                } else {
                    HeaderName::Other
                }
            }
            (6, b'a') => {
                if lower == const { pad(b"accept") } {
                    HeaderName::Accept
                } else {
                    HeaderName::Other
                }
            }
            (6, b's') => {
                if lower == const { pad(b"server") } {
                    HeaderName::Server
                } else {
                    HeaderName::Other
                }
            }
            (7, b'e') => {
                if lower == const { pad(b"expires") } {
                    HeaderName::Expires
                } else {
                    HeaderName::Other
                }
            }
            (7, b'p') => {
                if lower == const { pad(b"privacy") } {
                    HeaderName::Privacy
                } else {
                    HeaderName::Other
                }
            }
            (7, b'r') => {
                if lower == const { pad(b"require") } {
                    HeaderName::Require
                } else {
                    HeaderName::Other
                }
            }
            (7, b's') => {
                if lower == const { pad(b"subject") } {
                    HeaderName::Subject
                } else {
                    HeaderName::Other
                }
            }
            (7, b'w') => {
                if lower == const { pad(b"warning") } {
                    HeaderName::Warning
                } else {
                    HeaderName::Other
                }
            }
            (8, b'r') => {
                if lower == const { pad(b"refer-to") } {
                    HeaderName::ReferTo
                } else if lower == const { pad(b"reply-to") } {
                    HeaderName::ReplyTo
                } else {
                    HeaderName::Other
                }
            }
            (9, b'c') => {
                if lower == const { pad(b"call-info") } {
                    HeaderName::CallInfo
                } else {
                    HeaderName::Other
                }
            }
            (9, b's') => {
                if lower == const { pad(b"supported") } {
                    HeaderName::Supported
                } else {
                    HeaderName::Other
                }
            }
            (9, b't') => {
                if lower == const { pad(b"timestamp") } {
                    HeaderName::Timestamp
                } else {
                    HeaderName::Other
                }
            }
            (10, b'a') => {
                if lower == const { pad(b"alert-info") } {
                    HeaderName::AlertInfo
                } else {
                    HeaderName::Other
                }
            }
            (10, b'u') => {
                if lower == const { pad(b"user-agent") } {
                    HeaderName::UserAgent
                } else {
                    HeaderName::Other
                }
            }
            (11, b'i') => {
                if lower == const { pad(b"in-reply-to") } {
                    HeaderName::InReplyTo
                } else {
                    HeaderName::Other
                }
            }
            (11, b'm') => {
                if lower == const { pad(b"min-expires") } {
                    HeaderName::MinExpires
                } else {
                    HeaderName::Other
                }
            }
            (11, b'u') => {
                if lower == const { pad(b"unsupported") } {
                    HeaderName::Unsupported
                } else {
                    HeaderName::Other
                }
            }
            (12, b'a') => {
                if lower == const { pad(b"allow-events") } {
                    HeaderName::AllowEvents
                } else {
                    HeaderName::Other
                }
            }
            (12, b'c') => {
                if lower == const { pad(b"content-type") } {
                    HeaderName::ContentType
                } else {
                    HeaderName::Other
                }
            }
            (12, b'm') => {
                if lower == const { pad(b"max-forwards") } {
                    HeaderName::MaxForwards
                } else {
                    HeaderName::Other
                }
            }
            (12, b'o') => {
                if lower == const { pad(b"organization") } {
                    HeaderName::Organization
                } else {
                    HeaderName::Other
                }
            }
            (12, b'r') => {
                if lower == const { pad(b"record-route") } {
                    HeaderName::RecordRoute
                } else {
                    HeaderName::Other
                }
            }
            (13, b'a') => {
                if lower == const { pad(b"authorization") } {
                    HeaderName::Authorization
                } else {
                    HeaderName::Other
                }
            }
            (13, b'p') => {
                if lower == const { pad(b"proxy-require") } {
                    HeaderName::ProxyRequire
                } else {
                    HeaderName::Other
                }
            }
            (14, b'c') => {
                if lower == const { pad(b"content-length") } {
                    HeaderName::ContentLength
                } else {
                    HeaderName::Other
                }
            }
            (15, b's') => {
                if lower == const { pad(b"session-expires") } {
                    HeaderName::SessionExpires
                } else {
                    HeaderName::Other
                }
            }
            (16, b'c') => {
                if lower == const { pad(b"content-encoding") } {
                    HeaderName::ContentEncoding
                } else {
                    HeaderName::Other
                }
            }
            (16, b'w') => {
                if lower == const { pad(b"www-authenticate") } {
                    HeaderName::WwwAuthenticate
                } else {
                    HeaderName::Other
                }
            }
            (18, b'p') => {
                if lower == const { pad(b"proxy-authenticate") } {
                    HeaderName::ProxyAuthenticate
                } else {
                    HeaderName::Other
                }
            }
            (19, b'c') => {
                if lower == const { pad(b"content-disposition") } {
                    HeaderName::ContentDisposition
                } else {
                    HeaderName::Other
                }
            }
            (20, b'p') => {
                if lower == const { pad(b"p-preferred-identity") } {
                    HeaderName::PPreferredIdentity
                } else {
                    HeaderName::Other
                }
            }
            (7, b'c') => {
                if lower == const { pad(b"call-id") } {
                    HeaderName::CallId
                } else if lower == const { pad(b"contact") } {
                    HeaderName::Contact
                } else {
                    HeaderName::Other
                }
            }
            (11, b'r') => {
                if lower == const { pad(b"retry-after") } {
                    HeaderName::RetryAfter
                } else if lower == const { pad(b"referred-by") } {
                    HeaderName::ReferredBy
                } else {
                    HeaderName::Other
                }
            }
            (15, b'a') => {
                if lower == const { pad(b"accept-encoding") } {
                    HeaderName::AcceptEncoding
                } else if lower == const { pad(b"accept-language") } {
                    HeaderName::AcceptLanguage
                } else {
                    HeaderName::Other
                }
            }
            (19, b'p') => {
                if lower == const { pad(b"p-asserted-identity") } {
                    HeaderName::PAssertedIdentity
                } else if lower == const { pad(b"proxy-authorization") } {
                    HeaderName::ProxyAuthorization
                } else {
                    HeaderName::Other
                }
            }
            _ => HeaderName::Other,
        }
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
            HeaderName::InReplyTo => "In-Reply-To",
            HeaderName::MaxForwards => "Max-Forwards",
            HeaderName::MinExpires => "Min-Expires",
            HeaderName::Organization => "Organization",
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
            HeaderName::ReplyTo => "Reply-To",
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
                | HeaderName::InReplyTo
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
            HeaderName::InReplyTo,
            HeaderName::MaxForwards,
            HeaderName::MinExpires,
            HeaderName::Organization,
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
            HeaderName::ReplyTo,
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
