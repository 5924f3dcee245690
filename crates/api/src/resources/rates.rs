//! `/rates`: the price of calls by number prefix within a rate table, and
//! `/rate-tables/{id}/lookup`: the rate that prices a number (longest prefix wins).
//! Money is in integer micro-units of the table's currency (1 EUR = 1 000 000).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trunkline_store::{
    NewRate, Rate, RateDescription, RateFilter, RateId, RatePrefix, RateTableId, RateUpdate,
};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::ApiState;
use crate::caller::Caller;
use crate::extract::{Json, List, PageQuery, Path, Query, nullable};
use crate::problem::Problem;
use crate::resources::Problems;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_rates, create_rate))
        .routes(routes!(get_rate, update_rate, delete_rate))
        .routes(routes!(lookup_rate))
}

/// The price of calls to numbers starting with `prefix`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RateOut {
    id: i64,
    rate_table_id: i64,
    /// 1–20 digits; the longest prefix of a number wins.
    prefix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    /// Price per minute in micro-units of the table's currency (1 EUR = 1 000 000).
    price_per_min: i64,
    /// Charged once per answered call, in micro-units of the table's currency.
    connect_fee: i64,
    /// The first billed block, in seconds.
    initial_increment_s: u32,
    /// Every later billed block, in seconds.
    increment_s: u32,
    /// Milliseconds since the Unix epoch.
    created_at: i64,
}

impl From<Rate> for RateOut {
    fn from(r: Rate) -> Self {
        Self {
            id: r.id.0,
            rate_table_id: r.rate_table_id.0,
            prefix: r.prefix,
            description: r.description,
            price_per_min: r.price_per_min,
            connect_fee: r.connect_fee,
            initial_increment_s: r.initial_increment_s,
            increment_s: r.increment_s,
            created_at: r.created_at,
        }
    }
}

/// A rate to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRateIn {
    /// A rate table visible to the caller.
    rate_table_id: i64,
    /// 1–20 digits (no `+`), unique per table.
    #[schema(pattern = r"^[0-9]{1,20}$")]
    prefix: String,
    /// Free text, 1–200 characters once trimmed, e.g. `Germany mobile`.
    #[schema(
        pattern = r"^\s*[^\s\u0000-\u001F\u007F-\u009F]([^\u0000-\u001F\u007F-\u009F]{0,198}[^\s\u0000-\u001F\u007F-\u009F])?\s*$"
    )]
    description: Option<String>,
    /// Price per minute in micro-units of the table's currency (1 EUR = 1 000 000), ≥ 0.
    #[schema(minimum = 0, maximum = 9223372036854775807_i64)]
    price_per_min: i64,
    /// Charged once per answered call, in micro-units of the table's currency, ≥ 0; default 0.
    #[schema(minimum = 0, maximum = 9223372036854775807_i64)]
    connect_fee: Option<i64>,
    /// The first billed block in seconds, 1–3600; default 60.
    #[schema(minimum = 1, maximum = 3600)]
    initial_increment_s: Option<u32>,
    /// Every later billed block in seconds, 1–3600; default 60.
    #[schema(minimum = 1, maximum = 3600)]
    increment_s: Option<u32>,
}

/// Changes to a rate; absent fields stay, `null` clears `description`. Money is in micro-units
/// of the table's currency.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatePatch {
    #[schema(pattern = r"^[0-9]{1,20}$")]
    prefix: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(
        value_type = Option<String>,
        pattern = r"^\s*[^\s\u0000-\u001F\u007F-\u009F]([^\u0000-\u001F\u007F-\u009F]{0,198}[^\s\u0000-\u001F\u007F-\u009F])?\s*$",
    )]
    description: Option<Option<String>>,
    /// Micro-units per minute, ≥ 0.
    #[schema(minimum = 0, maximum = 9223372036854775807_i64)]
    price_per_min: Option<i64>,
    /// Micro-units per answered call, ≥ 0.
    #[schema(minimum = 0, maximum = 9223372036854775807_i64)]
    connect_fee: Option<i64>,
    #[schema(minimum = 1, maximum = 3600)]
    initial_increment_s: Option<u32>,
    #[schema(minimum = 1, maximum = 3600)]
    increment_s: Option<u32>,
}

/// Rate list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RateQuery {
    /// Only rates of this table.
    rate_table_id: Option<i64>,
}

/// The number to price.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LookupQuery {
    /// An optional `+` (ignored) and 1–32 digits.
    #[param(pattern = r"^\+?[0-9]{1,32}$")]
    number: String,
}

/// What a lookup found.
#[derive(Debug, Serialize, ToSchema)]
pub struct RateMatch {
    /// The rate with the longest prefix of the number; `null` when no prefix matches.
    rate: Option<RateOut>,
}

/// Rates of tables visible to the caller (customers see none).
#[utoipa::path(get, path = "/rates", tag = "rates", params(RateQuery, PageQuery),
    responses((status = 200, body = List<RateOut>), Problems), security(("bearer" = [])))]
async fn list_rates(
    State(s): State<ApiState>,
    caller: Caller,
    Query(q): Query<RateQuery>,
    Query(p): Query<PageQuery>,
) -> Result<Json<List<RateOut>>, Problem> {
    let filter = RateFilter {
        rate_table_id: q.rate_table_id.map(RateTableId),
    };
    let page = p.page();
    let rows = s.store.list_rates(caller.scope(), filter, page).await?;
    Ok(Json(List::new(rows, page, |r| r.id.0)))
}

/// Adds a rate to a table.
#[utoipa::path(post, path = "/rates", tag = "rates", request_body = NewRateIn,
    responses((status = 201, body = RateOut), Problems), security(("bearer" = [])))]
async fn create_rate(
    State(s): State<ApiState>,
    caller: Caller,
    Json(new): Json<NewRateIn>,
) -> Result<(StatusCode, Json<RateOut>), Problem> {
    let ctx = caller.writer()?;
    let prefix = RatePrefix::parse(&new.prefix)?;
    let mut rate = NewRate::new(RateTableId(new.rate_table_id), prefix, new.price_per_min);
    rate.description = new
        .description
        .as_deref()
        .map(RateDescription::parse)
        .transpose()?;
    rate.connect_fee = new.connect_fee.unwrap_or(rate.connect_fee);
    rate.initial_increment_s = new.initial_increment_s.unwrap_or(rate.initial_increment_s);
    rate.increment_s = new.increment_s.unwrap_or(rate.increment_s);
    let r = s.store.create_rate(&ctx, &rate).await?;
    Ok((StatusCode::CREATED, Json(r.into())))
}

/// One rate.
#[utoipa::path(get, path = "/rates/{id}", tag = "rates", params(("id" = i64, Path)),
    responses((status = 200, body = RateOut), Problems), security(("bearer" = [])))]
async fn get_rate(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<RateOut>, Problem> {
    let r = s.store.get_rate(caller.scope(), RateId(id)).await?;
    Ok(Json(r.into()))
}

/// Changes a rate.
#[utoipa::path(patch, path = "/rates/{id}", tag = "rates", params(("id" = i64, Path)),
    request_body = RatePatch,
    responses((status = 200, body = RateOut), Problems), security(("bearer" = [])))]
async fn update_rate(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(patch): Json<RatePatch>,
) -> Result<Json<RateOut>, Problem> {
    let ctx = caller.writer()?;
    let update = RateUpdate {
        prefix: patch.prefix.as_deref().map(RatePrefix::parse).transpose()?,
        description: patch
            .description
            .map(|d| d.as_deref().map(RateDescription::parse).transpose())
            .transpose()?,
        price_per_min: patch.price_per_min,
        connect_fee: patch.connect_fee,
        initial_increment_s: patch.initial_increment_s,
        increment_s: patch.increment_s,
    };
    let r = s.store.update_rate(&ctx, RateId(id), &update).await?;
    Ok(Json(r.into()))
}

/// Deletes a rate.
#[utoipa::path(delete, path = "/rates/{id}", tag = "rates", params(("id" = i64, Path)),
    responses((status = 204), Problems), security(("bearer" = [])))]
async fn delete_rate(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    let ctx = caller.writer()?;
    s.store.delete_rate(&ctx, RateId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The rate of a table that prices a number: the one with the longest prefix of it.
#[utoipa::path(get, path = "/rate-tables/{id}/lookup", tag = "rates",
    params(("id" = i64, Path), LookupQuery),
    responses((status = 200, body = RateMatch), Problems), security(("bearer" = [])))]
async fn lookup_rate(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
    Query(q): Query<LookupQuery>,
) -> Result<Json<RateMatch>, Problem> {
    let rate = s
        .store
        .rate_for(caller.scope(), RateTableId(id), &q.number)
        .await?;
    Ok(Json(RateMatch {
        rate: rate.map(Into::into),
    }))
}
