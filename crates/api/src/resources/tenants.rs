//! `/tenants`: resellers and customers under the caller's tenant.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trunkline_store::{Tenant, TenantFilter, TenantId, TenantKind, TenantName};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::ApiState;
use crate::caller::Caller;
use crate::extract::{Json, List, PageQuery, Path, Query};
use crate::problem::Problem;
use crate::resources::Problems;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_tenants, create_tenant))
        .routes(routes!(get_tenant, rename_tenant, delete_tenant))
}

/// Level of a tenant.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The platform operator (exactly one).
    Platform,
    /// A reseller of customers.
    Reseller,
    /// A company with domains, users and numbers.
    Customer,
}

impl From<TenantKind> for Kind {
    fn from(k: TenantKind) -> Self {
        match k {
            TenantKind::Platform => Self::Platform,
            TenantKind::Reseller => Self::Reseller,
            TenantKind::Customer => Self::Customer,
        }
    }
}

impl From<Kind> for TenantKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Platform => Self::Platform,
            Kind::Reseller => Self::Reseller,
            Kind::Customer => Self::Customer,
        }
    }
}

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantOut {
    id: i64,
    kind: Kind,
    /// Absent only for the platform.
    #[serde(skip_serializing_if = "Option::is_none")]
    parent_id: Option<i64>,
    name: String,
    /// Milliseconds since the Unix epoch.
    created_at: i64,
}

impl From<Tenant> for TenantOut {
    fn from(t: Tenant) -> Self {
        Self {
            id: t.id.0,
            kind: t.kind.into(),
            parent_id: t.parent_id.map(|p| p.0),
            name: t.name,
            created_at: t.created_at,
        }
    }
}

/// A tenant to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// `reseller` (platform only) or `customer`.
    kind: Kind,
    /// Parent tenant; defaults to the caller's own tenant.
    parent_id: Option<i64>,
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    name: String,
}

/// A new name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantPatch {
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    name: String,
}

/// Tenant list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantQuery {
    /// Only children of this tenant.
    parent_id: Option<i64>,
    /// Only this level.
    kind: Option<Kind>,
}

/// Tenants visible to the caller.
#[utoipa::path(get, path = "/tenants", tag = "tenants", params(TenantQuery, PageQuery),
    responses((status = 200, body = List<TenantOut>), Problems), security(("bearer" = [])))]
async fn list_tenants(
    State(s): State<ApiState>,
    caller: Caller,
    Query(q): Query<TenantQuery>,
    Query(p): Query<PageQuery>,
) -> Result<Json<List<TenantOut>>, Problem> {
    let filter = TenantFilter {
        parent: q.parent_id.map(TenantId),
        kind: q.kind.map(Into::into),
    };
    let page = p.page();
    let rows = s.store.list_tenants(caller.scope(), filter, page).await?;
    Ok(Json(List::new(rows, page, |t| t.id.0)))
}

/// Creates a reseller or a customer.
#[utoipa::path(post, path = "/tenants", tag = "tenants", request_body = NewTenant,
    responses((status = 201, body = TenantOut), Problems), security(("bearer" = [])))]
async fn create_tenant(
    State(s): State<ApiState>,
    caller: Caller,
    Json(new): Json<NewTenant>,
) -> Result<(StatusCode, Json<TenantOut>), Problem> {
    let ctx = caller.writer()?;
    let name = TenantName::parse(&new.name)?;
    let parent = new.parent_id.map_or(caller.tenant(), TenantId);
    let t = s
        .store
        .create_tenant(&ctx, new.kind.into(), parent, &name)
        .await?;
    Ok((StatusCode::CREATED, Json(t.into())))
}

/// One tenant.
#[utoipa::path(get, path = "/tenants/{id}", tag = "tenants", params(("id" = i64, Path)),
    responses((status = 200, body = TenantOut), Problems), security(("bearer" = [])))]
async fn get_tenant(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<TenantOut>, Problem> {
    let t = s.store.get_tenant(caller.scope(), TenantId(id)).await?;
    Ok(Json(t.into()))
}

/// Renames a tenant.
#[utoipa::path(patch, path = "/tenants/{id}", tag = "tenants", params(("id" = i64, Path)),
    request_body = TenantPatch,
    responses((status = 200, body = TenantOut), Problems), security(("bearer" = [])))]
async fn rename_tenant(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(patch): Json<TenantPatch>,
) -> Result<Json<TenantOut>, Problem> {
    let ctx = caller.writer()?;
    let name = TenantName::parse(&patch.name)?;
    let t = s.store.rename_tenant(&ctx, TenantId(id), &name).await?;
    Ok(Json(t.into()))
}

/// Deletes a tenant that owns nothing any more.
#[utoipa::path(delete, path = "/tenants/{id}", tag = "tenants", params(("id" = i64, Path)),
    responses((status = 204), Problems), security(("bearer" = [])))]
async fn delete_tenant(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    let ctx = caller.writer()?;
    s.store.delete_tenant(&ctx, TenantId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
