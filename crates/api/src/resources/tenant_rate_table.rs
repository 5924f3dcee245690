//! `/tenants/{id}/rate-table`: which rate table a customer is billed by (one of its reseller's
//! or the platform's). Only the platform and the customer's reseller may change it.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use trunkline_store::{RateTableId, TenantId};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::ApiState;
use crate::caller::Caller;
use crate::extract::{Json, Path};
use crate::problem::Problem;
use crate::resources::Problems;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(get_tenant_rate_table, set_tenant_rate_table))
}

/// The rate table a tenant is billed by.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantRateTableOut {
    tenant_id: i64,
    /// `null` when the tenant is billed by no table.
    rate_table_id: Option<i64>,
}

/// The rate table to bill a customer by.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantRateTableIn {
    /// A table of the customer's reseller or of the platform, or `null` for none. Required.
    #[serde(deserialize_with = "Option::deserialize")]
    #[schema(required = true)]
    rate_table_id: Option<i64>,
}

/// The rate table a tenant is billed by.
#[utoipa::path(get, path = "/tenants/{id}/rate-table", tag = "tenants",
    params(("id" = i64, Path)),
    responses((status = 200, body = TenantRateTableOut), Problems), security(("bearer" = [])))]
async fn get_tenant_rate_table(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<TenantRateTableOut>, Problem> {
    let table = s
        .store
        .tenant_rate_table(caller.scope(), TenantId(id))
        .await?;
    Ok(Json(TenantRateTableOut {
        tenant_id: id,
        rate_table_id: table.map(|t| t.0),
    }))
}

/// Bills a customer by a rate table from now on, or by none.
#[utoipa::path(put, path = "/tenants/{id}/rate-table", tag = "tenants",
    params(("id" = i64, Path)), request_body = TenantRateTableIn,
    responses((status = 200, body = TenantRateTableOut), Problems), security(("bearer" = [])))]
async fn set_tenant_rate_table(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(body): Json<TenantRateTableIn>,
) -> Result<Json<TenantRateTableOut>, Problem> {
    let ctx = caller.writer()?;
    let table = body.rate_table_id.map(RateTableId);
    s.store
        .set_tenant_rate_table(&ctx, TenantId(id), table)
        .await?;
    Ok(Json(TenantRateTableOut {
        tenant_id: id,
        rate_table_id: body.rate_table_id,
    }))
}
