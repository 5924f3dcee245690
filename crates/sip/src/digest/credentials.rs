//! `Authorization` / `Proxy-Authorization` values (RFC 3261 §25.1 `credentials`, RFC 7616 §3.4).

use super::lex::{Params, Value, find, for_each_param, is_true, scheme, trim};
use super::{Algorithm, DigestError, Qop, Scheme, excerpt};

/// A validated `nc` value: 8 hex digits (RFC 7616 §3.4). The text is kept because the response
/// hashes it exactly as the client wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonceCount<'a> {
    raw: &'a str,
    value: u32,
}

impl<'a> NonceCount<'a> {
    /// The 8 hex digits as written.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// The count.
    pub fn value(&self) -> u32 {
        self.value
    }

    fn parse(v: Value<'a>) -> Result<Self, DigestError> {
        let raw = v.raw();
        let value = if raw.len() == 8 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            u32::from_str_radix(raw, 16).ok()
        } else {
            None
        };
        value
            .map(|value| Self { raw, value })
            .ok_or_else(|| DigestError::InvalidParam {
                name: "nc",
                problem: "is not 8 hex digits",
                value: excerpt(raw.as_bytes()),
            })
    }
}

/// A parsed `Authorization` / `Proxy-Authorization` value. Borrows the header bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credentials<'a> {
    scheme: Scheme<'a>,
    username: Option<Value<'a>>,
    realm: Option<Value<'a>>,
    nonce: Option<Value<'a>>,
    uri: Option<Value<'a>>,
    response: Option<Value<'a>>,
    algorithm: Option<Value<'a>>,
    cnonce: Option<Value<'a>>,
    opaque: Option<Value<'a>>,
    qop: Option<Value<'a>>,
    nc: Option<NonceCount<'a>>,
    userhash: bool,
    input: &'a [u8],
    params_at: usize,
}

/// Parses a credentials header value (the bytes after the colon; LWS and folding allowed).
///
/// A non-`Digest` scheme is not an error: it comes back as [`Scheme::Other`] with its parameters
/// unvalidated, because RFC 4475 §3.3.7 requires such a request to be treated as well-formed.
pub fn parse_credentials(value: &[u8]) -> Result<Credentials<'_>, DigestError> {
    let (scheme, params_at) = scheme(value)?;
    let mut c = Credentials {
        scheme,
        username: None,
        realm: None,
        nonce: None,
        uri: None,
        response: None,
        algorithm: None,
        cnonce: None,
        opaque: None,
        qop: None,
        nc: None,
        userhash: false,
        input: value,
        params_at,
    };
    if scheme == Scheme::Digest {
        for_each_param(value, params_at, |name, v| {
            match name {
                b"username" => c.username = Some(v),
                b"realm" => c.realm = Some(v),
                b"nonce" => c.nonce = Some(v),
                b"uri" => c.uri = Some(v),
                b"response" => c.response = Some(v),
                b"algorithm" => c.algorithm = Some(v),
                b"cnonce" => c.cnonce = Some(v),
                b"opaque" => c.opaque = Some(v),
                b"qop" => c.qop = Some(v),
                b"nc" => c.nc = Some(NonceCount::parse(v)?),
                b"userhash" => c.userhash = is_true(v),
                _ => {}
            }
            Ok(())
        })?;
    }
    Ok(c)
}

impl<'a> Credentials<'a> {
    /// The scheme.
    pub fn scheme(&self) -> Scheme<'a> {
        self.scheme
    }

    /// `username`: the user, or with [`userhash`](Self::userhash) its hash (RFC 7616 §3.4.4).
    pub fn username(&self) -> Option<Value<'a>> {
        self.username
    }

    /// `realm`.
    pub fn realm(&self) -> Option<Value<'a>> {
        self.realm
    }

    /// `nonce`, as issued by the server.
    pub fn nonce(&self) -> Option<Value<'a>> {
        self.nonce
    }

    /// `uri`; the server must check it names the Request-URI (RFC 2617 §3.2.2.5).
    pub fn uri(&self) -> Option<Value<'a>> {
        self.uri
    }

    /// `response`, the request digest.
    pub fn response(&self) -> Option<Value<'a>> {
        self.response
    }

    /// `cnonce`.
    pub fn cnonce(&self) -> Option<Value<'a>> {
        self.cnonce
    }

    /// `opaque`, echoed from the challenge.
    pub fn opaque(&self) -> Option<Value<'a>> {
        self.opaque
    }

    /// `nc`, already checked to be 8 hex digits.
    pub fn nc(&self) -> Option<NonceCount<'a>> {
        self.nc
    }

    /// `userhash=true` (RFC 7616 §3.4.4).
    pub fn userhash(&self) -> bool {
        self.userhash
    }

    /// The algorithm; MD5 when absent (RFC 2617 §3.2.2).
    pub fn algorithm(&self) -> Result<Algorithm, DigestError> {
        self.algorithm
            .map_or(Ok(Algorithm::Md5), |v| v.raw().parse())
    }

    /// The qop; `None` for an RFC 2069 response without one.
    pub fn qop(&self) -> Result<Option<Qop>, DigestError> {
        // RFC 7616 makes qop a token; some phones quote it, which is harmless to accept.
        self.qop.map(|v| v.raw().parse()).transpose()
    }

    /// Checks that the parameters RFC 7616 §3.4 requires are present: `username`, `realm`,
    /// `nonce`, `uri`, `response`, and `cnonce` and `nc` when there is a `qop`.
    pub fn require_complete(&self) -> Result<(), DigestError> {
        if let Scheme::Other(scheme) = self.scheme {
            return Err(DigestError::NotDigest {
                scheme: excerpt(scheme.as_bytes()),
            });
        }
        let qop = self.qop.is_some();
        [
            ("username", self.username.is_some()),
            ("realm", self.realm.is_some()),
            ("nonce", self.nonce.is_some()),
            ("uri", self.uri.is_some()),
            ("response", self.response.is_some()),
            ("cnonce", !qop || self.cnonce.is_some()),
            ("nc", !qop || self.nc.is_some()),
        ]
        .into_iter()
        .find(|(_, ok)| !ok)
        .map_or(Ok(()), |(name, _)| Err(DigestError::MissingParam { name }))
    }

    /// All parameters in order, known and unknown. For [`Scheme::Other`] they were never
    /// validated, so the iterator may yield an error (e.g. for a `token68` value).
    pub fn params(&self) -> Params<'a> {
        Params::new(self.input, self.params_at)
    }

    /// The first parameter with this name (case-insensitive).
    pub fn param(&self, name: &str) -> Option<Value<'a>> {
        find(self.params(), name)
    }

    /// The bytes after the scheme, trimmed: what a proxy forwards for an unknown scheme.
    pub fn raw_params(&self) -> &'a [u8] {
        trim(self.input.get(self.params_at..).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &str) -> Credentials<'_> {
        parse_credentials(s.as_bytes()).unwrap()
    }

    fn err(s: &[u8]) -> String {
        parse_credentials(s).unwrap_err().to_string()
    }

    #[test]
    fn rfc3261_register_example() {
        // RFC 3261 §20.7, as a phone sends it in a REGISTER.
        let c = parse(
            r#"Digest username="bob", realm="biloxi.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="sip:bob@biloxi.com", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
        );
        assert_eq!(c.scheme(), Scheme::Digest);
        assert_eq!(c.username().map(|v| v.raw()), Some("bob"));
        assert_eq!(c.realm().map(|v| v.raw()), Some("biloxi.com"));
        assert_eq!(c.uri().map(|v| v.raw()), Some("sip:bob@biloxi.com"));
        assert_eq!(
            c.nonce().map(|v| v.raw()),
            Some("dcd98b7102dd2f0e8b11d0f600bfb0c093")
        );
        assert_eq!(c.cnonce().map(|v| v.raw()), Some("0a4f113b"));
        assert_eq!(
            c.opaque().map(|v| v.raw()),
            Some("5ccc069c403ebaf9f0171e9517f40e41")
        );
        assert_eq!(c.response().map(|v| v.is_quoted()), Some(true));
        assert_eq!(c.nc().map(|n| n.value()), Some(1));
        assert_eq!(c.qop(), Ok(Some(Qop::Auth)));
        assert_eq!(c.algorithm(), Ok(Algorithm::Md5));
        assert!(!c.userhash());
        assert_eq!(c.require_complete(), Ok(()));
        assert_eq!(c.params().count(), 9);
    }

    #[test]
    fn lws_and_folding_variants_parse_alike() {
        let plain = r#"Digest username="bob",realm="r",nonce="n",uri="sip:r",response="00",algorithm=sha-256"#;
        let variants = [
            "  \tdigest   username = \"bob\" ,\trealm=\"r\",nonce=\"n\",uri=\"sip:r\",response=\"00\",algorithm=sha-256 \t",
            "DIGEST\r\n username=\"bob\",\r\n realm=\"r\"\r\n\t,nonce\r\n =\"n\",uri=\"sip:r\",response=\"00\",algorithm=sha-256\r\n",
            "Digest\tusername=\"bob\" , realm=\"r\" , nonce=\"n\" , uri=\"sip:r\" , response=\"00\" , algorithm=SHA-256",
        ];
        let want = parse(plain);
        for v in variants {
            let c = parse(v);
            assert_eq!(c.algorithm(), Ok(Algorithm::Sha256), "{v:?}");
            for (a, b) in [
                (c.username(), want.username()),
                (c.realm(), want.realm()),
                (c.nonce(), want.nonce()),
                (c.uri(), want.uri()),
                (c.response(), want.response()),
            ] {
                assert_eq!(a, b, "{v:?}");
            }
        }
    }

    #[test]
    fn unknown_scheme_is_well_formed() {
        // RFC 4475 §3.3.7 (regaut01).
        let c = parse("NoOneKnowsThisScheme opaque-data=here");
        assert_eq!(c.scheme(), Scheme::Other("NoOneKnowsThisScheme"));
        assert_eq!(c.raw_params(), b"opaque-data=here");
        assert_eq!(c.param("OPAQUE-DATA").map(|v| v.raw()), Some("here"));
        assert_eq!(c.username(), None);
        assert!(matches!(
            c.require_complete(),
            Err(DigestError::NotDigest { .. })
        ));
        // token68 (RFC 7235) is not auth-param syntax: accepted, but iteration reports it.
        let basic = parse("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==  ");
        assert_eq!(basic.scheme(), Scheme::Other("Basic"));
        assert_eq!(basic.raw_params(), b"QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert!(basic.params().any(|p| p.is_err()));
        assert_eq!(parse("Negotiate").raw_params(), b"");
    }

    #[test]
    fn unknown_params_are_kept() {
        let c = parse(r#"Digest username="a", x-ext=tok, realm="r", Other="q\"v""#);
        let unknown: Vec<_> = c
            .params()
            .map_while(Result::ok)
            .filter(|p| !matches!(p.name, "username" | "realm"))
            .map(|p| (p.name, p.value.unescape().into_owned()))
            .collect();
        assert_eq!(
            unknown,
            [("x-ext", "tok".to_owned()), ("Other", "q\"v".to_owned())]
        );
        assert_eq!(c.param("other").map(|v| v.raw()), Some(r#"q\"v"#));
    }

    #[test]
    fn typed_params() {
        let c = parse(r#"Digest qop="AUTH-INT", algorithm="MD5-Sess", nc=0000000A, userhash=TRUE"#);
        assert_eq!(c.qop(), Ok(Some(Qop::AuthInt)));
        assert_eq!(c.algorithm(), Ok(Algorithm::Md5Sess));
        assert_eq!(
            c.nc().map(|n| (n.as_str(), n.value())),
            Some(("0000000A", 10))
        );
        assert!(c.userhash());
        assert_eq!(
            c.require_complete(),
            Err(DigestError::MissingParam { name: "username" })
        );
        let c = parse("Digest algorithm=SHA-512-256, qop=auth-conf");
        assert!(matches!(
            c.algorithm(),
            Err(DigestError::UnsupportedAlgorithm { .. })
        ));
        assert!(matches!(c.qop(), Err(DigestError::UnsupportedQop { .. })));
    }

    #[test]
    fn malformed_values_are_errors() {
        assert_eq!(err(b""), "digest: header value is empty");
        assert_eq!(err(b" \r\n "), "digest: header value is empty");
        assert_eq!(
            err(b"Digest"),
            "digest: expected digest parameters at byte 6"
        );
        assert_eq!(
            err(b"Digest  "),
            "digest: expected digest parameters at byte 8"
        );
        assert_eq!(
            err(b"\"Digest\""),
            "digest: expected an auth scheme at byte 0"
        );
        assert_eq!(
            err(b"Digest,realm=x"),
            "digest: expected whitespace after the auth scheme at byte 6"
        );
        assert_eq!(
            err(b"Digest realm"),
            "digest: expected '=' after the parameter name at byte 12"
        );
        assert_eq!(
            err(br#"Digest realm="r", nonce="abc, uri="x""#),
            "digest: expected ',' or end of value at byte 35"
        );
        assert_eq!(
            err(br#"Digest realm="r", nonce="abc"#),
            "digest: unterminated quoted string at byte 24"
        );
        assert_eq!(
            err(b"Digest nc=12x"),
            r#"digest: parameter "nc" is not 8 hex digits: "12x""#
        );
        assert_eq!(err(b"Digest nc=+0000001"), err(b"Digest nc=+0000001"));
        assert!(err(b"Digest nc=+0000001").contains("is not 8 hex digits"));
        assert_eq!(
            err(br#"Digest nonce="a", realm=r, NONCE="b""#),
            r#"digest: duplicate parameter "NONCE""#
        );
        assert_eq!(
            err(b"Digest x=1, X=2"),
            r#"digest: duplicate parameter "X""#
        );
        assert_eq!(
            err(b"Digest realm=\"\xc3\x28\""),
            "digest: invalid UTF-8 at byte 14"
        );
        assert_eq!(
            err(b"Digest realm=r\r\nnonce=n"),
            "digest: invalid byte 0x0d at byte 14"
        );
    }

    #[test]
    fn huge_inputs_are_bounded() {
        let many: String = (0..1000).map(|i| format!("p{i}=v, ")).collect();
        let many = format!("Digest {}", many.trim_end_matches(", "));
        assert_eq!(err(many.as_bytes()), "digest: more than 32 parameters");
        let long_value = format!("Digest realm=\"{}\"", "a".repeat(1 << 20));
        assert_eq!(
            parse(&long_value).realm().map(|v| v.raw().len()),
            Some(1 << 20)
        );
        let unterminated = format!("Digest realm=\"{}", "a".repeat(1 << 20));
        assert_eq!(
            err(unterminated.as_bytes()),
            "digest: unterminated quoted string at byte 13"
        );
        let long_nc = format!("Digest nc={}", "9".repeat(1 << 16));
        assert!(err(long_nc.as_bytes()).len() < 120);
        let spaces = format!("Digest{}realm=r", " ".repeat(1 << 20));
        assert!(parse(&spaces).realm().is_some());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(c) = parse_credentials(&bytes) {
                let _ = (c.algorithm(), c.qop(), c.require_complete(), c.raw_params());
                for p in c.params().flatten() {
                    let _ = p.value.unescape();
                }
                let _ = crate::digest::verify(&c, "REGISTER", "00", &bytes);
            }
            if let Ok(c) = crate::digest::parse_challenge(&bytes) {
                let _ = (c.algorithm(), c.preferred_qop(), c.qop_options().count());
                let _ = c.params().count();
            }
        }

        #[test]
        fn mutated_headers_never_panic(
            cut in 0usize..200,
            byte in any::<u8>(),
            at in 0usize..200,
        ) {
            let mut h = br#"Digest username="bob", realm="biloxi.com", nonce="dcd98b7102dd", uri="sip:bob@biloxi.com", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1""#.to_vec();
            if let Some(b) = h.get_mut(at) {
                *b = byte;
            }
            h.truncate(cut.max(1));
            if let Ok(c) = parse_credentials(&h) {
                let _ = crate::digest::verify(&c, "REGISTER", "939e7578ed9e3c518a452acee763bce9", b"");
                let _ = c.params().count();
            }
        }
    }
}
