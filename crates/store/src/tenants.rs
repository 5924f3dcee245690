//! Tenants: platform → reseller → customer.

use sqlx::{Any, Transaction};

use crate::error::map_constraint;
use crate::model::{self, Tenant, TenantKind};
use crate::sql::Sql;
use crate::store::{Audit, now_ms};
use crate::{Change, Ctx, Page, Scope, Store, StoreError, TenantId, TenantName};

pub(crate) const COLS: &str = "SELECT id, kind, parent_id, name, created_at FROM tenants WHERE ";

/// Filters for [`Store::list_tenants`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantFilter {
    /// Only children of this tenant.
    pub parent: Option<TenantId>,
    /// Only this kind.
    pub kind: Option<TenantKind>,
}

/// Fetches a tenant visible in `scope`, inside a transaction.
pub(crate) async fn visible(
    tx: &mut Transaction<'_, Any>,
    scope: Scope,
    id: TenantId,
) -> Result<Tenant, StoreError> {
    let mut q = Sql::new(COLS);
    q.push("id = ").bind(id.0).push(" AND ").scope("id", scope);
    let row = q.query().fetch_optional(&mut **tx).await?;
    row.as_ref()
        .map(model::tenant)
        .transpose()?
        .ok_or_else(|| StoreError::not_found("tenant", id))
}

/// Appends the predicate for tenants `scope` may rename or delete: never the platform, never
/// the caller's own tenant, never anything for a customer.
fn writable(q: &mut Sql, scope: Scope) -> Result<(), StoreError> {
    match scope {
        Scope::Platform => q.push("kind <> 'platform'"),
        Scope::Reseller(r) => q.push("parent_id = ").bind(r.0),
        Scope::Customer(_) => {
            return Err(StoreError::Forbidden {
                what: "customers cannot change tenants".to_owned(),
            });
        }
    };
    Ok(())
}

impl Store {
    /// Creates a reseller (platform scope, parent = platform) or a customer (parent = platform
    /// or a reseller; a reseller scope may create customers under itself only).
    pub async fn create_tenant(
        &self,
        ctx: &Ctx,
        kind: TenantKind,
        parent: TenantId,
        name: &TenantName,
    ) -> Result<Tenant, StoreError> {
        let mut tx = self.write_tx().await?;
        let parent_row = visible(&mut tx, ctx.scope, parent).await?;
        let allowed = match (kind, parent_row.kind, ctx.scope) {
            (TenantKind::Platform, _, _) => {
                return Err(StoreError::invalid(
                    "tenant.kind",
                    "there is exactly one platform tenant; it cannot be created",
                ));
            }
            (TenantKind::Reseller, TenantKind::Platform, Scope::Platform) => true,
            (TenantKind::Customer, TenantKind::Platform, Scope::Platform) => true,
            (TenantKind::Customer, TenantKind::Reseller, Scope::Platform) => true,
            (TenantKind::Customer, TenantKind::Reseller, Scope::Reseller(r)) => r == parent,
            (_, TenantKind::Customer, _) => {
                return Err(StoreError::invalid(
                    "tenant.parent_id",
                    format!("tenant {parent} is a customer and cannot have child tenants"),
                ));
            }
            _ => false,
        };
        if !allowed {
            return Err(StoreError::Forbidden {
                what: format!("creating a {} under tenant {parent}", kind.as_str()),
            });
        }
        let mut q = Sql::new("INSERT INTO tenants (kind, parent_id, name, created_at) VALUES (");
        q.bind(kind.as_str())
            .push(", ")
            .bind(parent.0)
            .push(", ")
            .bind(name.as_str())
            .push(", ")
            .bind(now_ms())
            .push(") RETURNING id, kind, parent_id, name, created_at");
        let row = q.query().fetch_one(&mut *tx).await.map_err(|e| {
            map_constraint(
                e,
                &format!("tenant {:?} already exists under {parent}", name.as_str()),
                &format!("tenant {parent} does not exist"),
            )
        })?;
        let tenant = model::tenant(&row)?;
        self.commit_audited(
            tx,
            Audit {
                tenant: tenant.id,
                actor: &ctx.actor,
                action: "create",
                entity: "tenant",
                entity_id: tenant.id.0,
                detail: format!(
                    "{} {:?} under {parent}",
                    kind.as_str(),
                    tenant.name.as_str()
                ),
            },
            Change::TenantUpserted(tenant.clone()),
        )
        .await?;
        Ok(tenant)
    }

    /// A tenant visible in `scope`.
    pub async fn get_tenant(&self, scope: Scope, id: TenantId) -> Result<Tenant, StoreError> {
        let mut q = Sql::new(COLS);
        q.push("id = ").bind(id.0).push(" AND ").scope("id", scope);
        let row = q.query().fetch_optional(&self.pool).await?;
        row.as_ref()
            .map(model::tenant)
            .transpose()?
            .ok_or_else(|| StoreError::not_found("tenant", id))
    }

    /// Tenants visible in `scope`, in id order.
    pub async fn list_tenants(
        &self,
        scope: Scope,
        filter: TenantFilter,
        page: Page,
    ) -> Result<Vec<Tenant>, StoreError> {
        let mut q = Sql::new(COLS);
        q.scope("id", scope);
        if let Some(p) = filter.parent {
            q.push(" AND parent_id = ").bind(p.0);
        }
        if let Some(k) = filter.kind {
            q.push(" AND kind = ").bind(k.as_str());
        }
        q.page("id", page)?;
        let rows = q.query().fetch_all(&self.pool).await?;
        rows.iter().map(model::tenant).collect()
    }

    /// Renames a tenant the scope may change.
    pub async fn rename_tenant(
        &self,
        ctx: &Ctx,
        id: TenantId,
        name: &TenantName,
    ) -> Result<Tenant, StoreError> {
        let mut tx = self.write_tx().await?;
        let mut q = Sql::new("UPDATE tenants SET name = ");
        q.bind(name.as_str())
            .push(" WHERE id = ")
            .bind(id.0)
            .push(" AND ");
        writable(&mut q, ctx.scope)?;
        q.push(" RETURNING id, kind, parent_id, name, created_at");
        let row = q
            .query()
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| {
                map_constraint(
                    e,
                    &format!("a sibling tenant is already named {:?}", name.as_str()),
                    "tenant reference",
                )
            })?
            .ok_or_else(|| StoreError::not_found("tenant", id))?;
        let tenant = model::tenant(&row)?;
        self.commit_audited(
            tx,
            Audit {
                tenant: id,
                actor: &ctx.actor,
                action: "update",
                entity: "tenant",
                entity_id: id.0,
                detail: format!("name {:?}", tenant.name),
            },
            Change::TenantUpserted(tenant.clone()),
        )
        .await?;
        Ok(tenant)
    }

    /// Deletes a tenant that owns nothing any more (no child tenants, domains, DIDs or keys).
    pub async fn delete_tenant(&self, ctx: &Ctx, id: TenantId) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let mut q = Sql::new("DELETE FROM tenants WHERE id = ");
        q.bind(id.0).push(" AND ");
        writable(&mut q, ctx.scope)?;
        q.push(" RETURNING id");
        q.query()
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| {
                map_constraint(
                    e,
                    "tenant",
                    &format!("tenant {id} still owns tenants, domains, DIDs or API keys"),
                )
            })?
            .ok_or_else(|| StoreError::not_found("tenant", id))?;
        self.commit_audited(
            tx,
            Audit {
                tenant: id,
                actor: &ctx.actor,
                action: "delete",
                entity: "tenant",
                entity_id: id.0,
                detail: String::new(),
            },
            Change::TenantDeleted(id),
        )
        .await?;
        Ok(())
    }
}
