//! SIP users: credentials stored only as digest HA1s (MD5 and SHA-256, RFC 7616 §3.4.2).

use sqlx::{Any, Transaction};
use trunkline_sip::digest::{Algorithm, ha1};

use crate::error::map_constraint;
use crate::model::{self, Ha1, User};
use crate::sql::Sql;
use crate::store::{Audit, audit, now_ms};
use crate::{
    CallerId, Change, Ctx, DomainId, Page, Password, Scope, Store, StoreError, UserId, Username,
};

pub(crate) const COLS: &str = "SELECT u.id, u.customer_id, u.domain_id, d.name AS domain, u.username, \
     u.ha1_md5, u.ha1_sha256, u.caller_id, u.max_calls, u.enabled, u.record_calls, u.created_at \
     FROM users u JOIN domains d ON d.id = u.domain_id WHERE ";

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Domain (realm) the user belongs to.
    pub domain_id: DomainId,
    /// SIP user part.
    pub username: Username,
    /// Turned into HA1s, then dropped.
    pub password: Password,
    /// Caller-ID.
    pub caller_id: Option<CallerId>,
    /// Concurrent call limit; `None` = unlimited.
    pub max_calls: Option<u32>,
    /// Whether the user may register and call.
    pub enabled: bool,
    /// Whether the user's relayed calls are recorded.
    pub record_calls: bool,
}

impl NewUser {
    /// An enabled user without caller-ID or call limit.
    pub fn new(domain_id: DomainId, username: Username, password: Password) -> Self {
        Self {
            domain_id,
            username,
            password,
            caller_id: None,
            max_calls: None,
            enabled: true,
            record_calls: false,
        }
    }
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    /// New password (HA1s are recomputed).
    pub password: Option<Password>,
    /// New caller-ID (`Some(None)` clears it).
    pub caller_id: Option<Option<CallerId>>,
    /// New call limit (`Some(None)` removes it).
    pub max_calls: Option<Option<u32>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// Record the user's calls or stop.
    pub record_calls: Option<bool>,
}

fn ha1s(username: &str, realm: &str, password: &Password) -> (Ha1, Ha1) {
    (
        Ha1(ha1(Algorithm::Md5, username, realm, password.expose()).to_string()),
        Ha1(ha1(Algorithm::Sha256, username, realm, password.expose()).to_string()),
    )
}

fn sep(changed: &[String]) -> &'static str {
    if changed.is_empty() { "" } else { ", " }
}

async fn visible(
    tx: &mut Transaction<'_, Any>,
    scope: Scope,
    id: UserId,
) -> Result<User, StoreError> {
    let mut q = Sql::new(COLS);
    q.push("u.id = ")
        .bind(id.0)
        .push(" AND ")
        .scope("u.customer_id", scope);
    let row = q.query().fetch_optional(&mut **tx).await?;
    row.as_ref()
        .map(model::user)
        .transpose()?
        .ok_or_else(|| StoreError::not_found("user", id))
}

impl Store {
    /// Creates a user in a domain visible in the scope.
    pub async fn create_user(&self, ctx: &Ctx, new: &NewUser) -> Result<User, StoreError> {
        let mut tx = self.write_tx().await?;
        let domain = crate::domains::visible(&mut tx, ctx.scope, new.domain_id).await?;
        let (md5, sha256) = ha1s(new.username.as_str(), &domain.name, &new.password);
        let mut q = Sql::new(
            "INSERT INTO users (customer_id, domain_id, username, ha1_md5, ha1_sha256, \
             caller_id, max_calls, enabled, record_calls, created_at) VALUES (",
        );
        q.bind(domain.customer_id.0)
            .push(", ")
            .bind(domain.id.0)
            .push(", ")
            .bind(new.username.as_str())
            .push(", ")
            .bind(md5.0)
            .push(", ")
            .bind(sha256.0)
            .push(", ")
            .bind(new.caller_id.as_ref().map(|c| c.as_str().to_owned()))
            .push(", ")
            .bind(new.max_calls.map(i64::from))
            .push(", ")
            .bind(new.enabled)
            .push(", ")
            .bind(new.record_calls)
            .push(", ")
            .bind(now_ms())
            .push(") RETURNING id");
        let row = q.query().fetch_one(&mut *tx).await.map_err(|e| {
            map_constraint(
                e,
                &format!(
                    "user {:?} already exists in {:?}",
                    new.username.as_str(),
                    domain.name
                ),
                &format!("domain {} does not exist", domain.id),
            )
        })?;
        let id = UserId(sqlx::Row::try_get(&row, "id")?);
        let user = visible(&mut tx, Scope::Platform, id).await?;
        self.commit_audited(
            tx,
            Audit {
                tenant: user.customer_id,
                actor: &ctx.actor,
                action: "create",
                entity: "user",
                entity_id: id.0,
                detail: format!("{:?}@{:?}", user.username, user.domain),
            },
            Change::UserUpserted(user.clone()),
        )
        .await?;
        Ok(user)
    }

    /// A user visible in `scope`.
    pub async fn get_user(&self, scope: Scope, id: UserId) -> Result<User, StoreError> {
        let mut tx = self.pool.begin().await?;
        let user = visible(&mut tx, scope, id).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Users visible in `scope`, optionally of one domain, in id order.
    pub async fn list_users(
        &self,
        scope: Scope,
        domain_id: Option<DomainId>,
        page: Page,
    ) -> Result<Vec<User>, StoreError> {
        let mut q = Sql::new(COLS);
        q.scope("u.customer_id", scope);
        if let Some(d) = domain_id {
            q.push(" AND u.domain_id = ").bind(d.0);
        }
        q.page("u.id", page)?;
        let rows = q.query().fetch_all(&self.pool).await?;
        rows.iter().map(model::user).collect()
    }

    /// Applies `update` to a user visible in the scope.
    pub async fn update_user(
        &self,
        ctx: &Ctx,
        id: UserId,
        update: &UserUpdate,
    ) -> Result<User, StoreError> {
        let mut tx = self.write_tx().await?;
        let old = visible(&mut tx, ctx.scope, id).await?;
        let mut q = Sql::new("UPDATE users SET ");
        let mut changed = Vec::new();
        if let Some(password) = &update.password {
            let (md5, sha256) = ha1s(&old.username, &old.domain, password);
            q.push(sep(&changed))
                .push("ha1_md5 = ")
                .bind(md5.0)
                .push(", ha1_sha256 = ")
                .bind(sha256.0);
            changed.push("password".to_owned());
        }
        if let Some(caller_id) = &update.caller_id {
            let v = caller_id.as_ref().map(|c| c.as_str().to_owned());
            q.push(sep(&changed)).push("caller_id = ").bind(v.clone());
            changed.push(format!("caller_id {v:?}"));
        }
        if let Some(max_calls) = update.max_calls {
            q.push(sep(&changed))
                .push("max_calls = ")
                .bind(max_calls.map(i64::from));
            changed.push(format!("max_calls {max_calls:?}"));
        }
        if let Some(enabled) = update.enabled {
            q.push(sep(&changed)).push("enabled = ").bind(enabled);
            changed.push(format!("enabled {enabled}"));
        }
        if let Some(record) = update.record_calls {
            q.push(sep(&changed)).push("record_calls = ").bind(record);
            changed.push(format!("record_calls {record}"));
        }
        if changed.is_empty() {
            return Ok(old);
        }
        q.push(" WHERE id = ")
            .bind(id.0)
            .push(" AND ")
            .scope("customer_id", ctx.scope);
        q.query().execute(&mut *tx).await?;
        let user = visible(&mut tx, ctx.scope, id).await?;
        self.commit_audited(
            tx,
            Audit {
                tenant: user.customer_id,
                actor: &ctx.actor,
                action: "update",
                entity: "user",
                entity_id: id.0,
                detail: changed.join(", "),
            },
            Change::UserUpserted(user.clone()),
        )
        .await?;
        Ok(user)
    }

    /// Deletes a user visible in the scope; DIDs routed to it and devices handed to it become
    /// unassigned.
    pub async fn delete_user(&self, ctx: &Ctx, id: UserId) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let user = visible(&mut tx, ctx.scope, id).await?;
        let mut q = Sql::new("UPDATE dids SET user_id = NULL WHERE user_id = ");
        q.bind(id.0)
            .push(" RETURNING id, customer_id, e164, user_id, created_at");
        let unassigned = q.query().fetch_all(&mut *tx).await?;
        let unassigned = unassigned
            .iter()
            .map(model::did)
            .collect::<Result<Vec<_>, _>>()?;
        let devices = crate::devices::unassign_user(&mut tx, id).await?;
        let mut q = Sql::new("DELETE FROM users WHERE id = ");
        q.bind(id.0);
        q.query().execute(&mut *tx).await?;
        audit(
            &mut tx,
            Audit {
                tenant: user.customer_id,
                actor: &ctx.actor,
                action: "delete",
                entity: "user",
                entity_id: id.0,
                detail: format!(
                    "{:?}@{:?}, {} DIDs and {} devices unassigned",
                    user.username,
                    user.domain,
                    unassigned.len(),
                    devices.len()
                ),
            },
        )
        .await?;
        tx.commit().await?;
        for did in unassigned {
            self.emit(Change::DidUpserted(did));
        }
        for device in devices {
            self.emit(Change::DeviceUpserted(device));
        }
        self.emit(Change::UserDeleted(id));
        Ok(())
    }
}
