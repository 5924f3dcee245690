//! `/api-keys`: bearer keys for machines. The key is shown once, at creation.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trunkline_store::{ApiKey, ApiKeyId, TenantId};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::ApiState;
use crate::caller::Caller;
use crate::extract::{Json, List, PageQuery, Path, Query};
use crate::problem::Problem;
use crate::resources::Problems;
use crate::resources::accounts::RoleIn;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_api_keys, create_api_key))
        .routes(routes!(get_api_key, revoke_api_key))
}

/// An API key's metadata.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyOut {
    id: i64,
    tenant_id: i64,
    role: RoleIn,
    /// Milliseconds since the Unix epoch.
    created_at: i64,
    revoked: bool,
}

impl From<ApiKey> for ApiKeyOut {
    fn from(k: ApiKey) -> Self {
        Self {
            id: k.id.0,
            tenant_id: k.tenant_id.0,
            role: k.role.into(),
            created_at: k.created_at,
            revoked: k.revoked,
        }
    }
}

/// A new key and its secret, which is never shown again.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    key: ApiKeyOut,
    /// `tlk_…`; send as `Authorization: Bearer <secret>`.
    secret: String,
}

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// The tenant the key acts for; defaults to the caller's tenant.
    tenant_id: Option<i64>,
    role: RoleIn,
}

/// API keys visible to the caller.
#[utoipa::path(get, path = "/api-keys", tag = "api-keys", params(PageQuery),
    responses((status = 200, body = List<ApiKeyOut>), Problems), security(("bearer" = [])))]
async fn list_api_keys(
    State(s): State<ApiState>,
    caller: Caller,
    Query(p): Query<PageQuery>,
) -> Result<Json<List<ApiKeyOut>>, Problem> {
    let page = p.page();
    let rows = s.store.list_api_keys(caller.scope(), page).await?;
    Ok(Json(List::new(rows, page, |k| k.id.0)))
}

/// Creates a key; the response carries its secret once.
#[utoipa::path(post, path = "/api-keys", tag = "api-keys", request_body = NewApiKey,
    responses((status = 201, body = CreatedApiKey), Problems), security(("bearer" = [])))]
async fn create_api_key(
    State(s): State<ApiState>,
    caller: Caller,
    Json(new): Json<NewApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>), Problem> {
    let ctx = caller.writer()?;
    let tenant = new.tenant_id.map_or(caller.tenant(), TenantId);
    let (key, secret) = s
        .store
        .create_api_key(&ctx, tenant, new.role.into())
        .await?;
    let created = CreatedApiKey {
        key: key.into(),
        secret: secret.expose().to_owned(),
    };
    Ok((StatusCode::CREATED, Json(created)))
}

/// One key's metadata.
#[utoipa::path(get, path = "/api-keys/{id}", tag = "api-keys", params(("id" = i64, Path)),
    responses((status = 200, body = ApiKeyOut), Problems), security(("bearer" = [])))]
async fn get_api_key(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<ApiKeyOut>, Problem> {
    let k = s.store.get_api_key(caller.scope(), ApiKeyId(id)).await?;
    Ok(Json(k.into()))
}

/// Revokes a key for good.
#[utoipa::path(delete, path = "/api-keys/{id}", tag = "api-keys", params(("id" = i64, Path)),
    responses((status = 204), Problems), security(("bearer" = [])))]
async fn revoke_api_key(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    let ctx = caller.writer()?;
    s.store.revoke_api_key(&ctx, ApiKeyId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
