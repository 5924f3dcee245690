//! `/users`: SIP users (endpoints). Passwords go in, only digest HA1s are stored, nothing
//! secret comes out.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trunkline_store::{CallerId, DomainId, NewUser, Password, User, UserId, UserUpdate, Username};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::ApiState;
use crate::caller::Caller;
use crate::extract::{Json, List, PageQuery, Path, Query, nullable};
use crate::problem::Problem;
use crate::resources::Problems;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user, delete_user))
}

/// A SIP user.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    id: i64,
    customer_id: i64,
    domain_id: i64,
    /// The domain's name (the digest realm).
    domain: String,
    /// SIP user part (e.g. an extension).
    username: String,
    /// `username@domain`.
    aor: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    caller_id: Option<String>,
    /// Concurrent call limit; absent = unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_calls: Option<u32>,
    enabled: bool,
    /// The relay records the user's relayed calls (both directions), linked from the CDR.
    record_calls: bool,
    /// Milliseconds since the Unix epoch.
    created_at: i64,
}

impl From<User> for UserOut {
    fn from(u: User) -> Self {
        Self {
            id: u.id.0,
            customer_id: u.customer_id.0,
            domain_id: u.domain_id.0,
            aor: format!("{}@{}", u.username, u.domain),
            domain: u.domain,
            username: u.username,
            caller_id: u.caller_id,
            max_calls: u.max_calls,
            enabled: u.enabled,
            record_calls: u.record_calls,
            created_at: u.created_at,
        }
    }
}

/// A user to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserIn {
    domain_id: i64,
    /// SIP user part: 1–64 characters of RFC 3261 user characters.
    #[schema(min_length = 1, max_length = 64)]
    username: String,
    /// 8–128 characters; stored only as digest HA1s.
    #[schema(min_length = 8, max_length = 128)]
    password: String,
    caller_id: Option<String>,
    max_calls: Option<u32>,
    /// Default true.
    enabled: Option<bool>,
    /// Default false.
    record_calls: Option<bool>,
}

/// Changes to a user; absent fields stay, `null` clears `caller_id` and `max_calls`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// 8–128 characters.
    #[schema(min_length = 8, max_length = 128)]
    password: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    caller_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>)]
    max_calls: Option<Option<u32>>,
    enabled: Option<bool>,
    record_calls: Option<bool>,
}

/// User list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// Only users of this domain.
    domain_id: Option<i64>,
}

/// Users visible to the caller.
#[utoipa::path(get, path = "/users", tag = "users", params(UserQuery, PageQuery),
    responses((status = 200, body = List<UserOut>), Problems), security(("bearer" = [])))]
async fn list_users(
    State(s): State<ApiState>,
    caller: Caller,
    Query(q): Query<UserQuery>,
    Query(p): Query<PageQuery>,
) -> Result<Json<List<UserOut>>, Problem> {
    let page = p.page();
    let rows = s
        .store
        .list_users(caller.scope(), q.domain_id.map(DomainId), page)
        .await?;
    Ok(Json(List::new(rows, page, |u| u.id.0)))
}

/// Creates a user in a domain.
#[utoipa::path(post, path = "/users", tag = "users", request_body = NewUserIn,
    responses((status = 201, body = UserOut), Problems), security(("bearer" = [])))]
async fn create_user(
    State(s): State<ApiState>,
    caller: Caller,
    Json(new): Json<NewUserIn>,
) -> Result<(StatusCode, Json<UserOut>), Problem> {
    let ctx = caller.writer()?;
    let mut user = NewUser::new(
        DomainId(new.domain_id),
        Username::parse(&new.username)?,
        Password::parse(&new.password)?,
    );
    user.caller_id = new.caller_id.as_deref().map(CallerId::parse).transpose()?;
    user.max_calls = new.max_calls;
    user.enabled = new.enabled.unwrap_or(true);
    user.record_calls = new.record_calls.unwrap_or(false);
    let u = s.store.create_user(&ctx, &user).await?;
    Ok((StatusCode::CREATED, Json(u.into())))
}

/// One user.
#[utoipa::path(get, path = "/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 200, body = UserOut), Problems), security(("bearer" = [])))]
async fn get_user(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<UserOut>, Problem> {
    let u = s.store.get_user(caller.scope(), UserId(id)).await?;
    Ok(Json(u.into()))
}

/// Changes a user.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", params(("id" = i64, Path)),
    request_body = UserPatch,
    responses((status = 200, body = UserOut), Problems), security(("bearer" = [])))]
async fn update_user(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(patch): Json<UserPatch>,
) -> Result<Json<UserOut>, Problem> {
    let ctx = caller.writer()?;
    let update = UserUpdate {
        password: patch.password.as_deref().map(Password::parse).transpose()?,
        caller_id: patch
            .caller_id
            .map(|c| c.as_deref().map(CallerId::parse).transpose())
            .transpose()?,
        max_calls: patch.max_calls,
        enabled: patch.enabled,
        record_calls: patch.record_calls,
    };
    let u = s.store.update_user(&ctx, UserId(id), &update).await?;
    Ok(Json(u.into()))
}

/// Deletes a user; DIDs routed to it become unassigned.
#[utoipa::path(delete, path = "/users/{id}", tag = "users", params(("id" = i64, Path)),
    responses((status = 204), Problems), security(("bearer" = [])))]
async fn delete_user(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    let ctx = caller.writer()?;
    s.store.delete_user(&ctx, UserId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
