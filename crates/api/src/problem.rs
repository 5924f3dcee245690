//! RFC 9457 problem details: every error the API returns, with the field it is about.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use trunkline_store::{DbFailure, StoreError};
use utoipa::ToSchema;

/// An error response (`application/problem+json`, RFC 9457).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URN naming the kind of problem, e.g. `urn:trunkline:problem:invalid`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the kind.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What exactly went wrong.
    pub detail: String,
    /// The input field the problem is about, when there is one (e.g. `user.username`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Seconds to wait before retrying (429 and 503 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Problem {
    /// A problem of `status` with a short `kind` (the last part of the URN).
    pub fn new(status: StatusCode, kind: &str, detail: impl Into<String>) -> Self {
        Self {
            kind: format!("urn:trunkline:problem:{kind}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            field: None,
            retry_after: None,
        }
    }

    /// 422 about one input field.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut p = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", detail);
        p.field = Some(field.into());
        p
    }

    /// 401: no or an unknown credential.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key or session token is required (Authorization: Bearer …)",
        )
    }

    /// 403: authenticated, but not allowed.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", detail)
    }

    /// 503: a dependency (the database) is down; retry later.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        let mut p = Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail);
        p.retry_after = Some(1);
        p
    }

    /// 429 with `Retry-After`.
    pub fn too_many(retry_after: u64) -> Self {
        let mut p = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "too many failed attempts from this address; try again later",
        );
        p.retry_after = Some(retry_after);
        p
    }

    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry = self.retry_after;
        let mut res = (status, axum::Json(self)).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"trunkline\""),
            );
        }
        if let Some(secs) = retry {
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match (e.db_failure(), e) {
            (_, StoreError::Invalid { field, reason }) => Self::invalid(field, reason),
            (_, e @ StoreError::NotFound { .. }) => Self::not_found(e.to_string()),
            (_, StoreError::Conflict { what }) => Self::new(StatusCode::CONFLICT, "conflict", what),
            (_, StoreError::Forbidden { what }) => Self::forbidden(what),
            // Constraint violations the validation layer missed are still the client's fault.
            (Some(DbFailure::Conflict), _) => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "the change conflicts with existing data",
            ),
            (Some(DbFailure::Constraint), _) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "a value is outside the allowed range",
            ),
            (Some(DbFailure::Unavailable), e) => {
                tracing::warn!(error = %e, "database unavailable");
                Self::unavailable("the database is unavailable; retry shortly")
            }
            (_, e) => Self::internal(&e),
        }
    }
}

impl Problem {
    /// 500, logged; the client learns nothing about internals.
    pub fn internal(e: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %e, "internal error in an API request");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

fn rejection(status: StatusCode, text: String) -> Problem {
    // axum's texts name the offending field, e.g. "…: limit: invalid digit found in string".
    let field = text
        .rsplit_once(": ")
        .and_then(|(head, _)| head.rsplit_once(": ").map(|(_, f)| f.to_owned()))
        .filter(|f| !f.contains(' '));
    let mut p = Problem::new(status, "invalid", text);
    p.field = field;
    p
}

impl From<JsonRejection> for Problem {
    /// 400 for every body that does not fit the operation's schema (syntax, a wrong type, a
    /// missing or unknown field), as the OpenAPI document and docs/provisioning.md say; axum
    /// would answer 422 for the last three, which the API keeps for values that break a rule.
    /// 413 and 415 stay as they are.
    fn from(r: JsonRejection) -> Self {
        let status = match r.status() {
            StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
            other => other,
        };
        rejection(status, r.body_text())
    }
}

impl From<QueryRejection> for Problem {
    fn from(r: QueryRejection) -> Self {
        rejection(StatusCode::BAD_REQUEST, r.body_text())
    }
}

impl From<PathRejection> for Problem {
    fn from(r: PathRejection) -> Self {
        rejection(StatusCode::BAD_REQUEST, r.body_text())
    }
}
