//! `/routes`: outbound routes — numbers starting with a prefix may leave through a carrier of
//! the route's tenant or of one of its ancestors.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trunkline_store::{
    CarrierId, NewRoute, Route, RouteFilter, RouteId, RoutePrefix, RoutePrepend, RouteUpdate,
    TenantId,
};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::ApiState;
use crate::caller::Caller;
use crate::extract::{Json, List, PageQuery, Path, Query};
use crate::problem::Problem;
use crate::resources::Problems;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_routes, create_route))
        .routes(routes!(get_route, update_route, delete_route))
}

/// An outbound route.
#[derive(Debug, Serialize, ToSchema)]
pub struct RouteOut {
    id: i64,
    /// Platform (default for everyone), reseller (for its customers) or customer (its own).
    tenant_id: i64,
    /// An optional `+` and up to 20 digits, compared with the dialled number character by
    /// character; empty matches every number.
    prefix: String,
    carrier_id: i64,
    /// Lower first, among routes of equal prefix length and tenant level.
    priority: u16,
    /// Leading characters removed before sending (a leading `+` counts as one).
    strip: u8,
    /// Put in front of the number after stripping.
    prepend: String,
    /// Disabled routes are never candidates.
    enabled: bool,
    /// Milliseconds since the Unix epoch.
    created_at: i64,
}

impl From<Route> for RouteOut {
    fn from(r: Route) -> Self {
        Self {
            id: r.id.0,
            tenant_id: r.tenant_id.0,
            prefix: r.prefix,
            carrier_id: r.carrier_id.0,
            priority: r.priority,
            strip: r.strip,
            prepend: r.prepend,
            enabled: r.enabled,
            created_at: r.created_at,
        }
    }
}

/// A route to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRouteIn {
    /// The tenant the route applies for; defaults to the caller's tenant.
    tenant_id: Option<i64>,
    /// An optional `+` and up to 20 digits; empty matches every number.
    #[schema(pattern = r"^\+?[0-9]{0,20}$")]
    prefix: String,
    /// A carrier of the route's tenant or of one of its ancestors.
    carrier_id: i64,
    /// Lower first; default 0.
    #[schema(maximum = 65535)]
    priority: Option<u16>,
    /// Leading characters to remove, 0–20 (default 0).
    #[schema(minimum = 0, maximum = 20)]
    strip: Option<u8>,
    /// An optional `+` and digits, at most 20 characters; default empty.
    #[schema(pattern = r"^(\+[0-9]{0,19}|[0-9]{0,20})$")]
    prepend: Option<String>,
    /// Default true.
    enabled: Option<bool>,
}

/// Changes to a route; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutePatch {
    #[schema(pattern = r"^\+?[0-9]{0,20}$")]
    prefix: Option<String>,
    /// Same rule as on creation.
    carrier_id: Option<i64>,
    #[schema(maximum = 65535)]
    priority: Option<u16>,
    #[schema(minimum = 0, maximum = 20)]
    strip: Option<u8>,
    #[schema(pattern = r"^(\+[0-9]{0,19}|[0-9]{0,20})$")]
    prepend: Option<String>,
    enabled: Option<bool>,
}

/// Route list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RouteQuery {
    /// Only routes of this tenant.
    tenant_id: Option<i64>,
    /// Only routes through this carrier.
    carrier_id: Option<i64>,
}

/// Routes visible to the caller: a reseller sees its own and its customers', not the
/// platform's.
#[utoipa::path(get, path = "/routes", tag = "routes", params(RouteQuery, PageQuery),
    responses((status = 200, body = List<RouteOut>), Problems), security(("bearer" = [])))]
async fn list_routes(
    State(s): State<ApiState>,
    caller: Caller,
    Query(q): Query<RouteQuery>,
    Query(p): Query<PageQuery>,
) -> Result<Json<List<RouteOut>>, Problem> {
    let filter = RouteFilter {
        tenant_id: q.tenant_id.map(TenantId),
        carrier_id: q.carrier_id.map(CarrierId),
    };
    let page = p.page();
    let rows = s.store.list_routes(caller.scope(), filter, page).await?;
    Ok(Json(List::new(rows, page, |r| r.id.0)))
}

/// Creates a route.
#[utoipa::path(post, path = "/routes", tag = "routes", request_body = NewRouteIn,
    responses((status = 201, body = RouteOut), Problems), security(("bearer" = [])))]
async fn create_route(
    State(s): State<ApiState>,
    caller: Caller,
    Json(new): Json<NewRouteIn>,
) -> Result<(StatusCode, Json<RouteOut>), Problem> {
    let ctx = caller.writer()?;
    let prefix = RoutePrefix::parse(&new.prefix)?;
    let tenant = new.tenant_id.map_or(caller.tenant(), TenantId);
    let mut route = NewRoute::new(tenant, prefix, CarrierId(new.carrier_id));
    if let Some(p) = new.prepend.as_deref() {
        route.prepend = RoutePrepend::parse(p)?;
    }
    route.priority = new.priority.unwrap_or(route.priority);
    route.strip = new.strip.unwrap_or(route.strip);
    route.enabled = new.enabled.unwrap_or(true);
    let r = s.store.create_route(&ctx, &route).await?;
    Ok((StatusCode::CREATED, Json(r.into())))
}

/// One route.
#[utoipa::path(get, path = "/routes/{id}", tag = "routes", params(("id" = i64, Path)),
    responses((status = 200, body = RouteOut), Problems), security(("bearer" = [])))]
async fn get_route(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<RouteOut>, Problem> {
    let r = s.store.get_route(caller.scope(), RouteId(id)).await?;
    Ok(Json(r.into()))
}

/// Changes a route.
#[utoipa::path(patch, path = "/routes/{id}", tag = "routes", params(("id" = i64, Path)),
    request_body = RoutePatch,
    responses((status = 200, body = RouteOut), Problems), security(("bearer" = [])))]
async fn update_route(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(patch): Json<RoutePatch>,
) -> Result<Json<RouteOut>, Problem> {
    let ctx = caller.writer()?;
    let update = RouteUpdate {
        prefix: patch
            .prefix
            .as_deref()
            .map(RoutePrefix::parse)
            .transpose()?,
        carrier_id: patch.carrier_id.map(CarrierId),
        priority: patch.priority,
        strip: patch.strip,
        prepend: patch
            .prepend
            .as_deref()
            .map(RoutePrepend::parse)
            .transpose()?,
        enabled: patch.enabled,
    };
    let r = s.store.update_route(&ctx, RouteId(id), &update).await?;
    Ok(Json(r.into()))
}

/// Deletes a route.
#[utoipa::path(delete, path = "/routes/{id}", tag = "routes", params(("id" = i64, Path)),
    responses((status = 204), Problems), security(("bearer" = [])))]
async fn delete_route(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    let ctx = caller.writer()?;
    s.store.delete_route(&ctx, RouteId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
