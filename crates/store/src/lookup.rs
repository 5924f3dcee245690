//! Finding rows by their natural names (tenant name, `user@domain`, E.164) rather than ids, for
//! the admin CLI and for operators' scripts.

use crate::model::{self, Did, Tenant, User};
use crate::sql::Sql;
use crate::{DomainName, E164, Scope, Store, StoreError, Username};

impl Store {
    /// Tenants visible in `scope` called `name` (siblings have unique names, tenants under
    /// different parents may share one).
    pub async fn tenants_named(&self, scope: Scope, name: &str) -> Result<Vec<Tenant>, StoreError> {
        let mut q = Sql::new(crate::tenants::COLS);
        q.push("name = ")
            .bind(name)
            .push(" AND ")
            .scope("id", scope)
            .push(" ORDER BY id LIMIT 100");
        let rows = q.query().fetch_all(&self.pool).await?;
        rows.iter().map(model::tenant).collect()
    }

    /// The user `username@domain`, if visible in `scope`.
    pub async fn user_by_aor(
        &self,
        scope: Scope,
        username: &Username,
        domain: &DomainName,
    ) -> Result<User, StoreError> {
        let mut q = Sql::new(crate::users::COLS);
        q.push("u.username = ")
            .bind(username.as_str())
            .push(" AND d.name = ")
            .bind(domain.as_str())
            .push(" AND ")
            .scope("u.customer_id", scope);
        let row = q.query().fetch_optional(&self.pool).await?;
        row.as_ref().map(model::user).transpose()?.ok_or_else(|| {
            StoreError::not_found("user", format!("{}@{}", username.as_str(), domain.as_str()))
        })
    }

    /// The DID `e164`, if visible in `scope`.
    pub async fn did_by_number(&self, scope: Scope, e164: &E164) -> Result<Did, StoreError> {
        let mut q = Sql::new(crate::dids::COLS);
        q.push("e164 = ")
            .bind(e164.as_str())
            .push(" AND ")
            .scope("customer_id", scope);
        let row = q.query().fetch_optional(&self.pool).await?;
        row.as_ref()
            .map(model::did)
            .transpose()?
            .ok_or_else(|| StoreError::not_found("did", e164.as_str()))
    }
}
