//! Trunkline's provisioning REST API: axum handlers over the store's service layer, under
//! `/api/v1`, with the OpenAPI 3 document generated from the same code at
//! `/api/v1/openapi.json`, RFC 9457 problem documents for every error, bearer authentication
//! (API keys and login sessions) and tenancy scoping enforced by the store.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

mod backoff;
mod caller;
mod extract;
mod guard;
mod health;
mod problem;
mod resources;
mod state;

pub use extract::List;
pub use problem::Problem;
pub use state::{ApiOptions, ApiState};

/// Largest request body accepted.
const MAX_BODY: usize = 64 * 1024;
/// A request that takes longer than this is answered 408 and dropped.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Trunkline provisioning API",
        description = "Tenants, SIP domains, users, DIDs, devices, carriers and their gateways, \
                       outbound routes, rate tables and rates, credentials and the audit trail. \
                       Money is in integer micro-units of a rate table's currency. Errors are \
                       RFC 9457 problem documents; lists use keyset pagination."
    ),
    components(schemas(Problem)),
    modifiers(&BearerAuth)
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("An API key (`tlk_…`) or a session token (`tlt_…`)"))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The v1 resources and the OpenAPI document describing them.
fn v1() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .merge(resources::session::routes())
        .merge(resources::tenants::routes())
        .merge(resources::domains::routes())
        .merge(resources::users::routes())
        .merge(resources::dids::routes())
        .merge(resources::api_keys::routes())
        .merge(resources::accounts::routes())
        .merge(resources::audit::routes())
        .merge(resources::cdrs::routes())
        .merge(resources::calls::routes())
        .merge(resources::status::routes())
        .merge(resources::devices::routes())
        .merge(resources::carriers::routes())
        .merge(resources::gateways::routes())
        .merge(resources::routes::routes())
        .merge(resources::rate_tables::routes())
        .merge(resources::rates::routes())
        .merge(resources::tenant_rate_table::routes())
}

/// The OpenAPI document of the API.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::routes())
        .nest("/api/v1", v1())
        .split_for_parts();
    doc
}

/// The whole HTTP application: health probes, `/api/v1/…` and the OpenAPI document.
pub fn router(state: ApiState) -> Router {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::routes())
        .nest("/api/v1", v1())
        .split_for_parts();
    let doc = std::sync::Arc::new(doc);
    router
        .route(
            "/api/v1/openapi.json",
            axum::routing::get(move || {
                let doc = std::sync::Arc::clone(&doc);
                async move { axum::Json(doc) }
            }),
        )
        .fallback(|| async { Problem::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method-not-allowed",
                "this endpoint does not support the method",
            )
        })
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
}

/// Serves `state`'s API on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
