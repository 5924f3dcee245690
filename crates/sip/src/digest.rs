//! Digest access authentication for SIP: RFC 3261 §22 with RFC 2617, RFC 7616 and RFC 8760.
//!
//! The module has four parts, usable on their own:
//!
//! - parsing of `Authorization` / `Proxy-Authorization` ([`parse_credentials`]) and
//!   `WWW-Authenticate` / `Proxy-Authenticate` ([`parse_challenge`]) header values, zero-copy and
//!   without heap allocation;
//! - hashing: [`ha1`], [`response`] and the server-side check [`verify`];
//! - stateless nonces ([`NonceSecret`]): the nonce carries its issue time and a MAC, so any node
//!   holding the secret can check it without shared state;
//! - writing header values: [`ChallengeBuilder`] (server) and [`CredentialsBuilder`] (client).
//!
//! It does not track nonce counts (replay), match the `uri` parameter against the Request-URI or
//! look up users: those belong to the registrar and proxy.
//!
//! ```
//! use trunkline_sip::digest::{self, Algorithm, NonceSecret, NonceStatus};
//!
//! let secret = NonceSecret::new([7; 32]);
//! let nonce = secret.issue(1_700_000_000, 1, b"example.com");
//! let challenge = digest::ChallengeBuilder::new("example.com", &nonce)
//!     .algorithm(Algorithm::Sha256)
//!     .build()?;
//! assert!(challenge.starts_with("Digest realm=\"example.com\""));
//!
//! // What the store keeps instead of the password.
//! let ha1 = digest::ha1(Algorithm::Sha256, "alice", "example.com", "secret");
//! let password = digest::Secret::Password("secret");
//! let header = digest::CredentialsBuilder::new("alice", password, "example.com", &nonce)
//!     .request("REGISTER", "sip:example.com")
//!     .algorithm(Algorithm::Sha256)
//!     .qop(digest::Qop::Auth, 1, "0a4f113b")
//!     .build()?;
//!
//! let creds = digest::parse_credentials(header.as_bytes())?;
//! let nonce = creds.nonce().map(|n| n.unescape()).unwrap_or_default();
//! assert!(matches!(
//!     secret.check(&nonce, 1_700_000_010, 300, b"example.com"),
//!     NonceStatus::Valid { .. }
//! ));
//! assert!(digest::verify(&creds, "REGISTER", ha1.as_str(), b""));
//! # Ok::<(), digest::DigestError>(())
//! ```

mod challenge;
mod credentials;
mod hash;
mod lex;
mod nonce;
mod write;

use core::fmt;
use core::str::FromStr;

pub use challenge::{Challenge, parse_challenge};
pub use credentials::{Credentials, NonceCount, parse_credentials};
pub use hash::{HexDigest, ResponseInput, ha1, response, verify};
pub use lex::{Param, Params, Value, unescape};
pub use nonce::{NonceSecret, NonceStatus};
pub use write::{ChallengeBuilder, CredentialsBuilder, Secret};

/// The authentication scheme of a credentials or challenge value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme<'a> {
    /// `Digest`, matched case-insensitively.
    Digest,
    /// Any other scheme, as written. Its parameters are not validated: a proxy forwards them
    /// untouched and a registrar challenges with a scheme it knows (RFC 4475 §3.3.7).
    Other(&'a str),
}

/// A digest hash algorithm (RFC 7616 §3.3, RFC 8760 for SIP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5`, the default when the parameter is absent (RFC 2617 §3.2.1).
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256`.
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

impl Algorithm {
    /// The name as written in header values.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Whether HA1 is bound to the nonce and cnonce (RFC 7616 §3.4.2).
    pub fn is_session(self) -> bool {
        matches!(self, Self::Md5Sess | Self::Sha256Sess)
    }

    /// Length of this algorithm's hex digests: 32 for MD5, 64 for SHA-256.
    pub fn hex_len(self) -> usize {
        match self {
            Self::Md5 | Self::Md5Sess => 32,
            Self::Sha256 | Self::Sha256Sess => 64,
        }
    }
}

impl FromStr for Algorithm {
    type Err = DigestError;

    /// Case-insensitive; `SHA-512-256` and unknown names are [`DigestError::UnsupportedAlgorithm`].
    fn from_str(s: &str) -> Result<Self, DigestError> {
        [Self::Md5, Self::Md5Sess, Self::Sha256, Self::Sha256Sess]
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| DigestError::UnsupportedAlgorithm {
                name: excerpt(s.as_bytes()),
            })
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Quality of protection (RFC 7616 §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qop {
    /// `auth`: the response covers method and URI.
    Auth,
    /// `auth-int`: the response also covers the message body.
    AuthInt,
}

impl Qop {
    /// The token as written in header values.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::AuthInt => "auth-int",
        }
    }
}

impl FromStr for Qop {
    type Err = DigestError;

    /// Case-insensitive, as RFC 7616 §3.3 makes all digest tokens.
    fn from_str(s: &str) -> Result<Self, DigestError> {
        if s.eq_ignore_ascii_case("auth") {
            Ok(Self::Auth)
        } else if s.eq_ignore_ascii_case("auth-int") {
            Ok(Self::AuthInt)
        } else {
            Err(DigestError::UnsupportedQop {
                value: excerpt(s.as_bytes()),
            })
        }
    }
}

impl fmt::Display for Qop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong with a digest header value or computation. Byte offsets count from the start
/// of the header value given to the parser.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The value holds only whitespace.
    #[error("digest: header value is empty")]
    Empty,
    /// The syntax called for something else at this point.
    #[error("digest: expected {expected} at byte {at}")]
    Expected {
        /// What the grammar allows here.
        expected: &'static str,
        /// Byte offset in the value.
        at: usize,
    },
    /// A quoted string has no closing quote.
    #[error("digest: unterminated quoted string at byte {at}")]
    UnterminatedQuote {
        /// Offset of the opening quote.
        at: usize,
    },
    /// A control byte, a CR or LF that is not line folding, or a bad escape.
    #[error("digest: invalid byte 0x{byte:02x} at byte {at}")]
    InvalidByte {
        /// The offending byte.
        byte: u8,
        /// Its offset.
        at: usize,
    },
    /// A quoted string is not valid UTF-8 (RFC 3261 §25.1 allows only UTF8-NONASCII).
    #[error("digest: invalid UTF-8 at byte {at}")]
    InvalidUtf8 {
        /// Offset of the first invalid byte.
        at: usize,
    },
    /// A parameter appears twice (RFC 7235 §2.2: each name at most once).
    #[error("digest: duplicate parameter \"{name}\"")]
    DuplicateParam {
        /// The repeated name, as written the second time.
        name: String,
    },
    /// More parameters than any real client sends; refused to bound the work.
    #[error("digest: more than {max} parameters")]
    TooManyParams {
        /// The limit.
        max: usize,
    },
    /// A parameter's value does not have the required form.
    #[error("digest: parameter \"{name}\" {problem}: \"{value}\"")]
    InvalidParam {
        /// Parameter name.
        name: &'static str,
        /// What is wrong, e.g. "is not 8 hex digits".
        problem: &'static str,
        /// The value (shortened if long).
        value: String,
    },
    /// A parameter needed for the operation is absent.
    #[error("digest: missing parameter \"{name}\"")]
    MissingParam {
        /// Parameter name.
        name: &'static str,
    },
    /// An algorithm this module does not implement (e.g. `SHA-512-256`).
    #[error("digest: unsupported algorithm \"{name}\"")]
    UnsupportedAlgorithm {
        /// The name as received.
        name: String,
    },
    /// A qop value other than `auth` / `auth-int`, or a qop list with neither.
    #[error("digest: unsupported qop \"{value}\"")]
    UnsupportedQop {
        /// The value as received.
        value: String,
    },
    /// The scheme is not `Digest`.
    #[error("digest: scheme \"{scheme}\" is not Digest")]
    NotDigest {
        /// The scheme as received.
        scheme: String,
    },
    /// A stored HA1 does not fit the algorithm.
    #[error("digest: HA1 for {algorithm} must be {len} hex digits")]
    BadHa1 {
        /// The algorithm asked for.
        algorithm: Algorithm,
        /// Hex digits that algorithm needs.
        len: usize,
    },
}

/// Shortens a peer-supplied value for an error message, so a huge header cannot make a huge error.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    const MAX: usize = 64;
    let cut = bytes.get(..MAX).unwrap_or(bytes);
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if cut.len() < bytes.len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_names_round_trip_case_insensitively() {
        for alg in [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ] {
            assert_eq!(alg.as_str().parse::<Algorithm>(), Ok(alg));
            assert_eq!(alg.as_str().to_lowercase().parse::<Algorithm>(), Ok(alg));
        }
        assert_eq!(
            "SHA-512-256"
                .parse::<Algorithm>()
                .map_err(|e| e.to_string()),
            Err("digest: unsupported algorithm \"SHA-512-256\"".to_owned())
        );
        assert!("".parse::<Algorithm>().is_err());
    }

    #[test]
    fn qop_parses_case_insensitively() {
        assert_eq!("AUTH".parse::<Qop>(), Ok(Qop::Auth));
        assert_eq!("auth-int".parse::<Qop>(), Ok(Qop::AuthInt));
        assert!("auth-conf".parse::<Qop>().is_err());
    }

    #[test]
    fn excerpt_truncates_long_values() {
        let long = vec![b'a'; 1000];
        assert_eq!(excerpt(&long).chars().count(), 65);
        assert_eq!(excerpt(b"12x"), "12x");
    }
}
