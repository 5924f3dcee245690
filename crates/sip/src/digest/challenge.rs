//! `WWW-Authenticate` / `Proxy-Authenticate` values (RFC 3261 §25.1 `challenge`, RFC 7616 §3.3).

use super::lex::{Params, Value, find, for_each_param, is_true, scheme, trim};
use super::{Algorithm, DigestError, Qop, Scheme, excerpt};

/// A parsed `WWW-Authenticate` / `Proxy-Authenticate` value. Borrows the header bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge<'a> {
    scheme: Scheme<'a>,
    realm: Option<Value<'a>>,
    domain: Option<Value<'a>>,
    nonce: Option<Value<'a>>,
    opaque: Option<Value<'a>>,
    stale: bool,
    algorithm: Option<Value<'a>>,
    qop: Option<Value<'a>>,
    userhash: bool,
    charset: Option<Value<'a>>,
    input: &'a [u8],
    params_at: usize,
}

/// Parses a challenge header value; a non-`Digest` scheme comes back as [`Scheme::Other`].
pub fn parse_challenge(value: &[u8]) -> Result<Challenge<'_>, DigestError> {
    let (scheme, params_at) = scheme(value)?;
    let mut c = Challenge {
        scheme,
        realm: None,
        domain: None,
        nonce: None,
        opaque: None,
        stale: false,
        algorithm: None,
        qop: None,
        userhash: false,
        charset: None,
        input: value,
        params_at,
    };
    if scheme == Scheme::Digest {
        for_each_param(value, params_at, |name, v| {
            match name {
                b"realm" => c.realm = Some(v),
                b"domain" => c.domain = Some(v),
                b"nonce" => c.nonce = Some(v),
                b"opaque" => c.opaque = Some(v),
                b"stale" => c.stale = is_true(v),
                b"algorithm" => c.algorithm = Some(v),
                b"qop" => c.qop = Some(v),
                b"userhash" => c.userhash = is_true(v),
                b"charset" => c.charset = Some(v),
                _ => {}
            }
            Ok(())
        })?;
    }
    Ok(c)
}

impl<'a> Challenge<'a> {
    /// The scheme.
    pub fn scheme(&self) -> Scheme<'a> {
        self.scheme
    }

    /// `realm`.
    pub fn realm(&self) -> Option<Value<'a>> {
        self.realm
    }

    /// `domain`: a space-separated list of URIs.
    pub fn domain(&self) -> Option<Value<'a>> {
        self.domain
    }

    /// `nonce`.
    pub fn nonce(&self) -> Option<Value<'a>> {
        self.nonce
    }

    /// `opaque`, to be echoed in the credentials.
    pub fn opaque(&self) -> Option<Value<'a>> {
        self.opaque
    }

    /// `stale=true`: the password was right, only the nonce expired (RFC 7616 §3.3).
    pub fn stale(&self) -> bool {
        self.stale
    }

    /// `userhash=true` (RFC 7616 §3.3).
    pub fn userhash(&self) -> bool {
        self.userhash
    }

    /// `charset` (RFC 7616 §4).
    pub fn charset(&self) -> Option<Value<'a>> {
        self.charset
    }

    /// The algorithm; MD5 when absent. A client facing several challenges (RFC 8760 §2.4)
    /// answers the first whose algorithm it supports.
    pub fn algorithm(&self) -> Result<Algorithm, DigestError> {
        self.algorithm
            .map_or(Ok(Algorithm::Md5), |v| v.raw().parse())
    }

    /// The qop options offered, as written (`qop="auth,auth-int"`); empty without a `qop`.
    pub fn qop_options(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.qop
            .map(|v| v.raw())
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim_matches([' ', '\t', '\r', '\n']))
            .filter(|s| !s.is_empty())
    }

    /// Whether the server offers this qop.
    pub fn offers_qop(&self, qop: Qop) -> bool {
        self.qop_options()
            .any(|s| s.eq_ignore_ascii_case(qop.as_str()))
    }

    /// The qop a client should answer with: `auth` if offered, else `auth-int`; `None` when the
    /// challenge has no `qop` (RFC 2069 mode). An offer with neither is an error.
    pub fn preferred_qop(&self) -> Result<Option<Qop>, DigestError> {
        match self.qop {
            None => Ok(None),
            Some(_) if self.offers_qop(Qop::Auth) => Ok(Some(Qop::Auth)),
            Some(_) if self.offers_qop(Qop::AuthInt) => Ok(Some(Qop::AuthInt)),
            Some(v) => Err(DigestError::UnsupportedQop {
                value: excerpt(v.raw().as_bytes()),
            }),
        }
    }

    /// All parameters in order (see [`Credentials::params`](super::Credentials::params)).
    pub fn params(&self) -> Params<'a> {
        Params::new(self.input, self.params_at)
    }

    /// The first parameter with this name (case-insensitive).
    pub fn param(&self, name: &str) -> Option<Value<'a>> {
        find(self.params(), name)
    }

    /// The bytes after the scheme, trimmed.
    pub fn raw_params(&self) -> &'a [u8] {
        trim(self.input.get(self.params_at..).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Challenge<'_> {
        parse_challenge(s.as_bytes()).unwrap()
    }

    #[test]
    fn rfc7616_section_3_9_1_challenges() {
        let sha = parse(
            "Digest\r\n    realm=\"http-auth@example.org\",\r\n    qop=\"auth, auth-int\",\r\n    algorithm=SHA-256,\r\n    nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n    opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
        );
        assert_eq!(sha.scheme(), Scheme::Digest);
        assert_eq!(sha.realm().map(|v| v.raw()), Some("http-auth@example.org"));
        assert_eq!(sha.algorithm(), Ok(Algorithm::Sha256));
        assert_eq!(sha.qop_options().collect::<Vec<_>>(), ["auth", "auth-int"]);
        assert!(sha.offers_qop(Qop::AuthInt));
        assert_eq!(sha.preferred_qop(), Ok(Some(Qop::Auth)));
        assert_eq!(
            sha.nonce().map(|v| v.raw()),
            Some("7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v")
        );
        assert_eq!(
            sha.opaque().map(|v| v.raw()),
            Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
        );
        assert!(!sha.stale());
        let md5 = parse(
            r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5, nonce="n""#,
        );
        assert_eq!(md5.algorithm(), Ok(Algorithm::Md5));
    }

    #[test]
    fn sip_challenge_with_every_param() {
        let c = parse(
            r#"digest realm="atlanta.com", domain="sip:ss1.carrier.com sip:ss2.carrier.com", nonce="f84f1cec41e6cbe5aea9c8e88d359", opaque="", stale=TRUE, algorithm=MD5, qop="auth-int", userhash=true, charset=UTF-8, x=y"#,
        );
        assert_eq!(
            c.domain().map(|v| v.raw()),
            Some("sip:ss1.carrier.com sip:ss2.carrier.com")
        );
        assert_eq!(c.opaque().map(|v| v.raw()), Some(""));
        assert!(c.stale() && c.userhash());
        assert_eq!(c.charset().map(|v| v.raw()), Some("UTF-8"));
        assert_eq!(c.preferred_qop(), Ok(Some(Qop::AuthInt)));
        assert!(!c.offers_qop(Qop::Auth));
        assert_eq!(c.param("X").map(|v| v.raw()), Some("y"));
        assert_eq!(c.params().count(), 10);
    }

    #[test]
    fn defaults_and_unsupported_values() {
        let c = parse(r#"Digest realm="r", nonce="n", stale=no"#);
        assert_eq!(c.algorithm(), Ok(Algorithm::Md5));
        assert_eq!(c.preferred_qop(), Ok(None));
        assert_eq!(c.qop_options().count(), 0);
        assert!(!c.stale());
        let c = parse(r#"Digest realm="r", algorithm=SHA-512-256, qop="auth-conf, ""#);
        assert_eq!(
            c.algorithm().map_err(|e| e.to_string()),
            Err(r#"digest: unsupported algorithm "SHA-512-256""#.to_owned())
        );
        assert_eq!(
            c.preferred_qop().map_err(|e| e.to_string()),
            Err(r#"digest: unsupported qop "auth-conf, ""#.to_owned())
        );
    }

    #[test]
    fn other_schemes_and_errors() {
        let c = parse("Bearer realm=\"example\", error=\"invalid_token\"");
        assert_eq!(c.scheme(), Scheme::Other("Bearer"));
        assert_eq!(c.realm(), None);
        assert_eq!(c.param("error").map(|v| v.raw()), Some("invalid_token"));
        let e = |s: &[u8]| parse_challenge(s).unwrap_err().to_string();
        assert_eq!(
            e(b"Digest realm=\"a\", realm=\"b\""),
            r#"digest: duplicate parameter "realm""#
        );
        assert_eq!(
            e(b"Digest realm=\"a"),
            "digest: unterminated quoted string at byte 13"
        );
        assert_eq!(
            e(br#"Digest realm="a", Digest realm="b""#),
            "digest: expected '=' after the parameter name at byte 25"
        );
    }
}
