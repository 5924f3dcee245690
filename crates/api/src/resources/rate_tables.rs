//! `/rate-tables`: price lists of the platform or a reseller. Their rates are under `/rates`,
//! the longest-prefix lookup under `/rate-tables/{id}/lookup` (in `rates.rs`).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trunkline_store::{
    Currency, RateTable, RateTableFilter, RateTableId, RateTableName, RateTableUpdate, TenantId,
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
        .routes(routes!(list_rate_tables, create_rate_table))
        .routes(routes!(
            get_rate_table,
            update_rate_table,
            delete_rate_table
        ))
}

/// A price list. Every price in it is in integer micro-units of `currency`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RateTableOut {
    id: i64,
    /// The owning platform or reseller.
    tenant_id: i64,
    name: String,
    /// ISO 4217 code, upper-case.
    currency: String,
    /// Milliseconds since the Unix epoch.
    created_at: i64,
}

impl From<RateTable> for RateTableOut {
    fn from(t: RateTable) -> Self {
        Self {
            id: t.id.0,
            tenant_id: t.tenant_id.0,
            name: t.name,
            currency: t.currency,
            created_at: t.created_at,
        }
    }
}

/// A rate table to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRateTableIn {
    /// The owning platform or reseller; defaults to the caller's tenant.
    tenant_id: Option<i64>,
    /// 1–100 characters once trimmed, no control characters; unique per owner.
    #[schema(
        pattern = r"^\s*[^\s\u0000-\u001F\u007F-\u009F]([^\u0000-\u001F\u007F-\u009F]{0,98}[^\s\u0000-\u001F\u007F-\u009F])?\s*$"
    )]
    name: String,
    /// ISO 4217 code, e.g. `EUR` (any case).
    #[schema(pattern = r"^[A-Za-z]{3}$")]
    currency: String,
}

/// Changes to a rate table; absent fields stay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateTablePatch {
    #[schema(
        pattern = r"^\s*[^\s\u0000-\u001F\u007F-\u009F]([^\u0000-\u001F\u007F-\u009F]{0,98}[^\s\u0000-\u001F\u007F-\u009F])?\s*$"
    )]
    name: Option<String>,
    /// The prices are not converted.
    #[schema(pattern = r"^[A-Za-z]{3}$")]
    currency: Option<String>,
}

/// Rate table list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RateTableQuery {
    /// Only tables of this owner.
    tenant_id: Option<i64>,
}

/// Rate tables visible to the caller (customers see none).
#[utoipa::path(get, path = "/rate-tables", tag = "rate-tables",
    params(RateTableQuery, PageQuery),
    responses((status = 200, body = List<RateTableOut>), Problems), security(("bearer" = [])))]
async fn list_rate_tables(
    State(s): State<ApiState>,
    caller: Caller,
    Query(q): Query<RateTableQuery>,
    Query(p): Query<PageQuery>,
) -> Result<Json<List<RateTableOut>>, Problem> {
    let filter = RateTableFilter {
        tenant_id: q.tenant_id.map(TenantId),
    };
    let page = p.page();
    let rows = s
        .store
        .list_rate_tables(caller.scope(), filter, page)
        .await?;
    Ok(Json(List::new(rows, page, |t| t.id.0)))
}

/// Creates a rate table for the platform or a reseller.
#[utoipa::path(post, path = "/rate-tables", tag = "rate-tables", request_body = NewRateTableIn,
    responses((status = 201, body = RateTableOut), Problems), security(("bearer" = [])))]
async fn create_rate_table(
    State(s): State<ApiState>,
    caller: Caller,
    Json(new): Json<NewRateTableIn>,
) -> Result<(StatusCode, Json<RateTableOut>), Problem> {
    let ctx = caller.writer()?;
    let name = RateTableName::parse(&new.name)?;
    let currency = Currency::parse(&new.currency)?;
    let tenant = new.tenant_id.map_or(caller.tenant(), TenantId);
    let t = s
        .store
        .create_rate_table(&ctx, tenant, &name, currency)
        .await?;
    Ok((StatusCode::CREATED, Json(t.into())))
}

/// One rate table.
#[utoipa::path(get, path = "/rate-tables/{id}", tag = "rate-tables", params(("id" = i64, Path)),
    responses((status = 200, body = RateTableOut), Problems), security(("bearer" = [])))]
async fn get_rate_table(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<RateTableOut>, Problem> {
    let t = s
        .store
        .get_rate_table(caller.scope(), RateTableId(id))
        .await?;
    Ok(Json(t.into()))
}

/// Renames a rate table or changes its currency.
#[utoipa::path(patch, path = "/rate-tables/{id}", tag = "rate-tables",
    params(("id" = i64, Path)), request_body = RateTablePatch,
    responses((status = 200, body = RateTableOut), Problems), security(("bearer" = [])))]
async fn update_rate_table(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(patch): Json<RateTablePatch>,
) -> Result<Json<RateTableOut>, Problem> {
    let ctx = caller.writer()?;
    let update = RateTableUpdate {
        name: patch
            .name
            .as_deref()
            .map(RateTableName::parse)
            .transpose()?,
        currency: patch.currency.as_deref().map(Currency::parse).transpose()?,
    };
    let t = s
        .store
        .update_rate_table(&ctx, RateTableId(id), &update)
        .await?;
    Ok(Json(t.into()))
}

/// Deletes a rate table and its rates; refused (409) while a customer is billed by it.
#[utoipa::path(delete, path = "/rate-tables/{id}", tag = "rate-tables",
    params(("id" = i64, Path)),
    responses((status = 204), Problems), security(("bearer" = [])))]
async fn delete_rate_table(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    let ctx = caller.writer()?;
    s.store.delete_rate_table(&ctx, RateTableId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
