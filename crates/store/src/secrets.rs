//! Secrets at rest: the carrier passwords we must be able to read back (to answer the carrier's
//! digest challenges) are sealed with ChaCha20-Poly1305 under a key that is not in the database,
//! so a copy of the database (a backup, a dump, a PostgreSQL replica, a stolen file) does not
//! give them away.
//!
//! A [`Keyring`] is one or more 256-bit keys, each with an id; the last is the current one and
//! seals every new value, the others still open values sealed before a rotation. Its text form,
//! kept in a 0600 key file or in `TRUNKLINE_SECRET_KEY`, is one key per line:
//! `k<id>:<32 bytes in unpadded base64url>`. A sealed value is
//! `tlenc1:k<id>:<base64url(nonce ‖ ciphertext ‖ tag)>`, so a value names the key that opens it
//! and keys can be rotated while old values are re-sealed.
//!
//! The AEAD is ring's (already in the build for TLS): ChaCha20-Poly1305 with a random 96-bit
//! nonce per value, which is safe for the few thousand values a platform seals under one key.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom as _, SystemRandom};

use crate::StoreError;

/// What every sealed value starts with (the format version).
const PREFIX: &str = "tlenc1:";
/// Bound into every tag, so a sealed value cannot be passed off as another kind of secret.
const AAD: &[u8] = b"trunkline secret v1";
/// Key length, bytes.
const KEY_LEN: usize = 32;

/// One key of a [`Keyring`].
struct Key {
    id: u32,
    bytes: [u8; KEY_LEN],
    aead: LessSafeKey,
}

impl Key {
    fn new(id: u32, bytes: [u8; KEY_LEN]) -> Result<Self, StoreError> {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, &bytes)
            .map_err(|_| StoreError::Secret("cannot use the key".to_owned()))?;
        Ok(Self {
            id,
            bytes,
            aead: LessSafeKey::new(unbound),
        })
    }

    fn random(id: u32) -> Result<Self, StoreError> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| StoreError::Secret("the system's random source failed".to_owned()))?;
        Self::new(id, bytes)
    }
}

/// The keys that seal and open secrets at rest. `Debug` shows the key ids only.
pub struct Keyring {
    /// Oldest first; the last one is current. Never empty.
    keys: Vec<Key>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<String> = self.keys.iter().map(|k| format!("k{}", k.id)).collect();
        write!(f, "Keyring({})", ids.join(", "))
    }
}

impl Keyring {
    /// A keyring with one fresh random key, `k1`.
    pub fn generate() -> Result<Self, StoreError> {
        Ok(Self {
            keys: vec![Key::random(1)?],
        })
    }

    /// Reads the text form (one `k<id>:<base64url>` per line; blank lines and `#` comments
    /// ignored). `source` names where the text came from, for errors; they never echo a key.
    pub fn parse(text: &str, source: &str) -> Result<Self, StoreError> {
        let mut keys: Vec<Key> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| StoreError::Secret(format!("{source}: line {}: {why}", n + 1));
            let (id, b64) = line
                .split_once(':')
                .ok_or_else(|| bad("expected k<id>:<key in base64url>"))?;
            let id: u32 = id
                .strip_prefix('k')
                .and_then(|d| d.parse().ok())
                .ok_or_else(|| bad("the key id must be k followed by a number"))?;
            let bytes: [u8; KEY_LEN] = URL_SAFE_NO_PAD
                .decode(b64)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| bad("the key must be 32 bytes in unpadded base64url"))?;
            if keys.iter().any(|k| k.id == id) {
                return Err(bad(&format!("key k{id} is listed twice")));
            }
            keys.push(Key::new(id, bytes)?);
        }
        if keys.is_empty() {
            return Err(StoreError::Secret(format!("{source}: holds no key")));
        }
        Ok(Self { keys })
    }

    /// The text form, for the key file (a secret: write it 0600).
    pub fn to_text(&self) -> String {
        self.keys
            .iter()
            .map(|k| format!("k{}:{}\n", k.id, URL_SAFE_NO_PAD.encode(k.bytes)))
            .collect()
    }

    /// The id of the key that seals new values, e.g. `k2`.
    pub fn current_id(&self) -> String {
        format!("k{}", self.current().id)
    }

    /// This keyring with a fresh random key added as the current one; the old keys still open
    /// what they sealed.
    pub fn rotated(&self) -> Result<Self, StoreError> {
        let next = self.keys.iter().map(|k| k.id).max().unwrap_or(0) + 1;
        let mut keys: Vec<Key> = (self.keys.iter())
            .map(|k| Key::new(k.id, k.bytes))
            .collect::<Result<_, _>>()?;
        keys.push(Key::random(next)?);
        Ok(Self { keys })
    }

    /// This keyring with only its current key (once nothing sealed under the others is left).
    pub fn current_only(&self) -> Result<Self, StoreError> {
        let k = self.current();
        Ok(Self {
            keys: vec![Key::new(k.id, k.bytes)?],
        })
    }

    fn current(&self) -> &Key {
        // `keys` is never empty: every constructor puts one in.
        &self.keys[self.keys.len() - 1]
    }

    /// Seals `plaintext` under the current key.
    pub(crate) fn seal(&self, plaintext: &str) -> Result<String, StoreError> {
        let key = self.current();
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| StoreError::Secret("the system's random source failed".to_owned()))?;
        let mut buf = plaintext.as_bytes().to_vec();
        key.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut buf,
            )
            .map_err(|_| StoreError::Secret("sealing failed".to_owned()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!(
            "{PREFIX}k{}:{}",
            key.id,
            URL_SAFE_NO_PAD.encode(out)
        ))
    }

    /// Opens a value of column `column` sealed by [`Keyring::seal`]. Errors name the column
    /// and the key id, never the value.
    pub(crate) fn open(&self, column: &str, stored: &str) -> Result<String, StoreError> {
        let bad = |why: String| StoreError::Secret(format!("{column}: {why}"));
        let rest = stored
            .strip_prefix(PREFIX)
            .ok_or_else(|| bad("is not sealed".to_owned()))?;
        let (id, b64) = rest
            .split_once(':')
            .ok_or_else(|| bad("has no key id".to_owned()))?;
        let key = (id.strip_prefix('k').and_then(|d| d.parse::<u32>().ok()))
            .and_then(|id| self.keys.iter().find(|k| k.id == id))
            .ok_or_else(|| {
                bad(format!(
                    "was sealed with key {id}, which is not in the keyring ({self:?}); \
                     start with the key file or TRUNKLINE_SECRET_KEY that holds it"
                ))
            })?;
        let mut buf = URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|_| bad("is not valid base64url".to_owned()))?;
        if buf.len() < NONCE_LEN {
            return Err(bad("is truncated".to_owned()));
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&buf[..NONCE_LEN]);
        let sealed = &mut buf[NONCE_LEN..];
        let plain = key
            .aead
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(AAD), sealed)
            .map_err(|_| {
                bad(format!(
                    "cannot be opened with key k{}: the key is wrong (not the one it was \
                     sealed with) or the value was altered",
                    key.id
                ))
            })?;
        String::from_utf8(plain.to_vec()).map_err(|_| bad("is not UTF-8".to_owned()))
    }

    /// Whether `stored` is sealed under the current key (nothing to re-seal).
    pub(crate) fn is_current(&self, stored: &str) -> bool {
        let id = format!("{PREFIX}k{}:", self.current().id);
        stored.starts_with(&id)
    }
}

/// Whether a stored value is sealed at all (values written before sealing existed are not).
pub(crate) fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_rotate() {
        let ring = Keyring::generate().unwrap();
        let sealed = ring.seal("hunter2hunter2").unwrap();
        assert!(sealed.starts_with("tlenc1:k1:"), "{sealed}");
        assert!(!sealed.contains("hunter2"));
        assert_ne!(ring.seal("hunter2hunter2").unwrap(), sealed, "fresh nonce");
        assert_eq!(ring.open("c", &sealed).unwrap(), "hunter2hunter2");

        let text = ring.to_text();
        let again = Keyring::parse(&text, "test").unwrap();
        assert_eq!(again.open("c", &sealed).unwrap(), "hunter2hunter2");

        let next = ring.rotated().unwrap();
        assert_eq!(next.current_id(), "k2");
        assert!(!next.is_current(&sealed));
        assert_eq!(next.open("c", &sealed).unwrap(), "hunter2hunter2");
        let resealed = next.seal("hunter2hunter2").unwrap();
        assert!(next.is_current(&resealed));
        let only = next.current_only().unwrap();
        assert_eq!(only.open("c", &resealed).unwrap(), "hunter2hunter2");
        let Err(StoreError::Secret(e)) = only.open("carriers.password", &sealed) else {
            panic!("an old value opened without its key");
        };
        assert!(e.contains("carriers.password") && e.contains("k1"), "{e}");
    }

    #[test]
    fn wrong_key_and_damage_are_clear_errors() {
        let a = Keyring::generate().unwrap();
        let b = Keyring::generate().unwrap();
        let sealed = a.seal("s3cret-pass").unwrap();
        let Err(StoreError::Secret(e)) = b.open("carriers.password", &sealed) else {
            panic!("opened with the wrong key");
        };
        assert!(e.contains("key is wrong"), "{e}");
        assert!(!e.contains("s3cret"));
        let mut altered = sealed.clone();
        altered.pop();
        altered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(a.open("c", &altered).is_err());
        assert!(a.open("c", "plain").is_err());
        assert!(a.open("c", "tlenc1:k1:").is_err());
    }

    #[test]
    fn key_text_errors_never_echo_keys() {
        for bad in [
            "",
            "# only a comment\n",
            "k1",
            "x1:AAAA",
            "k1:AAAA",
            "k1:!!!",
        ] {
            let Err(StoreError::Secret(e)) = Keyring::parse(bad, "secret.key") else {
                panic!("{bad:?} parsed");
            };
            assert!(e.starts_with("secret.key"), "{e}");
            assert!(!e.contains("AAAA"), "{e}");
        }
        let text = Keyring::generate().unwrap().to_text();
        let twice = format!("{text}{text}");
        assert!(Keyring::parse(&twice, "t").is_err());
        assert!(!format!("{:?}", Keyring::parse(&text, "t").unwrap()).contains(':'));
    }
}
