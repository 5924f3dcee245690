//! SIP domains, each owned by one customer.

use sqlx::{Any, Transaction};

use crate::claims::Claim;
use crate::error::map_constraint;
use crate::model::{self, Domain, TenantKind};
use crate::sql::Sql;
use crate::store::{Audit, now_ms};
use crate::{Change, Ctx, DomainId, DomainName, Page, Scope, Store, StoreError, TenantId};

const COLS: &str = "SELECT id, customer_id, name, created_at FROM domains WHERE ";

/// Checks that `id` is a customer visible in `scope`.
pub(crate) async fn customer(
    tx: &mut Transaction<'_, Any>,
    scope: Scope,
    id: TenantId,
) -> Result<(), StoreError> {
    let t = crate::tenants::visible(tx, scope, id).await?;
    if t.kind != TenantKind::Customer {
        return Err(StoreError::invalid(
            "customer_id",
            format!("tenant {id} is a {}, not a customer", t.kind.as_str()),
        ));
    }
    Ok(())
}

/// Fetches a domain visible in `scope`, inside a transaction.
pub(crate) async fn visible(
    tx: &mut Transaction<'_, Any>,
    scope: Scope,
    id: DomainId,
) -> Result<Domain, StoreError> {
    let mut q = Sql::new(COLS);
    q.push("id = ")
        .bind(id.0)
        .push(" AND ")
        .scope("customer_id", scope);
    let row = q.query().fetch_optional(&mut **tx).await?;
    row.as_ref()
        .map(model::domain)
        .transpose()?
        .ok_or_else(|| StoreError::not_found("domain", id))
}

impl Store {
    /// Creates a domain for a customer visible in the scope. Names are unique platform-wide; a
    /// name another tenant holds, or one of this server's own names
    /// ([`crate::ConnectOptions::reserved_domains`]), is `Invalid` ("not available").
    pub async fn create_domain(
        &self,
        ctx: &Ctx,
        customer_id: TenantId,
        name: &DomainName,
    ) -> Result<Domain, StoreError> {
        if self.is_reserved_domain(name.as_str()) {
            return Err(StoreError::invalid(
                "domain.name",
                format!(
                    "{:?} is not available: it is a name of this server",
                    name.as_str()
                ),
            ));
        }
        let mut tx = self.write_tx().await?;
        customer(&mut tx, ctx.scope, customer_id).await?;
        let claim = Claim {
            table: "domains",
            column: "name",
            owner: "customer_id",
            field: "domain.name",
            value: name.as_str(),
            except: None,
        };
        claim
            .check(&mut tx, ctx.scope, || {
                format!("domain {:?} already exists", name.as_str())
            })
            .await?;
        let mut q = Sql::new("INSERT INTO domains (customer_id, name, created_at) VALUES (");
        q.bind(customer_id.0)
            .push(", ")
            .bind(name.as_str())
            .push(", ")
            .bind(now_ms())
            .push(") RETURNING id, customer_id, name, created_at");
        let row = (q.query().fetch_one(&mut *tx).await)
            .map_err(|e| claim.map(e, &format!("tenant {customer_id} does not exist")))?;
        let domain = model::domain(&row)?;
        self.commit_audited(
            tx,
            Audit {
                tenant: customer_id,
                actor: &ctx.actor,
                action: "create",
                entity: "domain",
                entity_id: domain.id.0,
                detail: format!("{:?}", domain.name),
            },
            Change::DomainUpserted(domain.clone()),
        )
        .await?;
        Ok(domain)
    }

    /// A domain visible in `scope`.
    pub async fn get_domain(&self, scope: Scope, id: DomainId) -> Result<Domain, StoreError> {
        let mut q = Sql::new(COLS);
        q.push("id = ")
            .bind(id.0)
            .push(" AND ")
            .scope("customer_id", scope);
        let row = q.query().fetch_optional(&self.pool).await?;
        row.as_ref()
            .map(model::domain)
            .transpose()?
            .ok_or_else(|| StoreError::not_found("domain", id))
    }

    /// A domain by name, if visible in `scope`.
    pub async fn domain_by_name(
        &self,
        scope: Scope,
        name: &DomainName,
    ) -> Result<Domain, StoreError> {
        let mut q = Sql::new(COLS);
        q.push("name = ")
            .bind(name.as_str())
            .push(" AND ")
            .scope("customer_id", scope);
        let row = q.query().fetch_optional(&self.pool).await?;
        row.as_ref()
            .map(model::domain)
            .transpose()?
            .ok_or_else(|| StoreError::not_found("domain", name.as_str()))
    }

    /// Domains visible in `scope`, optionally of one customer, in id order.
    pub async fn list_domains(
        &self,
        scope: Scope,
        customer_id: Option<TenantId>,
        page: Page,
    ) -> Result<Vec<Domain>, StoreError> {
        let mut q = Sql::new(COLS);
        q.scope("customer_id", scope);
        if let Some(c) = customer_id {
            q.push(" AND customer_id = ").bind(c.0);
        }
        q.page("id", page)?;
        let rows = q.query().fetch_all(&self.pool).await?;
        rows.iter().map(model::domain).collect()
    }

    /// Deletes a domain without users. (Domains are not renamed: the name is the digest realm
    /// inside every user's HA1, which cannot be recomputed without the passwords.)
    pub async fn delete_domain(&self, ctx: &Ctx, id: DomainId) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let domain = visible(&mut tx, ctx.scope, id).await?;
        let mut q = Sql::new("DELETE FROM domains WHERE id = ");
        q.bind(id.0);
        q.query().execute(&mut *tx).await.map_err(|e| {
            map_constraint(
                e,
                "domain",
                &format!("domain {:?} still has users", domain.name),
            )
        })?;
        self.commit_audited(
            tx,
            Audit {
                tenant: domain.customer_id,
                actor: &ctx.actor,
                action: "delete",
                entity: "domain",
                entity_id: id.0,
                detail: format!("{:?}", domain.name),
            },
            Change::DomainDeleted(id),
        )
        .await?;
        Ok(())
    }
}
