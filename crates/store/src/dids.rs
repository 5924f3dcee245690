//! DIDs: E.164 numbers owned by a customer, optionally routed to one of its users.

use sqlx::{Any, Transaction};

use crate::claims::Claim;
use crate::error::map_constraint;
use crate::model::{self, Did};
use crate::sql::Sql;
use crate::store::{Audit, now_ms};
use crate::{Change, Ctx, DidId, E164, Page, Scope, Store, StoreError, TenantId, UserId};

pub(crate) const COLS: &str = "SELECT id, customer_id, e164, user_id, created_at FROM dids WHERE ";
const RETURNING: &str = " RETURNING id, customer_id, e164, user_id, created_at";

async fn visible(
    tx: &mut Transaction<'_, Any>,
    scope: Scope,
    id: DidId,
) -> Result<Did, StoreError> {
    let mut q = Sql::new(COLS);
    q.push("id = ")
        .bind(id.0)
        .push(" AND ")
        .scope("customer_id", scope);
    let row = q.query().fetch_optional(&mut **tx).await?;
    row.as_ref()
        .map(model::did)
        .transpose()?
        .ok_or_else(|| StoreError::not_found("did", id))
}

/// Checks that `user` is visible in `scope` and belongs to `customer`; a user of another
/// customer is reported as not found, like any row outside the scope.
pub(crate) async fn user_of(
    tx: &mut Transaction<'_, Any>,
    scope: Scope,
    customer: TenantId,
    user: UserId,
) -> Result<(), StoreError> {
    let mut q = Sql::new("SELECT id FROM users WHERE id = ");
    q.bind(user.0)
        .push(" AND customer_id = ")
        .bind(customer.0)
        .push(" AND ")
        .scope("customer_id", scope);
    q.query()
        .fetch_optional(&mut **tx)
        .await?
        .map(|_| ())
        .ok_or_else(|| StoreError::not_found("user", user))
}

impl Store {
    /// Creates a DID for a customer visible in the scope, optionally routed to one of its users.
    pub async fn create_did(
        &self,
        ctx: &Ctx,
        customer_id: TenantId,
        e164: &E164,
        user_id: Option<UserId>,
    ) -> Result<Did, StoreError> {
        let mut tx = self.write_tx().await?;
        crate::domains::customer(&mut tx, ctx.scope, customer_id).await?;
        if let Some(u) = user_id {
            user_of(&mut tx, ctx.scope, customer_id, u).await?;
        }
        let claim = Claim {
            table: "dids",
            column: "e164",
            owner: "customer_id",
            field: "did.e164",
            value: e164.as_str(),
            except: None,
        };
        claim
            .check(&mut tx, ctx.scope, || {
                format!("DID {} already exists", e164.as_str())
            })
            .await?;
        let mut q = Sql::new("INSERT INTO dids (customer_id, e164, user_id, created_at) VALUES (");
        q.bind(customer_id.0)
            .push(", ")
            .bind(e164.as_str())
            .push(", ")
            .bind(user_id.map(UserId::get))
            .push(", ")
            .bind(now_ms())
            .push(")")
            .push(RETURNING);
        let row = (q.query().fetch_one(&mut *tx).await)
            .map_err(|e| claim.map(e, "DID owner or user does not exist"))?;
        let did = model::did(&row)?;
        self.commit_audited(
            tx,
            Audit {
                tenant: customer_id,
                actor: &ctx.actor,
                action: "create",
                entity: "did",
                entity_id: did.id.0,
                detail: format!("{} → user {:?}", did.e164, did.user_id.map(UserId::get)),
            },
            Change::DidUpserted(did.clone()),
        )
        .await?;
        Ok(did)
    }

    /// A DID visible in `scope`.
    pub async fn get_did(&self, scope: Scope, id: DidId) -> Result<Did, StoreError> {
        let mut tx = self.pool.begin().await?;
        let did = visible(&mut tx, scope, id).await?;
        tx.commit().await?;
        Ok(did)
    }

    /// DIDs visible in `scope`, optionally of one customer, in id order.
    pub async fn list_dids(
        &self,
        scope: Scope,
        customer_id: Option<TenantId>,
        page: Page,
    ) -> Result<Vec<Did>, StoreError> {
        let mut q = Sql::new(COLS);
        q.scope("customer_id", scope);
        if let Some(c) = customer_id {
            q.push(" AND customer_id = ").bind(c.0);
        }
        q.page("id", page)?;
        let rows = q.query().fetch_all(&self.pool).await?;
        rows.iter().map(model::did).collect()
    }

    /// Routes a DID to a user of the same customer, or unassigns it (`None`).
    pub async fn route_did(
        &self,
        ctx: &Ctx,
        id: DidId,
        user_id: Option<UserId>,
    ) -> Result<Did, StoreError> {
        let mut tx = self.write_tx().await?;
        let old = visible(&mut tx, ctx.scope, id).await?;
        if let Some(u) = user_id {
            user_of(&mut tx, ctx.scope, old.customer_id, u).await?;
        }
        let mut q = Sql::new("UPDATE dids SET user_id = ");
        q.bind(user_id.map(UserId::get))
            .push(" WHERE id = ")
            .bind(id.0)
            .push(RETURNING);
        let row = q
            .query()
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| map_constraint(e, "did", "user does not exist"))?;
        let did = model::did(&row)?;
        self.commit_audited(
            tx,
            Audit {
                tenant: did.customer_id,
                actor: &ctx.actor,
                action: "update",
                entity: "did",
                entity_id: id.0,
                detail: format!("{} → user {:?}", did.e164, did.user_id.map(UserId::get)),
            },
            Change::DidUpserted(did.clone()),
        )
        .await?;
        Ok(did)
    }

    /// Deletes a DID visible in the scope.
    pub async fn delete_did(&self, ctx: &Ctx, id: DidId) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let did = visible(&mut tx, ctx.scope, id).await?;
        let mut q = Sql::new("DELETE FROM dids WHERE id = ");
        q.bind(id.0);
        q.query().execute(&mut *tx).await?;
        self.commit_audited(
            tx,
            Audit {
                tenant: did.customer_id,
                actor: &ctx.actor,
                action: "delete",
                entity: "did",
                entity_id: id.0,
                detail: did.e164.clone(),
            },
            Change::DidDeleted(id),
        )
        .await?;
        Ok(())
    }
}
