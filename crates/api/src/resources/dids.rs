//! `/dids`: E.164 numbers owned by customers, routed to users.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trunkline_store::{Did, DidId, E164, TenantId, UserId};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::ApiState;
use crate::caller::Caller;
use crate::extract::{Json, List, PageQuery, Path, Query};
use crate::problem::Problem;
use crate::resources::Problems;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_dids, create_did))
        .routes(routes!(get_did, route_did, delete_did))
}

/// A DID.
#[derive(Debug, Serialize, ToSchema)]
pub struct DidOut {
    id: i64,
    customer_id: i64,
    /// E.164 with `+`.
    e164: String,
    /// The user calls to this number ring; absent = unassigned.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<i64>,
    /// Milliseconds since the Unix epoch.
    created_at: i64,
}

impl From<Did> for DidOut {
    fn from(d: Did) -> Self {
        Self {
            id: d.id.0,
            customer_id: d.customer_id.0,
            e164: d.e164,
            user_id: d.user_id.map(|u| u.0),
            created_at: d.created_at,
        }
    }
}

/// A DID to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDid {
    /// Owning customer; defaults to the caller's tenant.
    customer_id: Option<i64>,
    /// E.164 with `+`, 8–15 digits.
    #[schema(pattern = r"^\+[1-9][0-9]{7,14}$")]
    e164: String,
    /// Route to this user of the same customer.
    user_id: Option<i64>,
}

/// Where a DID rings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DidPatch {
    /// The target user, or `null` to unassign.
    user_id: Option<i64>,
}

/// DID list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DidQuery {
    /// Only this customer's numbers.
    customer_id: Option<i64>,
}

/// DIDs visible to the caller.
#[utoipa::path(get, path = "/dids", tag = "dids", params(DidQuery, PageQuery),
    responses((status = 200, body = List<DidOut>), Problems), security(("bearer" = [])))]
async fn list_dids(
    State(s): State<ApiState>,
    caller: Caller,
    Query(q): Query<DidQuery>,
    Query(p): Query<PageQuery>,
) -> Result<Json<List<DidOut>>, Problem> {
    let page = p.page();
    let rows = s
        .store
        .list_dids(caller.scope(), q.customer_id.map(TenantId), page)
        .await?;
    Ok(Json(List::new(rows, page, |d| d.id.0)))
}

/// Creates a DID.
#[utoipa::path(post, path = "/dids", tag = "dids", request_body = NewDid,
    responses((status = 201, body = DidOut), Problems), security(("bearer" = [])))]
async fn create_did(
    State(s): State<ApiState>,
    caller: Caller,
    Json(new): Json<NewDid>,
) -> Result<(StatusCode, Json<DidOut>), Problem> {
    let ctx = caller.writer()?;
    let e164 = E164::parse(&new.e164)?;
    let customer = new.customer_id.map_or(caller.tenant(), TenantId);
    let d = s
        .store
        .create_did(&ctx, customer, &e164, new.user_id.map(UserId))
        .await?;
    Ok((StatusCode::CREATED, Json(d.into())))
}

/// One DID.
#[utoipa::path(get, path = "/dids/{id}", tag = "dids", params(("id" = i64, Path)),
    responses((status = 200, body = DidOut), Problems), security(("bearer" = [])))]
async fn get_did(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<DidOut>, Problem> {
    let d = s.store.get_did(caller.scope(), DidId(id)).await?;
    Ok(Json(d.into()))
}

/// Routes a DID to a user or unassigns it.
#[utoipa::path(patch, path = "/dids/{id}", tag = "dids", params(("id" = i64, Path)),
    request_body = DidPatch,
    responses((status = 200, body = DidOut), Problems), security(("bearer" = [])))]
async fn route_did(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(patch): Json<DidPatch>,
) -> Result<Json<DidOut>, Problem> {
    let ctx = caller.writer()?;
    let d = s
        .store
        .route_did(&ctx, DidId(id), patch.user_id.map(UserId))
        .await?;
    Ok(Json(d.into()))
}

/// Deletes a DID.
#[utoipa::path(delete, path = "/dids/{id}", tag = "dids", params(("id" = i64, Path)),
    responses((status = 204), Problems), security(("bearer" = [])))]
async fn delete_did(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    let ctx = caller.writer()?;
    s.store.delete_did(&ctx, DidId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
