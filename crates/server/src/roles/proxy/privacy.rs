//! Caller identity and privacy (RFC 3323, RFC 3325): who an anonymous caller claims to be,
//! and which identity-revealing headers leave for an untrusted next hop.

use trunkline_sip::{HeaderName, Message, NameAddr, Uri, unescape};

/// The privacy a request asks for (`Privacy:` values, RFC 3323 §4.2 and RFC 3325 §9.3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Privacy {
    /// `id`: no asserted identity beyond the trust domain.
    pub(crate) id: bool,
    /// `user` or `header`: no user-identifying headers beyond the trust domain.
    pub(crate) headers: bool,
}

impl Privacy {
    /// Reads the `Privacy` header values; `none` (or no header) asks for nothing.
    pub(crate) fn of(msg: &Message<'_>) -> Privacy {
        let mut p = Privacy::default();
        for v in msg.values(HeaderName::Privacy).flatten() {
            // The values of one header line are separated by ';' (RFC 3323 §4.2).
            for token in v.split(|&b| b == b';').map(<[u8]>::trim_ascii) {
                if token.eq_ignore_ascii_case(b"id") {
                    p.id = true;
                } else if token.eq_ignore_ascii_case(b"user")
                    || token.eq_ignore_ascii_case(b"header")
                {
                    p.headers = true;
                }
            }
        }
        p
    }

    /// Headers removed before the request leaves for a hop outside the trust domain.
    pub(crate) fn removed_for_untrusted(self, out: &mut Vec<HeaderName>) {
        if self.id {
            out.push(HeaderName::PAssertedIdentity);
        }
        if self.headers {
            // What RFC 3323 §4.1 has a private user agent leave out; the privacy service
            // removes them for a user agent that did not.
            out.extend([
                HeaderName::CallInfo,
                HeaderName::InReplyTo,
                HeaderName::Organization,
                HeaderName::ReplyTo,
                HeaderName::Subject,
                HeaderName::UserAgent,
            ]);
        }
    }
}

/// The identity a caller claims: the user and the domain (lower case) to authenticate in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Claimed {
    /// The user the caller must authenticate as; `None` when it only claims a domain.
    pub(crate) user: Option<String>,
    pub(crate) domain: String,
    /// The From was anonymous: the identity came from P-Preferred-Identity or the called
    /// domain, and a missing user is allowed (the digest user is the caller).
    pub(crate) anonymous: bool,
}

/// Who the caller of `msg` claims to be. Normally the From URI; when From is anonymous
/// (RFC 3323 §4.1.1.3, e.g. `sip:anonymous@anonymous.invalid`), the P-Preferred-Identity
/// (RFC 3325 §9.2) if there is one, else just the domain the request is addressed to (To),
/// so that a local user hiding its number is still authenticated, limited and billed.
pub(crate) fn claimed(msg: &Message<'_>) -> Option<Claimed> {
    let from = msg.from().ok()?;
    if !is_anonymous(&from.uri) {
        return Some(of_uri(&from.uri));
    }
    let preferred = (msg.values(HeaderName::PPreferredIdentity).flatten())
        .filter_map(|v| NameAddr::parse(v).ok())
        .find(|na| matches!(na.uri, Uri::Sip(_)));
    let claimed = match preferred {
        Some(na) => of_uri(&na.uri),
        None => Claimed {
            user: None,
            ..of_uri(&msg.to().ok()?.uri)
        },
    };
    Some(Claimed {
        anonymous: true,
        ..claimed
    })
}

fn of_uri(uri: &Uri<'_>) -> Claimed {
    match uri {
        Uri::Sip(u) => Claimed {
            user: u
                .user
                .map(|x| String::from_utf8_lossy(&unescape(x)).into_owned()),
            domain: u.host.to_string().to_ascii_lowercase(),
            anonymous: false,
        },
        _ => Claimed {
            user: None,
            domain: String::new(),
            anonymous: false,
        },
    }
}

/// An anonymous From: the user `anonymous` or the host `anonymous.invalid` (RFC 3323
/// §4.1.1.3; phones use either).
pub(crate) fn is_anonymous(uri: &Uri<'_>) -> bool {
    let Uri::Sip(u) = uri else {
        return false;
    };
    u.host.to_string().eq_ignore_ascii_case("anonymous.invalid")
        || u.user.is_some_and(|x| x.eq_ignore_ascii_case(b"anonymous"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(extra: &str) -> Vec<u8> {
        format!(
            "INVITE sip:1002@example.test SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
             {extra}\
             To: <sip:1002@example.test>\r\n\
             Call-ID: c1\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    }

    fn claimed_of(extra: &str) -> Option<Claimed> {
        let bytes = invite(extra);
        let msg = Message::parse(&bytes).ok()?;
        claimed(&msg)
    }

    #[test]
    fn a_named_caller_claims_its_from_uri() {
        let c = claimed_of("From: <sip:1001@Example.Test>;tag=a\r\n");
        assert_eq!(
            c,
            Some(Claimed {
                user: Some("1001".into()),
                domain: "example.test".into(),
                anonymous: false,
            })
        );
    }

    #[test]
    fn an_anonymous_caller_claims_its_preferred_identity() {
        let c = claimed_of(
            "From: \"Anonymous\" <sip:anonymous@anonymous.invalid>;tag=a\r\n\
             P-Preferred-Identity: <tel:+4930123>, <sip:1001@example.test>\r\n",
        );
        assert_eq!(
            c,
            Some(Claimed {
                user: Some("1001".into()),
                domain: "example.test".into(),
                anonymous: true,
            })
        );
    }

    #[test]
    fn an_anonymous_caller_without_preferred_identity_claims_the_called_domain() {
        let c = claimed_of("From: <sip:anonymous@anonymous.invalid>;tag=a\r\n");
        assert_eq!(
            c,
            Some(Claimed {
                user: None,
                domain: "example.test".into(),
                anonymous: true,
            })
        );
        let c = claimed_of("From: <sip:anonymous@example.test>;tag=a\r\n");
        assert_eq!(c.and_then(|c| c.user), None);
    }

    #[test]
    fn privacy_values_are_read_from_every_form() {
        let of = |extra: &str| {
            let bytes = invite(&format!("From: <sip:1001@example.test>;tag=a\r\n{extra}"));
            Message::parse(&bytes).map(|m| Privacy::of(&m)).ok()
        };
        assert_eq!(of(""), Some(Privacy::default()));
        assert_eq!(of("Privacy: none\r\n"), Some(Privacy::default()));
        let both = Privacy {
            id: true,
            headers: true,
        };
        assert_eq!(of("Privacy: id; user\r\n"), Some(both));
        assert_eq!(of("Privacy: header;ID\r\n"), Some(both));
        assert_eq!(
            of("Privacy: id\r\n"),
            Some(Privacy {
                id: true,
                headers: false
            })
        );
        let mut removed = Vec::new();
        both.removed_for_untrusted(&mut removed);
        assert!(removed.contains(&HeaderName::PAssertedIdentity));
        assert!(removed.contains(&HeaderName::UserAgent));
    }
}
