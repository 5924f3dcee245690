//! Rate tables: price lists of the platform or a reseller (their rates are in `rates.rs`), and
//! which table a customer is billed by.

use sqlx::{Any, Row, Transaction};

use crate::catalog_model::{self, RateTable};
use crate::error::map_constraint;
use crate::model::TenantKind;
use crate::sql::Sql;
use crate::store::{Audit, audit, now_ms};
use crate::update::Update;
use crate::{
    Change, Ctx, Currency, Page, RateTableId, RateTableName, Scope, Store, StoreError, TenantId,
};

const TABLE_COLS: &str = "SELECT id, tenant_id, name, currency, created_at FROM rate_tables WHERE ";
const TABLE_RETURNING: &str = " RETURNING id, tenant_id, name, currency, created_at";

/// Changes to a rate table; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct RateTableUpdate {
    /// New name.
    pub name: Option<RateTableName>,
    /// New currency (the prices are not converted).
    pub currency: Option<Currency>,
}

/// Filters for [`Store::list_rate_tables`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateTableFilter {
    /// Only tables of this owner.
    pub tenant_id: Option<TenantId>,
}

/// Fetches a rate table visible in `scope`, inside a transaction.
pub(crate) async fn visible_table(
    tx: &mut Transaction<'_, Any>,
    scope: Scope,
    id: RateTableId,
) -> Result<RateTable, StoreError> {
    let mut q = Sql::new(TABLE_COLS);
    q.push("id = ")
        .bind(id.0)
        .push(" AND ")
        .scope("tenant_id", scope);
    let row = q.query().fetch_optional(&mut **tx).await?;
    row.as_ref()
        .map(catalog_model::rate_table)
        .transpose()?
        .ok_or_else(|| StoreError::not_found("rate_table", id))
}

fn table_conflict(name: &str, tenant: TenantId) -> String {
    format!("rate table {name:?} already exists for tenant {tenant}")
}

impl Store {
    /// Creates a rate table for the platform or a reseller visible in the scope. Customer
    /// scopes get `Forbidden`.
    pub async fn create_rate_table(
        &self,
        ctx: &Ctx,
        tenant_id: TenantId,
        name: &RateTableName,
        currency: Currency,
    ) -> Result<RateTable, StoreError> {
        let mut tx = self.write_tx().await?;
        crate::carriers::provider(
            &mut tx,
            ctx.scope,
            tenant_id,
            "rate_table.tenant_id",
            "rate tables",
        )
        .await?;
        let mut q =
            Sql::new("INSERT INTO rate_tables (tenant_id, name, currency, created_at) VALUES (");
        q.bind(tenant_id.0)
            .push(", ")
            .bind(name.as_str())
            .push(", ")
            .bind(currency.as_str())
            .push(", ")
            .bind(now_ms())
            .push(")")
            .push(TABLE_RETURNING);
        let row = q.query().fetch_one(&mut *tx).await.map_err(|e| {
            map_constraint(
                e,
                &table_conflict(name.as_str(), tenant_id),
                &format!("tenant {tenant_id} does not exist"),
            )
        })?;
        let table = catalog_model::rate_table(&row)?;
        self.commit_audited(
            tx,
            Audit {
                tenant: tenant_id,
                actor: &ctx.actor,
                action: "create",
                entity: "rate_table",
                entity_id: table.id.0,
                detail: format!("{:?} in {}", table.name, table.currency),
            },
            Change::RateTableUpserted(table.clone()),
        )
        .await?;
        Ok(table)
    }

    /// A rate table visible in `scope` (customers see none).
    pub async fn get_rate_table(
        &self,
        scope: Scope,
        id: RateTableId,
    ) -> Result<RateTable, StoreError> {
        let mut tx = self.write_tx().await?;
        let table = visible_table(&mut tx, scope, id).await?;
        tx.commit().await?;
        Ok(table)
    }

    /// Rate tables visible in `scope` that pass `filter`, in id order.
    pub async fn list_rate_tables(
        &self,
        scope: Scope,
        filter: RateTableFilter,
        page: Page,
    ) -> Result<Vec<RateTable>, StoreError> {
        let mut q = Sql::new(TABLE_COLS);
        q.scope("tenant_id", scope);
        if let Some(t) = filter.tenant_id {
            q.push(" AND tenant_id = ").bind(t.0);
        }
        q.page("id", page)?;
        let rows = q.query().fetch_all(&self.pool).await?;
        rows.iter().map(catalog_model::rate_table).collect()
    }

    /// Applies `update` to a rate table visible in the scope.
    pub async fn update_rate_table(
        &self,
        ctx: &Ctx,
        id: RateTableId,
        update: &RateTableUpdate,
    ) -> Result<RateTable, StoreError> {
        let mut tx = self.write_tx().await?;
        let old = visible_table(&mut tx, ctx.scope, id).await?;
        let mut u = Update::new("rate_tables");
        if let Some(name) = &update.name {
            u.set("name", name.as_str(), format!("name {:?}", name.as_str()));
        }
        if let Some(c) = update.currency {
            u.set("currency", c.as_str(), format!("currency {c}"));
        }
        if u.is_empty() {
            return Ok(old);
        }
        let (mut q, detail) = u.finish();
        q.push(" WHERE id = ").bind(id.0).push(TABLE_RETURNING);
        let row = q.query().fetch_one(&mut *tx).await.map_err(|e| {
            map_constraint(
                e,
                &table_conflict(
                    update.name.as_ref().map_or(&old.name, |n| n.as_str()),
                    old.tenant_id,
                ),
                "rate table reference",
            )
        })?;
        let table = catalog_model::rate_table(&row)?;
        self.commit_audited(
            tx,
            Audit {
                tenant: table.tenant_id,
                actor: &ctx.actor,
                action: "update",
                entity: "rate_table",
                entity_id: id.0,
                detail,
            },
            Change::RateTableUpserted(table.clone()),
        )
        .await?;
        Ok(table)
    }

    /// Deletes a rate table visible in the scope, with its rates. Refused (`Conflict`) while
    /// customers are billed by it.
    pub async fn delete_rate_table(&self, ctx: &Ctx, id: RateTableId) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let table = visible_table(&mut tx, ctx.scope, id).await?;
        let mut q = Sql::new("DELETE FROM rates WHERE rate_table_id = ");
        q.bind(id.0);
        let rates = q.query().execute(&mut *tx).await?.rows_affected();
        let mut q = Sql::new("DELETE FROM rate_tables WHERE id = ");
        q.bind(id.0);
        q.query().execute(&mut *tx).await.map_err(|e| {
            map_constraint(
                e,
                "rate table",
                &format!("rate table {:?} is still assigned to customers", table.name),
            )
        })?;
        self.commit_audited(
            tx,
            Audit {
                tenant: table.tenant_id,
                actor: &ctx.actor,
                action: "delete",
                entity: "rate_table",
                entity_id: id.0,
                detail: format!("{:?} with {rates} rates", table.name),
            },
            Change::RateTableDeleted(id),
        )
        .await?;
        Ok(())
    }

    /// Bills a customer by `table` from now on, or by none (`None`). The table must belong to
    /// the customer's parent or to the platform; only the platform and the customer's reseller
    /// may do this.
    pub async fn set_tenant_rate_table(
        &self,
        ctx: &Ctx,
        tenant: TenantId,
        table: Option<RateTableId>,
    ) -> Result<(), StoreError> {
        if let Scope::Customer(_) = ctx.scope {
            return Err(StoreError::Forbidden {
                what: "customers cannot choose their rate table".to_owned(),
            });
        }
        let mut tx = self.write_tx().await?;
        let customer = crate::tenants::visible(&mut tx, ctx.scope, tenant).await?;
        if customer.kind != TenantKind::Customer {
            return Err(StoreError::invalid(
                "tenant.rate_table_id",
                format!(
                    "tenant {tenant} is a {}, not a customer",
                    customer.kind.as_str()
                ),
            ));
        }
        if let Some(t) = table {
            let mut q = Sql::new("SELECT id FROM rate_tables WHERE id = ");
            q.bind(t.0)
                .push(" AND tenant_id IN (")
                .bind(self.platform_id().0);
            if let Some(parent) = customer.parent_id {
                q.push(", ").bind(parent.0);
            }
            q.push(")");
            q.query()
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::not_found("rate_table", t))?;
        }
        let mut q = Sql::new("UPDATE tenants SET rate_table_id = ");
        q.bind(table.map(RateTableId::get))
            .push(" WHERE id = ")
            .bind(tenant.0);
        q.query()
            .execute(&mut *tx)
            .await
            .map_err(|e| map_constraint(e, "tenant", "rate table does not exist"))?;
        audit(
            &mut tx,
            Audit {
                tenant,
                actor: &ctx.actor,
                action: "update",
                entity: "tenant",
                entity_id: tenant.0,
                detail: format!("rate_table {:?}", table.map(RateTableId::get)),
            },
        )
        .await?;
        tx.commit().await?;
        self.emit(Change::TenantRateTableSet {
            tenant,
            rate_table: table,
        });
        Ok(())
    }

    /// The rate table a tenant visible in `scope` is billed by, if any.
    pub async fn tenant_rate_table(
        &self,
        scope: Scope,
        tenant: TenantId,
    ) -> Result<Option<RateTableId>, StoreError> {
        let mut q = Sql::new("SELECT rate_table_id FROM tenants WHERE id = ");
        q.bind(tenant.0).push(" AND ").scope("id", scope);
        let row = q
            .query()
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::not_found("tenant", tenant))?;
        Ok(row
            .try_get::<Option<i64>, _>("rate_table_id")?
            .map(RateTableId))
    }
}
