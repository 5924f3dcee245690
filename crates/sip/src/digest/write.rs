//! Writing challenge (server) and credentials (client) header values.

use std::fmt::{self, Write as _};

use super::{Algorithm, DigestError, Qop, ResponseInput, ha1, response};

/// Builds a `WWW-Authenticate` / `Proxy-Authenticate` value:
/// `Digest realm="…", nonce="…", algorithm=…, qop="auth"[, opaque="…"][, stale=true]`.
///
/// To offer SHA-256 and MD5, send two headers, SHA-256 first (RFC 8760 §2.4).
#[derive(Debug, Clone, Copy)]
pub struct ChallengeBuilder<'a> {
    realm: &'a str,
    nonce: &'a str,
    algorithm: Algorithm,
    qop: &'a [Qop],
    opaque: Option<&'a str>,
    stale: bool,
}

impl<'a> ChallengeBuilder<'a> {
    /// A challenge with `algorithm=MD5` and `qop="auth"`.
    pub fn new(realm: &'a str, nonce: &'a str) -> Self {
        Self {
            realm,
            nonce,
            algorithm: Algorithm::Md5,
            qop: &[Qop::Auth],
            opaque: None,
            stale: false,
        }
    }

    /// Sets the algorithm.
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Sets the qop options; empty leaves `qop` out (RFC 2069 style, not recommended).
    pub fn qop(mut self, qop: &'a [Qop]) -> Self {
        self.qop = qop;
        self
    }

    /// Adds an `opaque` value for the client to echo.
    pub fn opaque(mut self, opaque: &'a str) -> Self {
        self.opaque = Some(opaque);
        self
    }

    /// Adds `stale=true`: the credentials were right but the nonce expired (RFC 7616 §3.3).
    pub fn stale(mut self, stale: bool) -> Self {
        self.stale = stale;
        self
    }

    /// Appends the value to `out`. A control character in a value is an error, and then `out`
    /// is left as it was.
    pub fn write(&self, out: &mut String) -> Result<(), DigestError> {
        let start = out.len();
        self.write_inner(out).inspect_err(|_| out.truncate(start))
    }

    /// The value as a new string.
    pub fn build(&self) -> Result<String, DigestError> {
        let mut out = String::with_capacity(128);
        self.write(&mut out)?;
        Ok(out)
    }

    fn write_inner(&self, out: &mut String) -> Result<(), DigestError> {
        out.push_str("Digest ");
        quoted(out, "realm", self.realm)?;
        out.push_str(", ");
        quoted(out, "nonce", self.nonce)?;
        out.push_str(", algorithm=");
        out.push_str(self.algorithm.as_str());
        for (i, qop) in self.qop.iter().enumerate() {
            out.push_str(if i == 0 { ", qop=\"" } else { "," });
            out.push_str(qop.as_str());
        }
        if !self.qop.is_empty() {
            out.push('"');
        }
        if let Some(opaque) = self.opaque {
            out.push_str(", ");
            quoted(out, "opaque", opaque)?;
        }
        if self.stale {
            out.push_str(", stale=true");
        }
        Ok(())
    }
}

/// What a client proves knowledge of.
#[derive(Clone, Copy)]
pub enum Secret<'a> {
    /// The password itself.
    Password(&'a str),
    /// A precomputed HA1 (hex) for the algorithm in use, as [`ha1`] makes it.
    Ha1(&'a str),
}

impl fmt::Debug for Secret<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Password(_) => "Password(redacted)",
            Self::Ha1(_) => "Ha1(redacted)",
        })
    }
}

/// Builds an `Authorization` / `Proxy-Authorization` value answering a challenge, for outbound
/// registration and for tests. Values are the unescaped ones from the challenge.
#[derive(Debug, Clone, Copy)]
pub struct CredentialsBuilder<'a> {
    username: &'a str,
    secret: Secret<'a>,
    realm: &'a str,
    nonce: &'a str,
    method: &'a str,
    uri: &'a str,
    algorithm: Algorithm,
    qop: Option<(Qop, u32, &'a str)>,
    opaque: Option<&'a str>,
    body: &'a [u8],
}

impl<'a> CredentialsBuilder<'a> {
    /// Starts credentials for `username` in `realm` answering `nonce`; MD5 and no qop until set.
    pub fn new(username: &'a str, secret: Secret<'a>, realm: &'a str, nonce: &'a str) -> Self {
        Self {
            username,
            secret,
            realm,
            nonce,
            method: "",
            uri: "",
            algorithm: Algorithm::Md5,
            qop: None,
            opaque: None,
            body: b"",
        }
    }

    /// The request being authorised: its method and Request-URI. Required.
    pub fn request(mut self, method: &'a str, uri: &'a str) -> Self {
        self.method = method;
        self.uri = uri;
        self
    }

    /// The algorithm the challenge named.
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// Answers with a qop, which needs the nonce count for this nonce (from 1) and a fresh
    /// client nonce.
    pub fn qop(mut self, qop: Qop, nc: u32, cnonce: &'a str) -> Self {
        self.qop = Some((qop, nc, cnonce));
        self
    }

    /// Echoes the challenge's `opaque`.
    pub fn opaque(mut self, opaque: &'a str) -> Self {
        self.opaque = Some(opaque);
        self
    }

    /// The message body, for `auth-int`.
    pub fn body(mut self, body: &'a [u8]) -> Self {
        self.body = body;
        self
    }

    /// Appends the value to `out`; on error `out` is left as it was.
    pub fn write(&self, out: &mut String) -> Result<(), DigestError> {
        let start = out.len();
        self.write_inner(out).inspect_err(|_| out.truncate(start))
    }

    /// The value as a new string.
    pub fn build(&self) -> Result<String, DigestError> {
        let mut out = String::with_capacity(256);
        self.write(&mut out)?;
        Ok(out)
    }

    fn write_inner(&self, out: &mut String) -> Result<(), DigestError> {
        if self.uri.is_empty() {
            return Err(DigestError::MissingParam { name: "uri" });
        }
        let (qop, nc, cnonce) = match self.qop {
            Some((qop, nc, cnonce)) => (Some(qop), nc, cnonce),
            None => (None, 0, ""),
        };
        // The session algorithms hash a cnonce, which RFC 2617 §3.2.2 sends only with a qop.
        if self.algorithm.is_session() && cnonce.is_empty() {
            return Err(DigestError::MissingParam { name: "cnonce" });
        }
        let mut nc_hex = String::with_capacity(8);
        if qop.is_some() {
            let _ = write!(nc_hex, "{nc:08x}");
        }
        let computed;
        let ha1 = match self.secret {
            Secret::Ha1(h) => h,
            Secret::Password(p) => {
                computed = ha1(self.algorithm, self.username, self.realm, p);
                computed.as_str()
            }
        };
        let digest = response(
            ha1,
            &ResponseInput {
                algorithm: self.algorithm,
                qop,
                method: self.method,
                uri: self.uri,
                nonce: self.nonce,
                cnonce,
                nc: &nc_hex,
                body: self.body,
            },
        )?;
        out.push_str("Digest ");
        quoted(out, "username", self.username)?;
        out.push_str(", ");
        quoted(out, "realm", self.realm)?;
        out.push_str(", ");
        quoted(out, "nonce", self.nonce)?;
        out.push_str(", ");
        quoted(out, "uri", self.uri)?;
        out.push_str(", response=\"");
        out.push_str(digest.as_str());
        out.push_str("\", algorithm=");
        out.push_str(self.algorithm.as_str());
        if let Some(qop) = qop {
            out.push_str(", ");
            quoted(out, "cnonce", cnonce)?;
            out.push_str(", qop=");
            out.push_str(qop.as_str());
            out.push_str(", nc=");
            out.push_str(&nc_hex);
        }
        if let Some(opaque) = self.opaque {
            out.push_str(", ");
            quoted(out, "opaque", opaque)?;
        }
        Ok(())
    }
}

/// Writes `name="value"`, escaping `"` and `\` (RFC 3261 §25.1 quoted-pair). Other control
/// characters cannot be escaped there, and a CR or LF would end the header, so they are refused.
fn quoted(out: &mut String, name: &'static str, value: &str) -> Result<(), DigestError> {
    if value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
        return Err(DigestError::InvalidParam {
            name,
            problem: "contains a control character",
            value: super::excerpt(value.as_bytes())
                .escape_default()
                .to_string(),
        });
    }
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::{Scheme, parse_challenge, parse_credentials, verify};

    #[test]
    fn challenge_layout() {
        let c = ChallengeBuilder::new("example.com", "abc").build().unwrap();
        assert_eq!(
            c,
            r#"Digest realm="example.com", nonce="abc", algorithm=MD5, qop="auth""#
        );
        let c = ChallengeBuilder::new("example.com", "abc")
            .algorithm(Algorithm::Sha256)
            .qop(&[Qop::Auth, Qop::AuthInt])
            .opaque("o\"x")
            .stale(true)
            .build()
            .unwrap();
        assert_eq!(
            c,
            r#"Digest realm="example.com", nonce="abc", algorithm=SHA-256, qop="auth,auth-int", opaque="o\"x", stale=true"#
        );
        let parsed = parse_challenge(c.as_bytes()).unwrap();
        assert_eq!(parsed.algorithm(), Ok(Algorithm::Sha256));
        assert_eq!(parsed.preferred_qop(), Ok(Some(Qop::Auth)));
        assert_eq!(parsed.opaque().unwrap().unescape(), "o\"x");
        assert!(parsed.stale());
        let bare = ChallengeBuilder::new("r", "n").qop(&[]).build().unwrap();
        assert_eq!(bare, r#"Digest realm="r", nonce="n", algorithm=MD5"#);
    }

    #[test]
    fn control_characters_are_refused_and_out_is_untouched() {
        let mut out = String::from("WWW-Authenticate: ");
        let err = ChallengeBuilder::new("evil\r\nVia: x", "n")
            .write(&mut out)
            .unwrap_err();
        assert_eq!(out, "WWW-Authenticate: ");
        assert_eq!(
            err.to_string(),
            r#"digest: parameter "realm" contains a control character: "evil\r\nVia: x""#
        );
        let err = CredentialsBuilder::new("u", Secret::Password("p"), "r", "n")
            .request("REGISTER", "sip:r")
            .opaque("\0")
            .write(&mut out);
        assert!(err.is_err());
        assert_eq!(out, "WWW-Authenticate: ");
    }

    #[test]
    fn credentials_round_trip_through_parse_and_verify() {
        let body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n";
        for alg in [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ] {
            for qop in [Qop::Auth, Qop::AuthInt] {
                let user = r#"J"o\e"#;
                let header =
                    CredentialsBuilder::new(user, Secret::Password("pw"), "sip.example", "n1")
                        .request("INVITE", "sip:bob@sip.example")
                        .algorithm(alg)
                        .qop(qop, 0x1f, "c\"n")
                        .opaque("op")
                        .body(body)
                        .build()
                        .unwrap();
                let creds = parse_credentials(header.as_bytes()).unwrap();
                assert_eq!(creds.username().unwrap().unescape(), user);
                assert_eq!(creds.nc().unwrap().as_str(), "0000001f");
                assert_eq!(creds.require_complete(), Ok(()));
                let stored = ha1(alg, user, "sip.example", "pw");
                assert!(verify(&creds, "INVITE", stored.as_str(), body), "{header}");
                assert!(!verify(&creds, "REGISTER", stored.as_str(), body));
                let other_body = if qop == Qop::AuthInt { &b"x"[..] } else { body };
                assert_eq!(
                    verify(&creds, "INVITE", stored.as_str(), other_body),
                    qop == Qop::Auth
                );
            }
        }
    }

    #[test]
    fn credentials_without_qop_and_from_ha1() {
        let stored = ha1(Algorithm::Md5, "alice", "r", "pw");
        let header = CredentialsBuilder::new("alice", Secret::Ha1(stored.as_str()), "r", "n")
            .request("REGISTER", "sip:r")
            .build()
            .unwrap();
        assert!(!header.contains("qop"));
        assert!(!header.contains("cnonce"));
        let creds = parse_credentials(header.as_bytes()).unwrap();
        assert_eq!(creds.scheme(), Scheme::Digest);
        assert!(verify(&creds, "REGISTER", stored.as_str(), b""));
        assert!(!verify(
            &creds,
            "REGISTER",
            ha1(Algorithm::Md5, "alice", "r", "px").as_str(),
            b""
        ));
    }

    #[test]
    fn credentials_builder_errors() {
        let b = CredentialsBuilder::new("u", Secret::Password("p"), "r", "n");
        assert_eq!(b.build(), Err(DigestError::MissingParam { name: "uri" }));
        let b = b.request("REGISTER", "sip:r");
        assert_eq!(
            b.algorithm(Algorithm::Md5Sess).build(),
            Err(DigestError::MissingParam { name: "cnonce" })
        );
        assert!(matches!(
            b.algorithm(Algorithm::Sha256).qop(Qop::Auth, 1, "c").build(),
            Ok(s) if s.contains("algorithm=SHA-256")
        ));
        let b = CredentialsBuilder::new("u", Secret::Ha1("00"), "r", "n").request("A", "sip:r");
        assert_eq!(
            b.build().map_err(|e| e.to_string()),
            Err("digest: HA1 for MD5 must be 32 hex digits".to_owned())
        );
        assert_eq!(
            format!("{:?}", Secret::Password("hunter2")),
            "Password(redacted)"
        );
    }
}
