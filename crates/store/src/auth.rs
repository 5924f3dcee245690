//! Who is calling: bearer secrets (API keys `tlk_…`, session tokens `tlt_…`), how they are
//! minted and hashed, and the [`Principal`] a valid one authenticates as.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::accounts::TOKEN_PREFIX;
use crate::api_keys::KEY_PREFIX;
use crate::model::Role;
use crate::{Scope, Store, StoreError, TenantId};

/// Longest bearer secret worth looking up; anything longer is refused without hashing.
const MAX_SECRET: usize = 100;

/// A plaintext bearer secret (API key or session token), handed to the client once. `Debug`
/// never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret to hand to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// 256 random bits with a `prefix`, and the SHA-256 hex that is stored instead.
pub(crate) fn new_secret(prefix: &str) -> (String, Secret) {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let secret = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(raw));
    (secret_hash(&secret), Secret(secret))
}

/// The stored form of a secret: lower-case hex SHA-256.
pub(crate) fn secret_hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An authenticated caller: the tenant it acts for, what it may see and do, and the name the
/// audit log records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The tenant the credential belongs to.
    pub tenant_id: TenantId,
    /// What it may see: derived from the tenant's level.
    pub scope: Scope,
    /// Read-write or read-only within the scope.
    pub role: Role,
    /// `apikey:12`, `account:alice@example.test`, … for the audit log.
    pub actor: String,
}

impl Principal {
    /// A principal of `tenant_id`, whose stored kind is `kind`.
    pub(crate) fn new(
        tenant_id: TenantId,
        kind: &str,
        role: Role,
        actor: String,
    ) -> Result<Self, StoreError> {
        let scope = match kind {
            "platform" => Scope::Platform,
            "reseller" => Scope::Reseller(tenant_id),
            "customer" => Scope::Customer(tenant_id),
            other => return Err(StoreError::Corrupt(format!("tenants.kind {other:?}"))),
        };
        Ok(Self {
            tenant_id,
            scope,
            role,
            actor,
        })
    }

    /// Whether the principal may change data (not only read it).
    pub fn can_write(&self) -> bool {
        self.role == Role::Admin
    }
}

impl Store {
    /// Authenticates a bearer secret: an API key or a live session token of an enabled
    /// account. `Ok(None)` for anything unknown, revoked, expired or malformed.
    pub async fn authenticate(&self, presented: &str) -> Result<Option<Principal>, StoreError> {
        if presented.len() > MAX_SECRET {
            return Ok(None);
        }
        if presented.starts_with(KEY_PREFIX) {
            self.authenticate_api_key(presented).await
        } else if presented.starts_with(TOKEN_PREFIX) {
            self.authenticate_token(presented).await
        } else {
            Ok(None)
        }
    }
}
