//! `/auth`: log in with a password for a session token, log out, and ask who you are.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trunkline_store::{Principal, Scope};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::ApiState;
use crate::caller::{Caller, bearer};
use crate::extract::Json;
use crate::problem::Problem;
use crate::resources::Problems;
use crate::resources::accounts::RoleIn;
use crate::resources::tenants::Kind;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(whoami))
}

/// Credentials of a login account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginIn {
    login: String,
    password: String,
}

/// Who a credential is.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrincipalOut {
    tenant_id: i64,
    /// The tenancy level the credential acts at.
    level: Kind,
    role: RoleIn,
    /// The name the audit log records.
    actor: String,
}

impl From<Principal> for PrincipalOut {
    fn from(p: Principal) -> Self {
        Self {
            tenant_id: p.tenant_id.0,
            level: match p.scope {
                Scope::Platform => Kind::Platform,
                Scope::Reseller(_) => Kind::Reseller,
                Scope::Customer(_) => Kind::Customer,
            },
            role: p.role.into(),
            actor: p.actor,
        }
    }
}

/// A session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionOut {
    /// `tlt_…`; send as `Authorization: Bearer <token>`.
    token: String,
    /// Seconds until the token expires.
    expires_in: u64,
    principal: PrincipalOut,
}

/// Exchanges a login and password for a session token. Unknown logins, wrong passwords and
/// disabled accounts get the same 401; an address with too many failures gets 429, and so
/// does a login name with too many recent failures, except from an address it logged in from
/// before (see docs/security.md).
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginIn,
    responses((status = 200, body = SessionOut),
        (status = 429, body = Problem, content_type = "application/problem+json"), Problems))]
async fn login(
    State(s): State<ApiState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(creds): Json<LoginIn>,
) -> Result<Json<SessionOut>, Problem> {
    let ip = peer.ip();
    s.guard
        .check(ip, Instant::now())
        .map_err(Problem::too_many)?;
    s.backoff
        .check(&creds.login, ip, Instant::now())
        .map_err(Problem::too_many)?;
    let opened = s
        .store
        .login(&creds.login, &creds.password, s.session_ttl)
        .await?;
    let Some((principal, token)) = opened else {
        if s.guard.failed(ip, Instant::now()) {
            tracing::warn!(%ip, "API login banned after repeated failures");
        }
        if s.backoff.failed(&creds.login, Instant::now()) {
            // The login name is not logged: people type passwords into it.
            tracing::warn!(%ip, "API logins for one account slowed down after repeated failures");
        }
        return Err(Problem::unauthorized());
    };
    s.guard.succeeded(ip);
    s.backoff.succeeded(&creds.login, ip, Instant::now());
    Ok(Json(SessionOut {
        token: token.expose().to_owned(),
        expires_in: s.session_ttl.as_secs(),
        principal: principal.into(),
    }))
}

/// Ends the session of the presented token (API keys are revoked via `/api-keys`).
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 204), Problems), security(("bearer" = [])))]
async fn logout(
    State(s): State<ApiState>,
    _caller: Caller,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    if let Some(token) = bearer(&headers) {
        s.store.logout(token).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's own principal.
#[utoipa::path(get, path = "/auth/whoami", tag = "auth",
    responses((status = 200, body = PrincipalOut), Problems), security(("bearer" = [])))]
async fn whoami(caller: Caller) -> Json<PrincipalOut> {
    Json(caller.0.into())
}
