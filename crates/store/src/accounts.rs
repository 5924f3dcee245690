//! API login accounts: a login name and an argon2id password hash per person, acting with a
//! role inside one tenant's scope, and the opaque session tokens a successful login returns.
//!
//! Passwords are low-entropy, so they get a slow, salted hash (argon2id, RFC 9106 defaults of the
//! `argon2` crate) computed off the async workers. Session tokens are 256 random bits, so, like
//! API keys, only their SHA-256 is stored.

use std::sync::OnceLock;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sqlx::Row as _;

use crate::auth::{Principal, Secret, new_secret, secret_hash};
use crate::claims::Claim;
use crate::model::{self, Account, Role};
use crate::sql::Sql;
use crate::store::{Audit, now_ms};
use crate::{AccountId, Change, Ctx, Login, Page, Password, Scope, Store, StoreError, TenantId};

const COLS: &str = "SELECT id, tenant_id, login, role, enabled, created_at FROM accounts WHERE ";
/// Prefix of session tokens (API keys use `tlk_`).
pub(crate) const TOKEN_PREFIX: &str = "tlt_";

/// Changes to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountUpdate {
    /// New password (ends every session of the account).
    pub password: Option<Password>,
    /// New role.
    pub role: Option<Role>,
    /// Enable or disable (disabling ends every session).
    pub enabled: Option<bool>,
}

async fn hash_password(password: &Password) -> Result<String, StoreError> {
    let password = password.clone();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| StoreError::Corrupt(format!("argon2: {e}")))
    })
    .await
    .map_err(|e| StoreError::Corrupt(format!("argon2 task: {e}")))?
}

/// A hash of a random password that nobody knows, verified against when the login does not
/// exist so that unknown and known logins take the same time.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let (_, secret) = new_secret("");
        Argon2::default()
            .hash_password(secret.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

async fn verify_password(stored: Option<String>, presented: String) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| decoy_hash().to_owned());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        let ok = Argon2::default()
            .verify_password(presented.as_bytes(), &parsed)
            .is_ok();
        ok && known
    })
    .await
    .unwrap_or(false)
}

impl Store {
    /// Creates a login account in a tenant visible in the scope.
    pub async fn create_account(
        &self,
        ctx: &Ctx,
        tenant_id: TenantId,
        login: &Login,
        password: &Password,
        role: Role,
    ) -> Result<Account, StoreError> {
        let hash = hash_password(password).await?;
        let mut tx = self.write_tx().await?;
        crate::tenants::visible(&mut tx, ctx.scope, tenant_id).await?;
        let claim = Claim {
            table: "accounts",
            column: "login",
            owner: "tenant_id",
            field: "account.login",
            value: login.as_str(),
            except: None,
        };
        claim
            .check(&mut tx, ctx.scope, || {
                format!("login {:?} already exists", login.as_str())
            })
            .await?;
        let mut q = Sql::new(
            "INSERT INTO accounts (tenant_id, login, password_hash, role, enabled, created_at) \
             VALUES (",
        );
        q.bind(tenant_id.0)
            .push(", ")
            .bind(login.as_str())
            .push(", ")
            .bind(hash)
            .push(", ")
            .bind(role.as_str())
            .push(", ")
            .bind(true)
            .push(", ")
            .bind(now_ms())
            .push(") RETURNING id, tenant_id, login, role, enabled, created_at");
        let row = (q.query().fetch_one(&mut *tx).await)
            .map_err(|e| claim.map(e, &format!("tenant {tenant_id} does not exist")))?;
        let account = model::account(&row)?;
        self.commit_audited(
            tx,
            Audit {
                tenant: tenant_id,
                actor: &ctx.actor,
                action: "create",
                entity: "account",
                entity_id: account.id.0,
                detail: format!("{:?} role {}", account.login, role.as_str()),
            },
            Change::AccountUpserted(account.clone()),
        )
        .await?;
        Ok(account)
    }

    /// An account visible in `scope`.
    pub async fn get_account(&self, scope: Scope, id: AccountId) -> Result<Account, StoreError> {
        let mut q = Sql::new(COLS);
        q.push("id = ")
            .bind(id.0)
            .push(" AND ")
            .scope("tenant_id", scope);
        let row = q.query().fetch_optional(&self.pool).await?;
        row.as_ref()
            .map(model::account)
            .transpose()?
            .ok_or_else(|| StoreError::not_found("account", id))
    }

    /// Accounts visible in `scope`, optionally of one tenant, in id order.
    pub async fn list_accounts(
        &self,
        scope: Scope,
        tenant_id: Option<TenantId>,
        page: Page,
    ) -> Result<Vec<Account>, StoreError> {
        let mut q = Sql::new(COLS);
        q.scope("tenant_id", scope);
        if let Some(t) = tenant_id {
            q.push(" AND tenant_id = ").bind(t.0);
        }
        q.page("id", page)?;
        let rows = q.query().fetch_all(&self.pool).await?;
        rows.iter().map(model::account).collect()
    }

    /// Applies `update` to an account visible in the scope. A new password or disabling ends
    /// the account's sessions.
    pub async fn update_account(
        &self,
        ctx: &Ctx,
        id: AccountId,
        update: &AccountUpdate,
    ) -> Result<Account, StoreError> {
        let hash = match &update.password {
            Some(p) => Some(hash_password(p).await?),
            None => None,
        };
        let mut tx = self.write_tx().await?;
        let mut q = Sql::new("UPDATE accounts SET id = id");
        let mut changed = Vec::new();
        if let Some(hash) = hash {
            q.push(", password_hash = ").bind(hash);
            changed.push("password".to_owned());
        }
        if let Some(role) = update.role {
            q.push(", role = ").bind(role.as_str());
            changed.push(format!("role {}", role.as_str()));
        }
        if let Some(enabled) = update.enabled {
            q.push(", enabled = ").bind(enabled);
            changed.push(format!("enabled {enabled}"));
        }
        q.push(" WHERE id = ")
            .bind(id.0)
            .push(" AND ")
            .scope("tenant_id", ctx.scope)
            .push(" RETURNING id, tenant_id, login, role, enabled, created_at");
        let row = q
            .query()
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::not_found("account", id))?;
        let account = model::account(&row)?;
        if changed.is_empty() {
            return Ok(account);
        }
        if update.password.is_some() || update.enabled == Some(false) {
            let mut q = Sql::new("DELETE FROM login_tokens WHERE account_id = ");
            q.bind(id.0);
            q.query().execute(&mut *tx).await?;
        }
        self.commit_audited(
            tx,
            Audit {
                tenant: account.tenant_id,
                actor: &ctx.actor,
                action: "update",
                entity: "account",
                entity_id: id.0,
                detail: changed.join(", "),
            },
            Change::AccountUpserted(account.clone()),
        )
        .await?;
        Ok(account)
    }

    /// Deletes an account visible in the scope, with its sessions.
    pub async fn delete_account(&self, ctx: &Ctx, id: AccountId) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let mut q = Sql::new(
            "DELETE FROM login_tokens WHERE account_id IN (SELECT id FROM accounts WHERE id = ",
        );
        q.bind(id.0)
            .push(" AND ")
            .scope("tenant_id", ctx.scope)
            .push(")");
        q.query().execute(&mut *tx).await?;
        let mut q = Sql::new("DELETE FROM accounts WHERE id = ");
        q.bind(id.0)
            .push(" AND ")
            .scope("tenant_id", ctx.scope)
            .push(" RETURNING tenant_id, login");
        let row = q
            .query()
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::not_found("account", id))?;
        let tenant = TenantId(row.try_get("tenant_id")?);
        let login: String = row.try_get("login")?;
        self.commit_audited(
            tx,
            Audit {
                tenant,
                actor: &ctx.actor,
                action: "delete",
                entity: "account",
                entity_id: id.0,
                detail: format!("{login:?}"),
            },
            Change::AccountDeleted(id),
        )
        .await?;
        Ok(())
    }

    /// Checks a login and password and, if they match an enabled account, opens a session of
    /// `ttl`. Unknown login, wrong password and disabled account all give `Ok(None)` after the
    /// same amount of work, so the answer reveals nothing about which logins exist.
    pub async fn login(
        &self,
        login: &str,
        password: &str,
        ttl: Duration,
    ) -> Result<Option<(Principal, Secret)>, StoreError> {
        let row = match Login::parse(login) {
            Ok(login) => {
                let mut q = Sql::new(
                    "SELECT a.id, a.tenant_id, a.login, a.role, a.enabled, a.created_at, \
                     a.password_hash, t.kind FROM accounts a JOIN tenants t ON t.id = a.tenant_id \
                     WHERE a.login = ",
                );
                q.bind(login.as_str());
                q.query().fetch_optional(&self.pool).await?
            }
            Err(_) => None,
        };
        let stored = match &row {
            Some(r) => Some(r.try_get::<String, _>("password_hash")?),
            None => None,
        };
        let ok = verify_password(stored, password.chars().take(1024).collect()).await;
        let Some(row) = row.filter(|_| ok) else {
            return Ok(None);
        };
        let account = model::account(&row)?;
        if !account.enabled {
            return Ok(None);
        }
        let kind: String = row.try_get("kind")?;
        let (hash, secret) = new_secret(TOKEN_PREFIX);
        let now = now_ms();
        let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        let mut tx = self.write_tx().await?;
        let mut q = Sql::new("DELETE FROM login_tokens WHERE expires_at <= ");
        q.bind(now);
        q.query().execute(&mut *tx).await?;
        let mut q = Sql::new(
            "INSERT INTO login_tokens (account_id, token_hash, created_at, expires_at) VALUES (",
        );
        q.bind(account.id.0)
            .push(", ")
            .bind(hash)
            .push(", ")
            .bind(now)
            .push(", ")
            .bind(now.saturating_add(ttl_ms))
            .push(")");
        q.query().execute(&mut *tx).await?;
        tx.commit().await?;
        let principal = Principal::new(
            account.tenant_id,
            &kind,
            account.role,
            format!("account:{}", account.login),
        )?;
        Ok(Some((principal, secret)))
    }

    /// Ends the session of a presented token; unknown tokens are ignored.
    pub async fn logout(&self, presented: &str) -> Result<(), StoreError> {
        let mut q = Sql::new("DELETE FROM login_tokens WHERE token_hash = ");
        q.bind(secret_hash(presented));
        q.query().execute(&self.pool).await?;
        Ok(())
    }

    pub(crate) async fn authenticate_token(
        &self,
        presented: &str,
    ) -> Result<Option<Principal>, StoreError> {
        let mut q = Sql::new(
            "SELECT a.id, a.tenant_id, a.login, a.role, a.enabled, a.created_at, t.kind \
             FROM login_tokens s JOIN accounts a ON a.id = s.account_id \
             JOIN tenants t ON t.id = a.tenant_id WHERE s.token_hash = ",
        );
        q.bind(secret_hash(presented))
            .push(" AND s.expires_at > ")
            .bind(now_ms())
            .push(" AND a.enabled = ")
            .bind(true);
        let Some(row) = q.query().fetch_optional(&self.pool).await? else {
            return Ok(None);
        };
        let account = model::account(&row)?;
        let kind: String = row.try_get("kind")?;
        Principal::new(
            account.tenant_id,
            &kind,
            account.role,
            format!("account:{}", account.login),
        )
        .map(Some)
    }
}
