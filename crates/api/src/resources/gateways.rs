//! `/gateways`: the addresses of a carrier, tried by priority and spread by weight; for
//! ip-auth carriers, IP-literal gateways are also the trusted sources of inbound calls.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trunkline_store::{
    CarrierId, Gateway, GatewayFilter, GatewayHost, GatewayId, GatewayUpdate, NewGateway, Transport,
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
        .routes(routes!(list_gateways, create_gateway))
        .routes(routes!(get_gateway, update_gateway, delete_gateway))
}

/// SIP transport towards a gateway.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TransportIn {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
}

impl From<Transport> for TransportIn {
    fn from(t: Transport) -> Self {
        match t {
            Transport::Udp => Self::Udp,
            Transport::Tcp => Self::Tcp,
            Transport::Tls => Self::Tls,
        }
    }
}

impl From<TransportIn> for Transport {
    fn from(t: TransportIn) -> Self {
        match t {
            TransportIn::Udp => Self::Udp,
            TransportIn::Tcp => Self::Tcp,
            TransportIn::Tls => Self::Tls,
        }
    }
}

/// One address of a carrier.
#[derive(Debug, Serialize, ToSchema)]
pub struct GatewayOut {
    id: i64,
    carrier_id: i64,
    /// IP literal (canonical form, no brackets) or lower-case DNS name.
    host: String,
    port: u16,
    transport: TransportIn,
    /// Lower first.
    priority: u16,
    /// Share among gateways of equal priority.
    weight: u16,
    /// Disabled gateways are neither used nor trusted.
    enabled: bool,
    /// Milliseconds since the Unix epoch.
    created_at: i64,
}

impl From<Gateway> for GatewayOut {
    fn from(g: Gateway) -> Self {
        Self {
            id: g.id.0,
            carrier_id: g.carrier_id.0,
            host: g.host,
            port: g.port,
            transport: g.transport.into(),
            priority: g.priority,
            weight: g.weight,
            enabled: g.enabled,
            created_at: g.created_at,
        }
    }
}

/// A gateway to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGatewayIn {
    /// A carrier visible to the caller.
    carrier_id: i64,
    /// IPv4 or IPv6 literal (brackets optional) or DNS name, at most 253 characters.
    #[schema(min_length = 1, max_length = 254)]
    host: String,
    /// Default 5060.
    #[schema(minimum = 1, maximum = 65535)]
    port: Option<u16>,
    /// Default `udp`.
    transport: Option<TransportIn>,
    /// Lower first; default 0.
    #[schema(maximum = 65535)]
    priority: Option<u16>,
    /// Share among equal priorities; default 1.
    #[schema(maximum = 65535)]
    weight: Option<u16>,
    /// Default true.
    enabled: Option<bool>,
}

/// Changes to a gateway; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayPatch {
    #[schema(min_length = 1, max_length = 254)]
    host: Option<String>,
    #[schema(minimum = 1, maximum = 65535)]
    port: Option<u16>,
    transport: Option<TransportIn>,
    #[schema(maximum = 65535)]
    priority: Option<u16>,
    #[schema(maximum = 65535)]
    weight: Option<u16>,
    enabled: Option<bool>,
}

/// Gateway list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GatewayQuery {
    /// Only gateways of this carrier.
    carrier_id: Option<i64>,
}

/// Gateways of carriers visible to the caller (customers see none).
#[utoipa::path(get, path = "/gateways", tag = "gateways", params(GatewayQuery, PageQuery),
    responses((status = 200, body = List<GatewayOut>), Problems), security(("bearer" = [])))]
async fn list_gateways(
    State(s): State<ApiState>,
    caller: Caller,
    Query(q): Query<GatewayQuery>,
    Query(p): Query<PageQuery>,
) -> Result<Json<List<GatewayOut>>, Problem> {
    let filter = GatewayFilter {
        carrier_id: q.carrier_id.map(CarrierId),
    };
    let page = p.page();
    let rows = s.store.list_gateways(caller.scope(), filter, page).await?;
    Ok(Json(List::new(rows, page, |g| g.id.0)))
}

/// Adds a gateway to a carrier.
#[utoipa::path(post, path = "/gateways", tag = "gateways", request_body = NewGatewayIn,
    responses((status = 201, body = GatewayOut), Problems), security(("bearer" = [])))]
async fn create_gateway(
    State(s): State<ApiState>,
    caller: Caller,
    Json(new): Json<NewGatewayIn>,
) -> Result<(StatusCode, Json<GatewayOut>), Problem> {
    let ctx = caller.writer()?;
    let mut gateway = NewGateway::new(CarrierId(new.carrier_id), GatewayHost::parse(&new.host)?);
    if let Some(port) = new.port {
        gateway.port = port;
    }
    if let Some(t) = new.transport {
        gateway.transport = t.into();
    }
    if let Some(p) = new.priority {
        gateway.priority = p;
    }
    if let Some(w) = new.weight {
        gateway.weight = w;
    }
    gateway.enabled = new.enabled.unwrap_or(true);
    let g = s.store.create_gateway(&ctx, &gateway).await?;
    Ok((StatusCode::CREATED, Json(g.into())))
}

/// One gateway.
#[utoipa::path(get, path = "/gateways/{id}", tag = "gateways", params(("id" = i64, Path)),
    responses((status = 200, body = GatewayOut), Problems), security(("bearer" = [])))]
async fn get_gateway(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<GatewayOut>, Problem> {
    let g = s.store.get_gateway(caller.scope(), GatewayId(id)).await?;
    Ok(Json(g.into()))
}

/// Changes a gateway.
#[utoipa::path(patch, path = "/gateways/{id}", tag = "gateways", params(("id" = i64, Path)),
    request_body = GatewayPatch,
    responses((status = 200, body = GatewayOut), Problems), security(("bearer" = [])))]
async fn update_gateway(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(patch): Json<GatewayPatch>,
) -> Result<Json<GatewayOut>, Problem> {
    let ctx = caller.writer()?;
    let update = GatewayUpdate {
        host: patch.host.as_deref().map(GatewayHost::parse).transpose()?,
        port: patch.port,
        transport: patch.transport.map(Into::into),
        priority: patch.priority,
        weight: patch.weight,
        enabled: patch.enabled,
    };
    let g = s.store.update_gateway(&ctx, GatewayId(id), &update).await?;
    Ok(Json(g.into()))
}

/// Deletes a gateway.
#[utoipa::path(delete, path = "/gateways/{id}", tag = "gateways", params(("id" = i64, Path)),
    responses((status = 204), Problems), security(("bearer" = [])))]
async fn delete_gateway(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    let ctx = caller.writer()?;
    s.store.delete_gateway(&ctx, GatewayId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
