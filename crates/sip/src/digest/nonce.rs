//! Stateless server nonces: issue time, salt and a MAC, so every node sharing the secret can check
//! a nonce without a shared table (the approach RFC 7616 §5.5 suggests).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Decoded layout: issue time (8 bytes, big-endian), salt (8), truncated HMAC-SHA256 (16).
const RAW_LEN: usize = 32;
/// base64url without padding of [`RAW_LEN`] bytes.
const ENCODED_LEN: usize = 43;
/// Nodes of a cluster share the secret but not a clock; a nonce this far in the future is
/// still accepted.
const MAX_FUTURE_SKEW_SECS: u64 = 10;
/// Keeps these MACs apart from any other use of the same secret.
const LABEL: &[u8] = b"trunkline digest nonce v1\0";

/// The key nonces are authenticated with. `Debug` does not show it.
#[derive(Clone)]
pub struct NonceSecret {
    mac: Hmac<Sha256>,
}

/// What [`NonceSecret::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceStatus {
    /// Ours, untampered and fresh. The nonce text is canonical (one encoding per nonce), so it
    /// can key nonce-count tracking.
    Valid {
        /// When it was issued (Unix seconds).
        issued_at: u64,
        /// The salt it was issued with: unique per issuer when the issuer counts it up, so it
        /// can index nonce-count tracking.
        salt: u64,
    },
    /// Ours but expired, or from too far in the future: challenge again with `stale=true`.
    Stale,
    /// Not a nonce we issued for this context.
    Invalid,
}

impl NonceSecret {
    /// Creates the secret from 32 bytes the caller got from a CSPRNG or from configuration.
    pub fn new(key: [u8; 32]) -> Self {
        // HMAC zero-pads keys to the block size (RFC 2104 §2), so padding a 32-byte key to 64
        // changes nothing and lets us use the infallible fixed-size constructor.
        let mut block = [0u8; 64];
        block[..32].copy_from_slice(&key);
        Self {
            mac: <Hmac<Sha256> as KeyInit>::new(&block.into()),
        }
    }

    /// Issues a nonce for `context` (typically the realm, perhaps with the client address).
    /// `salt` must differ between nonces issued in the same second, e.g. a counter.
    pub fn issue(&self, now_unix_secs: u64, salt: u64, context: &[u8]) -> String {
        let mut raw = [0u8; RAW_LEN];
        raw[..8].copy_from_slice(&now_unix_secs.to_be_bytes());
        raw[8..16].copy_from_slice(&salt.to_be_bytes());
        raw[16..].copy_from_slice(&self.tag(now_unix_secs, salt, context));
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Checks a nonce received back from a client against `context` and a lifetime of `ttl_secs`.
    pub fn check(
        &self,
        nonce: &str,
        now_unix_secs: u64,
        ttl_secs: u64,
        context: &[u8],
    ) -> NonceStatus {
        // The length check keeps arbitrary peer input away from the decoder. The engine rejects
        // non-zero trailing bits, so no second spelling of a valid nonce decodes.
        if nonce.len() != ENCODED_LEN {
            return NonceStatus::Invalid;
        }
        let mut buf = [0u8; 48];
        if URL_SAFE_NO_PAD.decode_slice(nonce, &mut buf) != Ok(RAW_LEN) {
            return NonceStatus::Invalid;
        }
        let (Some(issued), Some(salt), Some(tag)) = (
            buf.first_chunk::<8>(),
            buf.get(8..16).and_then(|s| s.first_chunk::<8>()),
            buf.get(16..RAW_LEN),
        ) else {
            return NonceStatus::Invalid;
        };
        let issued_at = u64::from_be_bytes(*issued);
        let salt = u64::from_be_bytes(*salt);
        let expected = self.tag(issued_at, salt, context);
        if !bool::from(expected.ct_eq(tag)) {
            return NonceStatus::Invalid;
        }
        let too_new = issued_at > now_unix_secs.saturating_add(MAX_FUTURE_SKEW_SECS);
        let too_old = now_unix_secs.saturating_sub(issued_at) > ttl_secs;
        if too_new || too_old {
            NonceStatus::Stale
        } else {
            NonceStatus::Valid { issued_at, salt }
        }
    }

    fn tag(&self, issued_at: u64, salt: u64, context: &[u8]) -> [u8; 16] {
        let mut mac = self.mac.clone();
        mac.update(LABEL);
        mac.update(&issued_at.to_be_bytes());
        mac.update(&salt.to_be_bytes());
        // Last and unframed: the fields before it have fixed lengths.
        mac.update(context);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; 16];
        if let Some(head) = full.first_chunk::<16>() {
            out = *head;
        }
        out
    }
}

impl fmt::Debug for NonceSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NonceSecret(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn secret() -> NonceSecret {
        NonceSecret::new(*b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn issued_nonces_check_valid() {
        let s = secret();
        let n = s.issue(NOW, 1, b"example.com");
        assert_eq!(n.len(), ENCODED_LEN);
        assert!(
            n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(
            s.check(&n, NOW, 300, b"example.com"),
            NonceStatus::Valid {
                issued_at: NOW,
                salt: 1
            }
        );
        assert_eq!(
            s.check(&n, NOW + 300, 300, b"example.com"),
            NonceStatus::Valid {
                issued_at: NOW,
                salt: 1
            }
        );
        // Same second, different salt: different nonces, both valid.
        let m = s.issue(NOW, 2, b"example.com");
        assert_ne!(n, m);
        assert!(matches!(
            s.check(&m, NOW, 300, b"example.com"),
            NonceStatus::Valid { .. }
        ));
    }

    #[test]
    fn old_or_future_nonces_are_stale() {
        let s = secret();
        let n = s.issue(NOW, 1, b"r");
        assert_eq!(s.check(&n, NOW + 301, 300, b"r"), NonceStatus::Stale);
        assert_eq!(s.check(&n, u64::MAX, 300, b"r"), NonceStatus::Stale);
        assert_eq!(
            s.check(&n, NOW - MAX_FUTURE_SKEW_SECS, 300, b"r"),
            NonceStatus::Valid {
                issued_at: NOW,
                salt: 1
            }
        );
        assert_eq!(
            s.check(&n, NOW - MAX_FUTURE_SKEW_SECS - 1, 300, b"r"),
            NonceStatus::Stale
        );
        let edge = s.issue(u64::MAX, 0, b"r");
        assert_eq!(s.check(&edge, 0, u64::MAX, b"r"), NonceStatus::Stale);
        assert_eq!(
            s.check(&edge, u64::MAX, 0, b"r"),
            NonceStatus::Valid {
                issued_at: u64::MAX,
                salt: 0
            }
        );
    }

    #[test]
    fn tampered_or_foreign_nonces_are_invalid() {
        let s = secret();
        let n = s.issue(NOW, 1, b"example.com");
        assert_eq!(
            s.check(&n, NOW, 300, b"other.example"),
            NonceStatus::Invalid
        );
        assert_eq!(
            NonceSecret::new([1; 32]).check(&n, NOW, 300, b"example.com"),
            NonceStatus::Invalid
        );
        for i in 0..n.len() {
            let mut bytes = n.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let t = String::from_utf8(bytes).unwrap();
            assert_eq!(
                s.check(&t, NOW, 300, b"example.com"),
                NonceStatus::Invalid,
                "{t}"
            );
        }
    }

    #[test]
    fn garbage_is_invalid() {
        let s = secret();
        let n = s.issue(NOW, 1, b"r");
        for bad in [
            "",
            "x",
            &n[..42],
            &format!("{n}A"),
            &format!("{n}="),
            &"=".repeat(43),
            &"é".repeat(20),
            &"A".repeat(100_000),
        ] {
            assert_eq!(
                s.check(bad, NOW, 300, b"r"),
                NonceStatus::Invalid,
                "{bad:.50}"
            );
        }
        // The same 32 bytes spelled with non-zero trailing bits must not pass as a second nonce.
        let last = n.as_bytes()[42];
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let idx = alphabet.iter().position(|&c| c == last).unwrap();
        let mut alias = n.clone().into_bytes();
        alias[42] = alphabet[idx ^ 1];
        let alias = String::from_utf8(alias).unwrap();
        assert_eq!(s.check(&alias, NOW, 300, b"r"), NonceStatus::Invalid);
    }

    #[test]
    fn debug_hides_the_key() {
        assert_eq!(format!("{:?}", secret()), "NonceSecret(redacted)");
    }
}
