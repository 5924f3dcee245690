//! API keys. The key is 32 random bytes shown once; the store keeps only its SHA-256.
//!
//! Why SHA-256 and not argon2: argon2 exists to make guessing *low-entropy* secrets (passwords)
//! expensive. A 256-bit random key cannot be guessed, so a slow hash buys nothing and would cost
//! tens of milliseconds of CPU on every API request; a plain SHA-256 also lets the key be found
//! by an indexed equality lookup instead of hashing against every stored key.

use crate::auth::{Principal, Secret, new_secret, secret_hash};
use crate::error::map_constraint;
use crate::model::{self, ApiKey, Role};
use crate::sql::Sql;
use crate::store::{Audit, now_ms};
use crate::{ApiKeyId, Change, Ctx, Page, Scope, Store, StoreError, TenantId};

const COLS: &str = "SELECT id, tenant_id, role, created_at, revoked FROM api_keys WHERE ";
/// Prefix of API keys.
pub(crate) const KEY_PREFIX: &str = "tlk_";

impl Store {
    /// Creates a key for a tenant visible in the scope. The plaintext is returned only here.
    pub async fn create_api_key(
        &self,
        ctx: &Ctx,
        tenant_id: TenantId,
        role: Role,
    ) -> Result<(ApiKey, Secret), StoreError> {
        let mut tx = self.write_tx().await?;
        crate::tenants::visible(&mut tx, ctx.scope, tenant_id).await?;
        let (hash, secret) = new_secret(KEY_PREFIX);
        let mut q = Sql::new(
            "INSERT INTO api_keys (tenant_id, role, key_hash, created_at, revoked) VALUES (",
        );
        q.bind(tenant_id.0)
            .push(", ")
            .bind(role.as_str())
            .push(", ")
            .bind(hash)
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
        self.commit_audited(
            tx,
            Audit {
                tenant: tenant_id,
                actor: &ctx.actor,
                action: "create",
                entity: "api_key",
                entity_id: key.id.0,
                detail: format!("role {}", role.as_str()),
            },
            Change::ApiKeyUpserted(key.clone()),
        )
        .await?;
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
        let mut tx = self.write_tx().await?;
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
        self.commit_audited(
            tx,
            Audit {
                tenant: key.tenant_id,
                actor: &ctx.actor,
                action: "update",
                entity: "api_key",
                entity_id: id.0,
                detail: "revoked".to_owned(),
            },
            Change::ApiKeyUpserted(key.clone()),
        )
        .await?;
        Ok(key)
    }

    /// Looks up a presented key (see [`Store::authenticate`]). `Ok(None)` for unknown,
    /// malformed or revoked keys.
    pub(crate) async fn authenticate_api_key(
        &self,
        presented: &str,
    ) -> Result<Option<Principal>, StoreError> {
        let mut q = Sql::new(
            "SELECT k.id, k.tenant_id, k.role, k.created_at, k.revoked, t.kind \
             FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.key_hash = ",
        );
        q.bind(secret_hash(presented))
            .push(" AND k.revoked = ")
            .bind(false);
        let Some(row) = q.query().fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let key = model::api_key(&row)?;
        let kind: String = sqlx::Row::try_get(&row, "kind")?;
        Principal::new(key.tenant_id, &kind, key.role, format!("apikey:{}", key.id)).map(Some)
    }
}
