//! `/audit`: the trail of admin changes within the caller's tenancy.

use axum::extract::State;
use serde::Serialize;
use trunkline_store::AuditEntry;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::ApiState;
use crate::caller::Caller;
use crate::extract::{Json, List, PageQuery, Query};
use crate::problem::Problem;
use crate::resources::Problems;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

/// One admin change.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditOut {
    id: i64,
    tenant_id: i64,
    /// Who acted: `cli`, `apikey:12`, `account:alice@example.test`.
    actor: String,
    /// `create`, `update` or `delete`.
    action: String,
    /// e.g. `user`.
    entity: String,
    entity_id: i64,
    /// Milliseconds since the Unix epoch.
    at: i64,
    /// What changed (never secrets).
    detail: String,
}

impl From<AuditEntry> for AuditOut {
    fn from(a: AuditEntry) -> Self {
        Self {
            id: a.id.0,
            tenant_id: a.tenant_id.0,
            actor: a.actor,
            action: a.action,
            entity: a.entity,
            entity_id: a.entity_id,
            at: a.at,
            detail: a.detail,
        }
    }
}

/// Audit entries visible to the caller, oldest first.
#[utoipa::path(get, path = "/audit", tag = "audit", params(PageQuery),
    responses((status = 200, body = List<AuditOut>), Problems), security(("bearer" = [])))]
async fn list_audit(
    State(s): State<ApiState>,
    caller: Caller,
    Query(p): Query<PageQuery>,
) -> Result<Json<List<AuditOut>>, Problem> {
    let page = p.page();
    let rows = s.store.list_audit(caller.scope(), page).await?;
    Ok(Json(List::new(rows, page, |a| a.id.0)))
}
