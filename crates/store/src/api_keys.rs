//! API keys. The key is 32 random bytes shown once; the store keeps only its SHA-256.
//!
//! Why SHA-256 and not argon2: argon2 exists to make guessing *low-entropy* secrets (passwords)
//! expensive. A 256-bit random key cannot be guessed, so a slow hash buys nothing and would cost
//! tens of milliseconds of CPU on every API request; a plain SHA-256 also lets the key be found
//! by an indexed equality lookup instead of hashing against every stored key.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::error::map_constraint;
use crate::model::{self, ApiKey, Role};
use crate::sql::Sql;
use crate::store::{Audit, audit, now_ms};
use crate::{ApiKeyId, Change, Ctx, Page, Scope, Store, StoreError, TenantId};

const COLS: &str = "SELECT id, tenant_id, role, created_at, revoked FROM api_keys WHERE ";
const PREFIX: &str = "tlk_";

/// A plaintext API key, returned once by [`Store::create_api_key`]. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret(String);

impl ApiKeySecret {
    /// The key to hand to the client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret(redacted)")
    }
}

fn hash(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a valid key authenticates as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPrincipal {
    /// The key's row.
    pub key: ApiKey,
    /// The scope the key acts in, derived from its tenant's kind.
    pub scope: Scope,
}

impl Store {
    /// Creates a key for a tenant visible in the scope. The plaintext is returned only here.
    pub async fn create_api_key(
        &self,
        ctx: &Ctx,
        tenant_id: TenantId,
        role: Role,
    ) -> Result<(ApiKey, ApiKeySecret), StoreError> {
        let mut tx = self.pool.begin().await?;
        crate::tenants::visible(&mut tx, ctx.scope, tenant_id).await?;
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let secret = ApiKeySecret(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(raw)));
        let mut q = Sql::new(
            "INSERT INTO api_keys (tenant_id, role, key_hash, created_at, revoked) VALUES (",
        );
        q.bind(tenant_id.0)
            .push(", ")
            .bind(role.as_str())
            .push(", ")
            .bind(hash(secret.expose()))
            .push(", ")
            .bind(now_ms())
            .push(", ")
            .bind(false)
            .push(") RETURNING id, tenant_id, role, created_at, revoked");
        let row = q.query().fetch_one(&mut *tx).await.map_err(|e| {
            map_constraint(
                e,
                "API key hash collision",
                &format!("tenant {tenant_id} does not exist"),
            )
        })?;
        let key = model::api_key(&row)?;
        audit(
            &mut tx,
            Audit {
                tenant: tenant_id,
                actor: &ctx.actor,
                action: "create",
                entity: "api_key",
                entity_id: key.id.0,
                detail: format!("role {}", role.as_str()),
            },
        )
        .await?;
        tx.commit().await?;
        self.emit(Change::ApiKeyUpserted(key.clone()));
        Ok((key, secret))
    }

    /// An API key's metadata, if visible in `scope`.
    pub async fn get_api_key(&self, scope: Scope, id: ApiKeyId) -> Result<ApiKey, StoreError> {
        let mut q = Sql::new(COLS);
        q.push("id = ")
            .bind(id.0)
            .push(" AND ")
            .scope("tenant_id", scope);
        let row = q.query().fetch_optional(&self.pool).await?;
        row.as_ref()
            .map(model::api_key)
            .transpose()?
            .ok_or_else(|| StoreError::not_found("api_key", id))
    }

    /// API keys visible in `scope`, in id order.
    pub async fn list_api_keys(&self, scope: Scope, page: Page) -> Result<Vec<ApiKey>, StoreError> {
        let mut q = Sql::new(COLS);
        q.scope("tenant_id", scope);
        q.page("id", page)?;
        let rows = q.query().fetch_all(&self.pool).await?;
        rows.iter().map(model::api_key).collect()
    }

    /// Revokes a key visible in the scope; it never authenticates again.
    pub async fn revoke_api_key(&self, ctx: &Ctx, id: ApiKeyId) -> Result<ApiKey, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut q = Sql::new("UPDATE api_keys SET revoked = ");
        q.bind(true)
            .push(" WHERE id = ")
            .bind(id.0)
            .push(" AND ")
            .scope("tenant_id", ctx.scope)
            .push(" RETURNING id, tenant_id, role, created_at, revoked");
        let row = q
            .query()
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::not_found("api_key", id))?;
        let key = model::api_key(&row)?;
        audit(
            &mut tx,
            Audit {
                tenant: key.tenant_id,
                actor: &ctx.actor,
                action: "update",
                entity: "api_key",
                entity_id: id.0,
                detail: "revoked".to_owned(),
            },
        )
        .await?;
        tx.commit().await?;
        self.emit(Change::ApiKeyUpserted(key.clone()));
        Ok(key)
    }

    /// Looks up a presented key. `Ok(None)` for unknown, malformed or revoked keys.
    pub async fn authenticate_api_key(
        &self,
        presented: &str,
    ) -> Result<Option<ApiPrincipal>, StoreError> {
        if !presented.starts_with(PREFIX) || presented.len() > 100 {
            return Ok(None);
        }
        let mut q = Sql::new(
            "SELECT k.id, k.tenant_id, k.role, k.created_at, k.revoked, t.kind \
             FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.key_hash = ",
        );
        q.bind(hash(presented))
            .push(" AND k.revoked = ")
            .bind(false);
        let Some(row) = q.query().fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let key = model::api_key(&row)?;
        let kind: String = sqlx::Row::try_get(&row, "kind")?;
        let scope = match kind.as_str() {
            "platform" => Scope::Platform,
            "reseller" => Scope::Reseller(key.tenant_id),
            "customer" => Scope::Customer(key.tenant_id),
            other => return Err(StoreError::Corrupt(format!("tenants.kind {other:?}"))),
        };
        Ok(Some(ApiPrincipal { key, scope }))
    }
}
