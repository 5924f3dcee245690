//! Reading the audit log (rows are written by every mutating operation, in its transaction).

use crate::model::{self, AuditEntry};
use crate::sql::Sql;
use crate::{Page, Scope, Store, StoreError};

impl Store {
    /// Audit entries about tenants visible in `scope`, oldest first.
    pub async fn list_audit(
        &self,
        scope: Scope,
        page: Page,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut q = Sql::new(
            "SELECT id, tenant_id, actor, action, entity, entity_id, at, detail FROM audit_log WHERE ",
        );
        q.scope("tenant_id", scope);
        q.page("id", page)?;
        let rows = q.query().fetch_all(&self.pool).await?;
        rows.iter().map(model::audit_entry).collect()
    }
}
