//! Digest computation (RFC 7616 §3.4.1–3.4.3, RFC 2617 §3.2.2) and the server-side check.

use std::borrow::Cow;
use std::fmt;

use md5::{Digest, Md5};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{Algorithm, Credentials, DigestError, Qop, Scheme};

/// A lowercase hex digest: 32 digits (MD5) or 64 (SHA-256). Stack-only.
///
/// `Debug` hides the digits because an HA1 is as good as the password.
#[derive(Clone, Copy)]
pub struct HexDigest {
    buf: [u8; 64],
    len: usize,
}

impl HexDigest {
    fn encode(bytes: &[u8]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut buf = [0u8; 64];
        for (pair, b) in buf.chunks_exact_mut(2).zip(bytes) {
            if let [hi, lo] = pair {
                *hi = HEX[usize::from(b >> 4)];
                *lo = HEX[usize::from(b & 0x0f)];
            }
        }
        Self {
            buf,
            len: (bytes.len() * 2).min(64),
        }
    }

    /// Reads 32 or 64 hex digits in either case (e.g. an HA1 from the store), normalised to
    /// lowercase; `None` otherwise.
    pub fn parse(hex: &str) -> Option<Self> {
        let bytes = hex.as_bytes();
        if !matches!(bytes.len(), 32 | 64) || !bytes.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let mut buf = [0u8; 64];
        let dst = buf.get_mut(..bytes.len())?;
        dst.copy_from_slice(bytes);
        dst.make_ascii_lowercase();
        Some(Self {
            buf,
            len: bytes.len(),
        })
    }

    /// The hex digits.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// The hex digits as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// Constant-time comparison with another digest; a length difference returns early, since
    /// lengths are public (they follow from the algorithm).
    pub fn ct_eq(&self, other: &HexDigest) -> bool {
        self.len == other.len && bool::from(self.as_bytes().ct_eq(other.as_bytes()))
    }
}

impl fmt::Display for HexDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for HexDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HexDigest({} hex digits, redacted)", self.len)
    }
}

/// H(part ":" part ":" …) with the algorithm's hash, hex-encoded (RFC 7616 §3.4).
fn h(algorithm: Algorithm, parts: &[&[u8]]) -> HexDigest {
    fn run<D: Digest>(mut d: D, parts: &[&[u8]]) -> HexDigest {
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                d.update(b":");
            }
            d.update(part);
        }
        HexDigest::encode(&d.finalize())
    }
    match algorithm {
        Algorithm::Md5 | Algorithm::Md5Sess => run(Md5::new(), parts),
        Algorithm::Sha256 | Algorithm::Sha256Sess => run(Sha256::new(), parts),
    }
}

/// HA1 = H(username ":" realm ":" password), the value a store keeps instead of the password.
/// For a `-sess` algorithm this is still the plain HA1; [`response`] binds it to the nonces.
pub fn ha1(algorithm: Algorithm, username: &str, realm: &str, password: &str) -> HexDigest {
    h(
        algorithm,
        &[username.as_bytes(), realm.as_bytes(), password.as_bytes()],
    )
}

/// Everything besides HA1 that goes into a request digest. Values are unquoted and unescaped.
#[derive(Debug, Clone, Copy)]
pub struct ResponseInput<'a> {
    /// Hash algorithm.
    pub algorithm: Algorithm,
    /// `None` for the RFC 2069 form without qop.
    pub qop: Option<Qop>,
    /// Request method, e.g. `REGISTER`.
    pub method: &'a str,
    /// The `uri` parameter.
    pub uri: &'a str,
    /// The server nonce.
    pub nonce: &'a str,
    /// The client nonce; used with a qop and by `-sess` algorithms.
    pub cnonce: &'a str,
    /// The nonce count as sent (8 hex digits); used with a qop.
    pub nc: &'a str,
    /// The message body; hashed only for `auth-int`.
    pub body: &'a [u8],
}

/// Computes the request digest from a stored HA1 (hex, either case; see [`ha1`]).
pub fn response(ha1: &str, input: &ResponseInput<'_>) -> Result<HexDigest, DigestError> {
    let alg = input.algorithm;
    let ha1 = HexDigest::parse(ha1)
        .filter(|d| d.len == alg.hex_len())
        .ok_or(DigestError::BadHa1 {
            algorithm: alg,
            len: alg.hex_len(),
        })?;
    // RFC 7616 §3.4.2: the session key is H(HA1 ":" nonce ":" cnonce) with HA1 in hex, which
    // corrects the binary HA1 in RFC 2617's sample code.
    let ha1 = if alg.is_session() {
        h(
            alg,
            &[
                ha1.as_bytes(),
                input.nonce.as_bytes(),
                input.cnonce.as_bytes(),
            ],
        )
    } else {
        ha1
    };
    let (method, uri) = (input.method.as_bytes(), input.uri.as_bytes());
    // RFC 7616 §3.4.3: auth-int adds H(entity-body); in SIP that is the message body.
    let ha2 = match input.qop {
        Some(Qop::AuthInt) => h(alg, &[method, uri, h(alg, &[input.body]).as_bytes()]),
        _ => h(alg, &[method, uri]),
    };
    let nonce = input.nonce.as_bytes();
    Ok(match input.qop {
        Some(qop) => h(
            alg,
            &[
                ha1.as_bytes(),
                nonce,
                input.nc.as_bytes(),
                input.cnonce.as_bytes(),
                qop.as_str().as_bytes(),
                ha2.as_bytes(),
            ],
        ),
        // RFC 2069 §2.1.2, kept by RFC 2617 §3.2.2.1 for clients that ignore qop.
        None => h(alg, &[ha1.as_bytes(), nonce, ha2.as_bytes()]),
    })
}

/// Recomputes the digest for `creds` and compares it with the one received, in constant time.
///
/// `ha1` is the stored HA1 for the credentials' algorithm family (MD5 or SHA-256) and realm.
/// `false` also covers anything that makes the check impossible: another scheme, an unsupported
/// algorithm or qop, missing `nonce`/`uri`/`response`, missing `cnonce`/`nc` with a qop, or an HA1
/// of the wrong length. Checking the nonce, the nonce count and the `uri` against the
/// Request-URI is the caller's job.
pub fn verify(creds: &Credentials<'_>, method: &str, ha1: &str, body: &[u8]) -> bool {
    let Some(expected) = expected_response(creds, method, ha1, body) else {
        return false;
    };
    // RFC 7616 asks for lowercase hex; accepting uppercase costs nothing and helps old phones.
    creds
        .response()
        .and_then(|r| HexDigest::parse(r.raw()))
        .is_some_and(|given| given.ct_eq(&expected))
}

fn expected_response(
    creds: &Credentials<'_>,
    method: &str,
    ha1: &str,
    body: &[u8],
) -> Option<HexDigest> {
    if creds.scheme() != Scheme::Digest {
        return None;
    }
    let algorithm = creds.algorithm().ok()?;
    let qop = creds.qop().ok()?;
    let nonce = creds.nonce()?.unescape();
    let uri = creds.uri()?.unescape();
    let cnonce = match creds.cnonce() {
        Some(c) => c.unescape(),
        None if qop.is_none() && !algorithm.is_session() => Cow::Borrowed(""),
        None => return None,
    };
    let nc = match (qop, creds.nc()) {
        (None, _) => "",
        (Some(_), Some(nc)) => nc.as_str(),
        (Some(_), None) => return None,
    };
    let input = ResponseInput {
        algorithm,
        qop,
        method,
        uri: &uri,
        nonce: &nonce,
        cnonce: &cnonce,
        nc,
        body,
    };
    response(ha1, &input).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::parse_credentials;

    const MUFASA_MD5_HA1: &str = "939e7578ed9e3c518a452acee763bce9";

    fn rfc2617_input() -> ResponseInput<'static> {
        ResponseInput {
            algorithm: Algorithm::Md5,
            qop: Some(Qop::Auth),
            method: "GET",
            uri: "/dir/index.html",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            cnonce: "0a4f113b",
            nc: "00000001",
            body: b"",
        }
    }

    #[test]
    fn rfc2617_section_3_5() {
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        assert_eq!(ha1.as_str(), MUFASA_MD5_HA1);
        let r = response(ha1.as_str(), &rfc2617_input()).unwrap();
        assert_eq!(r.as_str(), "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc2069_without_qop() {
        // RFC 2069 §2.4's example (password "CircleOfLife"); the RFC prints
        // e966c932a9242554e42c8ee200cec7f6, which its errata corrects to this value.
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "CircleOfLife",
        );
        let input = ResponseInput {
            qop: None,
            cnonce: "",
            nc: "",
            ..rfc2617_input()
        };
        let r = response(ha1.as_str(), &input).unwrap();
        assert_eq!(r.as_str(), "1949323746fe6a43ef61f9606e7febea");
    }

    #[test]
    fn rfc7616_section_3_9_1() {
        let input = |algorithm| ResponseInput {
            algorithm,
            qop: Some(Qop::Auth),
            method: "GET",
            uri: "/dir/index.html",
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            nc: "00000001",
            body: b"",
        };
        let sha = ha1(
            Algorithm::Sha256,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        assert_eq!(
            response(sha.as_str(), &input(Algorithm::Sha256))
                .unwrap()
                .as_str(),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        let md5 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        assert_eq!(
            response(md5.as_str(), &input(Algorithm::Md5))
                .unwrap()
                .as_str(),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
    }

    #[test]
    fn session_and_auth_int_follow_rfc7616() {
        let base = ha1(
            Algorithm::Md5Sess,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        assert_eq!(base.as_str(), MUFASA_MD5_HA1);
        let input = ResponseInput {
            algorithm: Algorithm::Md5Sess,
            qop: Some(Qop::AuthInt),
            body: b"v=0\r\n",
            ..rfc2617_input()
        };
        let sess = h(
            Algorithm::Md5,
            &[
                MUFASA_MD5_HA1.as_bytes(),
                b"dcd98b7102dd2f0e8b11d0f600bfb0c093",
                b"0a4f113b",
            ],
        );
        let body = h(Algorithm::Md5, &[b"v=0\r\n"]);
        let ha2 = h(
            Algorithm::Md5,
            &[b"GET", b"/dir/index.html", body.as_bytes()],
        );
        let want = h(
            Algorithm::Md5,
            &[
                sess.as_bytes(),
                b"dcd98b7102dd2f0e8b11d0f600bfb0c093",
                b"00000001",
                b"0a4f113b",
                b"auth-int",
                ha2.as_bytes(),
            ],
        );
        assert_eq!(
            response(base.as_str(), &input).unwrap().as_str(),
            want.as_str()
        );
    }

    #[test]
    fn ha1_must_fit_the_algorithm() {
        let sha_input = ResponseInput {
            algorithm: Algorithm::Sha256,
            ..rfc2617_input()
        };
        let err = response(MUFASA_MD5_HA1, &sha_input).unwrap_err();
        assert_eq!(
            err.to_string(),
            "digest: HA1 for SHA-256 must be 64 hex digits"
        );
        assert!(response("zz", &rfc2617_input()).is_err());
        assert!(response(&"g".repeat(32), &rfc2617_input()).is_err());
        let upper = MUFASA_MD5_HA1.to_uppercase();
        assert_eq!(
            response(&upper, &rfc2617_input()).unwrap().as_str(),
            "6629fae49393a05397450978507c4ef1"
        );
    }

    const MUFASA_HEADER: &str = r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;

    #[test]
    fn verify_accepts_the_rfc_example() {
        let creds = parse_credentials(MUFASA_HEADER.as_bytes()).unwrap();
        assert!(verify(&creds, "GET", MUFASA_MD5_HA1, b""));
        let upper = MUFASA_HEADER.replace("6629fae4", "6629FAE4");
        let creds = parse_credentials(upper.as_bytes()).unwrap();
        assert!(verify(&creds, "GET", MUFASA_MD5_HA1, b""));
    }

    #[test]
    fn verify_rejects() {
        let check = |header: &str, method: &str, ha1: &str| {
            verify(
                &parse_credentials(header.as_bytes()).unwrap(),
                method,
                ha1,
                b"",
            )
        };
        let swap = |from: &str, to: &str| MUFASA_HEADER.replace(from, to);
        assert!(!check(MUFASA_HEADER, "POST", MUFASA_MD5_HA1));
        assert!(!check(MUFASA_HEADER, "GET", &"0".repeat(32)));
        assert!(!check(MUFASA_HEADER, "GET", &"0".repeat(64)));
        assert!(!check(MUFASA_HEADER, "GET", "not hex"));
        assert!(!check(&swap("6629fae4", "6629fae5"), "GET", MUFASA_MD5_HA1));
        // Wrong lengths: one digit short, one long, the SHA-256 length, empty.
        assert!(!check(&swap("4ef1\"", "4ef\""), "GET", MUFASA_MD5_HA1));
        assert!(!check(&swap("4ef1\"", "4ef10\""), "GET", MUFASA_MD5_HA1));
        let sha_len = format!("{}\"", "6629fae49393a05397450978507c4ef1".repeat(2));
        assert!(!check(
            &swap("6629fae49393a05397450978507c4ef1\"", &sha_len),
            "GET",
            MUFASA_MD5_HA1
        ));
        assert!(!check(
            &swap("6629fae49393a05397450978507c4ef1", ""),
            "GET",
            MUFASA_MD5_HA1
        ));
        // Missing pieces and unsupported parameters.
        assert!(!check(
            &swap("cnonce=\"0a4f113b\", ", ""),
            "GET",
            MUFASA_MD5_HA1
        ));
        assert!(!check(&swap("nc=00000001, ", ""), "GET", MUFASA_MD5_HA1));
        assert!(!check(
            &swap("qop=auth", "qop=auth-conf"),
            "GET",
            MUFASA_MD5_HA1
        ));
        assert!(!check(
            &swap("qop=auth", "qop=auth, algorithm=SHA-512-256"),
            "GET",
            MUFASA_MD5_HA1
        ));
        assert!(!check(&swap("Digest", "Basic"), "GET", MUFASA_MD5_HA1));
        // Same digits, other algorithm: the HA1 length no longer fits.
        assert!(!check(
            &swap("qop=auth", "qop=auth, algorithm=SHA-256"),
            "GET",
            MUFASA_MD5_HA1
        ));
    }

    #[test]
    fn hex_digest_is_redacted_in_debug() {
        let d = ha1(Algorithm::Md5, "a", "b", "c");
        assert_eq!(format!("{d:?}"), "HexDigest(32 hex digits, redacted)");
        assert_eq!(d.to_string().len(), 32);
        assert!(HexDigest::parse(&"A".repeat(64)).is_some_and(|x| x.as_str() == "a".repeat(64)));
        assert!(HexDigest::parse(&"a".repeat(33)).is_none());
    }
}
