//! `/accounts`: people who log in to the API, each with a role in one tenant.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trunkline_store::{Account, AccountId, AccountUpdate, Login, Password, Role, TenantId};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::ApiState;
use crate::caller::Caller;
use crate::extract::{Json, List, PageQuery, Path, Query};
use crate::problem::Problem;
use crate::resources::Problems;

pub(crate) fn routes() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_accounts, create_account))
        .routes(routes!(get_account, update_account, delete_account))
}

/// What a credential may do within its tenant's scope.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RoleIn {
    /// Read and change.
    Admin,
    /// Read only.
    ReadOnly,
}

impl From<Role> for RoleIn {
    fn from(r: Role) -> Self {
        match r {
            Role::Admin => Self::Admin,
            Role::ReadOnly => Self::ReadOnly,
        }
    }
}

impl From<RoleIn> for Role {
    fn from(r: RoleIn) -> Self {
        match r {
            RoleIn::Admin => Self::Admin,
            RoleIn::ReadOnly => Self::ReadOnly,
        }
    }
}

/// A login account (the password is never returned).
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountOut {
    id: i64,
    tenant_id: i64,
    login: String,
    role: RoleIn,
    enabled: bool,
    /// Milliseconds since the Unix epoch.
    created_at: i64,
}

impl From<Account> for AccountOut {
    fn from(a: Account) -> Self {
        Self {
            id: a.id.0,
            tenant_id: a.tenant_id.0,
            login: a.login,
            role: a.role.into(),
            enabled: a.enabled,
            created_at: a.created_at,
        }
    }
}

/// An account to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// The tenant the account acts for; defaults to the caller's tenant.
    tenant_id: Option<i64>,
    /// 3–100 characters of letters, digits and `.-_@+` (case-insensitive).
    #[schema(pattern = r"^[A-Za-z0-9.@+_-]{3,100}$")]
    login: String,
    /// 8–128 characters; stored as an argon2id hash.
    #[schema(min_length = 8, max_length = 128)]
    password: String,
    role: RoleIn,
}

/// Changes to an account; a new password or disabling ends its sessions.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    /// 8–128 characters.
    #[schema(min_length = 8, max_length = 128)]
    password: Option<String>,
    role: Option<RoleIn>,
    enabled: Option<bool>,
}

/// Account list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountQuery {
    /// Only accounts of this tenant.
    tenant_id: Option<i64>,
}

/// Accounts visible to the caller.
#[utoipa::path(get, path = "/accounts", tag = "accounts", params(AccountQuery, PageQuery),
    responses((status = 200, body = List<AccountOut>), Problems), security(("bearer" = [])))]
async fn list_accounts(
    State(s): State<ApiState>,
    caller: Caller,
    Query(q): Query<AccountQuery>,
    Query(p): Query<PageQuery>,
) -> Result<Json<List<AccountOut>>, Problem> {
    let page = p.page();
    let rows = s
        .store
        .list_accounts(caller.scope(), q.tenant_id.map(TenantId), page)
        .await?;
    Ok(Json(List::new(rows, page, |a| a.id.0)))
}

/// Creates a login account.
#[utoipa::path(post, path = "/accounts", tag = "accounts", request_body = NewAccount,
    responses((status = 201, body = AccountOut), Problems), security(("bearer" = [])))]
async fn create_account(
    State(s): State<ApiState>,
    caller: Caller,
    Json(new): Json<NewAccount>,
) -> Result<(StatusCode, Json<AccountOut>), Problem> {
    let ctx = caller.writer()?;
    let login = Login::parse(&new.login)?;
    let password = Password::parse_as("account.password", &new.password)?;
    let tenant = new.tenant_id.map_or(caller.tenant(), TenantId);
    let a = s
        .store
        .create_account(&ctx, tenant, &login, &password, new.role.into())
        .await?;
    Ok((StatusCode::CREATED, Json(a.into())))
}

/// One account.
#[utoipa::path(get, path = "/accounts/{id}", tag = "accounts", params(("id" = i64, Path)),
    responses((status = 200, body = AccountOut), Problems), security(("bearer" = [])))]
async fn get_account(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<AccountOut>, Problem> {
    let a = s.store.get_account(caller.scope(), AccountId(id)).await?;
    Ok(Json(a.into()))
}

/// Changes an account.
#[utoipa::path(patch, path = "/accounts/{id}", tag = "accounts", params(("id" = i64, Path)),
    request_body = AccountPatch,
    responses((status = 200, body = AccountOut), Problems), security(("bearer" = [])))]
async fn update_account(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(patch): Json<AccountPatch>,
) -> Result<Json<AccountOut>, Problem> {
    let ctx = caller.writer()?;
    let update = AccountUpdate {
        password: patch
            .password
            .as_deref()
            .map(|p| Password::parse_as("account.password", p))
            .transpose()?,
        role: patch.role.map(Into::into),
        enabled: patch.enabled,
    };
    let a = s.store.update_account(&ctx, AccountId(id), &update).await?;
    Ok(Json(a.into()))
}

/// Deletes an account and ends its sessions.
#[utoipa::path(delete, path = "/accounts/{id}", tag = "accounts", params(("id" = i64, Path)),
    responses((status = 204), Problems), security(("bearer" = [])))]
async fn delete_account(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    let ctx = caller.writer()?;
    s.store.delete_account(&ctx, AccountId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
