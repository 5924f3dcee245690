//! `/domains`: SIP domains (digest realms) owned by customers.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trunkline_store::{Domain, DomainId, DomainName, TenantId};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::ApiState;
use crate::caller::Caller;
use crate::extract::{Json, List, PageQuery, Path, Query};
use crate::problem::Problem;
use crate::resources::Problems;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_domains, create_domain))
        .routes(routes!(get_domain, delete_domain))
}

/// A SIP domain.
#[derive(Debug, Serialize, ToSchema)]
pub struct DomainOut {
    id: i64,
    customer_id: i64,
    /// Lower-case DNS name; the digest realm of its users.
    name: String,
    /// Milliseconds since the Unix epoch.
    created_at: i64,
}

impl From<Domain> for DomainOut {
    fn from(d: Domain) -> Self {
        Self {
            id: d.id.0,
            customer_id: d.customer_id.0,
            name: d.name,
            created_at: d.created_at,
        }
    }
}

/// A domain to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDomain {
    /// Owning customer; defaults to the caller's tenant.
    customer_id: Option<i64>,
    /// DNS name, unique platform-wide.
    #[schema(min_length = 1, max_length = 253)]
    name: String,
}

/// Domain list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DomainQuery {
    /// Only this customer's domains.
    customer_id: Option<i64>,
}

/// Domains visible to the caller.
#[utoipa::path(get, path = "/domains", tag = "domains", params(DomainQuery, PageQuery),
    responses((status = 200, body = List<DomainOut>), Problems), security(("bearer" = [])))]
async fn list_domains(
    State(s): State<ApiState>,
    caller: Caller,
    Query(q): Query<DomainQuery>,
    Query(p): Query<PageQuery>,
) -> Result<Json<List<DomainOut>>, Problem> {
    let page = p.page();
    let rows = s
        .store
        .list_domains(caller.scope(), q.customer_id.map(TenantId), page)
        .await?;
    Ok(Json(List::new(rows, page, |d| d.id.0)))
}

/// Creates a domain for a customer.
#[utoipa::path(post, path = "/domains", tag = "domains", request_body = NewDomain,
    responses((status = 201, body = DomainOut), Problems), security(("bearer" = [])))]
async fn create_domain(
    State(s): State<ApiState>,
    caller: Caller,
    Json(new): Json<NewDomain>,
) -> Result<(StatusCode, Json<DomainOut>), Problem> {
    let ctx = caller.writer()?;
    let name = DomainName::parse(&new.name)?;
    let customer = new.customer_id.map_or(caller.tenant(), TenantId);
    let d = s.store.create_domain(&ctx, customer, &name).await?;
    Ok((StatusCode::CREATED, Json(d.into())))
}

/// One domain.
#[utoipa::path(get, path = "/domains/{id}", tag = "domains", params(("id" = i64, Path)),
    responses((status = 200, body = DomainOut), Problems), security(("bearer" = [])))]
async fn get_domain(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<DomainOut>, Problem> {
    let d = s.store.get_domain(caller.scope(), DomainId(id)).await?;
    Ok(Json(d.into()))
}

/// Deletes a domain without users.
#[utoipa::path(delete, path = "/domains/{id}", tag = "domains", params(("id" = i64, Path)),
    responses((status = 204), Problems), security(("bearer" = [])))]
async fn delete_domain(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    let ctx = caller.writer()?;
    s.store.delete_domain(&ctx, DomainId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
