//! `/healthz` (the process answers) and `/readyz` (and its database does too).

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::ApiState;
use crate::problem::Problem;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// Liveness: 200 while the process serves HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "alive", body = String, content_type = "text/plain")))]
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: 200 when the database answers, 503 otherwise.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, description = "ready", body = String, content_type = "text/plain"),
              (status = 503, description = "the database does not answer", body = Problem,
               content_type = "application/problem+json")))]
async fn readyz(State(s): State<ApiState>) -> Result<(StatusCode, &'static str), Problem> {
    match s.store.ping().await {
        Ok(()) => Ok((StatusCode::OK, "ready\n")),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            Err(Problem::unavailable("the database does not answer"))
        }
    }
}
