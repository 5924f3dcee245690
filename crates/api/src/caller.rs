//! The authenticated caller of a request, taken from `Authorization: Bearer <key or token>`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use trunkline_store::{Ctx, Principal, Scope, TenantId};

use crate::ApiState;
use crate::problem::Problem;

/// A request's authenticated principal. Extracting it answers 401 when the credential is
/// missing or unknown.
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub Principal);

impl Caller {
    pub(crate) fn scope(&self) -> Scope {
        self.0.scope
    }

    pub(crate) fn tenant(&self) -> TenantId {
        self.0.tenant_id
    }

    /// The write context, or 403 for read-only principals.
    pub(crate) fn writer(&self) -> Result<Ctx, Problem> {
        if !self.0.can_write() {
            return Err(Problem::forbidden("this credential is read-only"));
        }
        Ok(Ctx::new(self.0.scope, self.0.actor.clone()))
    }
}

/// The bearer credential of a request, if it has a well-formed one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Problem> {
        let token = bearer(&parts.headers).ok_or_else(Problem::unauthorized)?;
        match state.store.authenticate(token).await? {
            Some(p) => Ok(Self(p)),
            None => Err(Problem::unauthorized()),
        }
    }
}
