//! `/carriers`: upstream trunks of the platform or a reseller. A credentials carrier's password
//! is write-only: it is accepted on create and update and never returned (`has_password`
//! says whether one is set).

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trunkline_store::{
    Carrier, CarrierAuth, CarrierFilter, CarrierId, CarrierName, CarrierPassword, CarrierRealm,
    CarrierUpdate, CarrierUsername, NewCarrier, TenantId,
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
        .routes(routes!(list_carriers, create_carrier))
        .routes(routes!(get_carrier, update_carrier, delete_carrier))
}

/// How a carrier and we authenticate each other.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// By source address: the carrier trusts ours, and we trust calls from the IP-literal hosts
    /// of its enabled gateways. No credentials.
    Ip,
    /// By digest: we answer the carrier's challenges with `username` and `password`.
    Credentials,
}

/// An upstream trunk (its password is never returned).
#[derive(Debug, Serialize, ToSchema)]
pub struct CarrierOut {
    id: i64,
    /// The owning platform or reseller.
    tenant_id: i64,
    name: String,
    auth_mode: AuthMode,
    /// Digest username (credentials carriers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    /// Only challenges for this realm are answered (credentials carriers only, optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    realm: Option<String>,
    /// Whether a digest password is stored (true exactly for credentials carriers).
    has_password: bool,
    /// Disabled carriers take no calls and are trusted for none.
    enabled: bool,
    /// Concurrent call limit; absent = unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_channels: Option<u32>,
    /// Milliseconds since the Unix epoch.
    created_at: i64,
}

impl From<Carrier> for CarrierOut {
    fn from(c: Carrier) -> Self {
        let (auth_mode, username, realm) = match c.auth {
            CarrierAuth::Ip => (AuthMode::Ip, None, None),
            CarrierAuth::Credentials {
                username, realm, ..
            } => (
                AuthMode::Credentials,
                Some(username.as_str().to_owned()),
                realm.map(|r| r.as_str().to_owned()),
            ),
        };
        Self {
            id: c.id.0,
            tenant_id: c.tenant_id.0,
            name: c.name,
            auth_mode,
            username,
            realm,
            has_password: auth_mode == AuthMode::Credentials,
            enabled: c.enabled,
            max_channels: c.max_channels,
            created_at: c.created_at,
        }
    }
}

/// A carrier to create. `username` and `password` are required for `credentials` and refused
/// for `ip`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCarrierIn {
    /// The owning platform or reseller; defaults to the caller's tenant.
    tenant_id: Option<i64>,
    /// 1–100 characters once trimmed, no control characters; unique per owner.
    #[schema(
        pattern = r"^\s*[^\s\u0000-\u001F\u007F-\u009F]([^\u0000-\u001F\u007F-\u009F]{0,98}[^\s\u0000-\u001F\u007F-\u009F])?\s*$"
    )]
    name: String,
    auth_mode: AuthMode,
    /// 1–128 printable characters without spaces, `"` or `\`.
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r#"^[^\s"\\\u0000-\u001F\u007F-\u009F]+$"#
    )]
    username: Option<String>,
    /// 1–128 characters, no control characters. Write-only.
    #[schema(
        min_length = 1,
        max_length = 128,
        write_only,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$"
    )]
    password: Option<String>,
    /// 1–253 printable characters without spaces, `"` or `\`.
    #[schema(
        min_length = 1,
        max_length = 253,
        pattern = r#"^[^\s"\\\u0000-\u001F\u007F-\u009F]+$"#
    )]
    realm: Option<String>,
    /// Default true.
    enabled: Option<bool>,
    /// Concurrent call limit; absent = unlimited.
    #[schema(maximum = 4294967295_u32)]
    max_channels: Option<u32>,
}

/// Changes to a carrier; absent fields stay, `null` clears `realm` and `max_channels`.
/// Credentials that are not given are kept when the carrier stays (or already is) a
/// credentials carrier; switching to `ip` drops them, switching to `credentials` needs both
/// `username` and `password`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CarrierPatch {
    #[schema(
        pattern = r"^\s*[^\s\u0000-\u001F\u007F-\u009F]([^\u0000-\u001F\u007F-\u009F]{0,98}[^\s\u0000-\u001F\u007F-\u009F])?\s*$"
    )]
    name: Option<String>,
    auth_mode: Option<AuthMode>,
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r#"^[^\s"\\\u0000-\u001F\u007F-\u009F]+$"#
    )]
    username: Option<String>,
    /// Write-only.
    #[schema(
        min_length = 1,
        max_length = 128,
        write_only,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]+$"
    )]
    password: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(
        value_type = Option<String>,
        min_length = 1,
        max_length = 253,
        pattern = r#"^[^\s"\\\u0000-\u001F\u007F-\u009F]+$"#,
    )]
    realm: Option<Option<String>>,
    enabled: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<u32>, maximum = 4294967295_u32)]
    max_channels: Option<Option<u32>>,
}

/// Carrier list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CarrierQuery {
    /// Only carriers of this owner.
    tenant_id: Option<i64>,
    /// Only enabled (`true`) or only disabled (`false`) carriers.
    enabled: Option<bool>,
}

/// The credentials given in a request, parsed.
#[derive(Debug)]
struct GivenAuth {
    username: Option<CarrierUsername>,
    password: Option<CarrierPassword>,
    /// `None` = not given, `Some(None)` = cleared.
    realm: Option<Option<CarrierRealm>>,
}

impl GivenAuth {
    fn parse(
        username: Option<&str>,
        password: Option<&str>,
        realm: Option<Option<&str>>,
    ) -> Result<Self, Problem> {
        Ok(Self {
            username: username.map(CarrierUsername::parse).transpose()?,
            password: password.map(CarrierPassword::parse).transpose()?,
            realm: realm
                .map(|r| r.map(CarrierRealm::parse).transpose())
                .transpose()?,
        })
    }

    fn is_empty(&self) -> bool {
        self.username.is_none() && self.password.is_none() && self.realm.is_none()
    }

    /// The authentication of `mode`, taking what is not given from `old`.
    fn resolve(self, mode: AuthMode, old: Option<&CarrierAuth>) -> Result<CarrierAuth, Problem> {
        match mode {
            AuthMode::Ip => {
                let refused = if self.username.is_some() {
                    Some("carrier.username")
                } else if self.password.is_some() {
                    Some("carrier.password")
                } else if matches!(self.realm, Some(Some(_))) {
                    Some("carrier.realm")
                } else {
                    None
                };
                match refused {
                    Some(field) => Err(Problem::invalid(
                        field,
                        "only credentials carriers have credentials (auth_mode is ip)",
                    )),
                    None => Ok(CarrierAuth::Ip),
                }
            }
            AuthMode::Credentials => {
                let kept = match old {
                    Some(CarrierAuth::Credentials {
                        username,
                        password,
                        realm,
                    }) => Some((username, password, realm)),
                    _ => None,
                };
                let required =
                    |field| Problem::invalid(field, "required when auth_mode is credentials");
                Ok(CarrierAuth::Credentials {
                    username: self
                        .username
                        .or_else(|| kept.map(|k| k.0.clone()))
                        .ok_or_else(|| required("carrier.username"))?,
                    password: self
                        .password
                        .or_else(|| kept.map(|k| k.1.clone()))
                        .ok_or_else(|| required("carrier.password"))?,
                    realm: match self.realm {
                        Some(r) => r,
                        None => kept.and_then(|k| k.2.clone()),
                    },
                })
            }
        }
    }
}

/// Carriers visible to the caller (customers see none).
#[utoipa::path(get, path = "/carriers", tag = "carriers", params(CarrierQuery, PageQuery),
    responses((status = 200, body = List<CarrierOut>), Problems), security(("bearer" = [])))]
async fn list_carriers(
    State(s): State<ApiState>,
    caller: Caller,
    Query(q): Query<CarrierQuery>,
    Query(p): Query<PageQuery>,
) -> Result<Json<List<CarrierOut>>, Problem> {
    let filter = CarrierFilter {
        tenant_id: q.tenant_id.map(TenantId),
        enabled: q.enabled,
    };
    let page = p.page();
    let rows = s.store.list_carriers(caller.scope(), filter, page).await?;
    Ok(Json(List::new(rows, page, |c| c.id.0)))
}

/// Creates a carrier for the platform or a reseller.
#[utoipa::path(post, path = "/carriers", tag = "carriers", request_body = NewCarrierIn,
    responses((status = 201, body = CarrierOut), Problems), security(("bearer" = [])))]
async fn create_carrier(
    State(s): State<ApiState>,
    caller: Caller,
    Json(new): Json<NewCarrierIn>,
) -> Result<(StatusCode, Json<CarrierOut>), Problem> {
    let ctx = caller.writer()?;
    let name = CarrierName::parse(&new.name)?;
    let auth = GivenAuth::parse(
        new.username.as_deref(),
        new.password.as_deref(),
        new.realm.as_deref().map(Some),
    )?
    .resolve(new.auth_mode, None)?;
    let tenant = new.tenant_id.map_or(caller.tenant(), TenantId);
    let mut carrier = NewCarrier::new(tenant, name, auth);
    carrier.enabled = new.enabled.unwrap_or(true);
    carrier.max_channels = new.max_channels;
    let c = s.store.create_carrier(&ctx, &carrier).await?;
    Ok((StatusCode::CREATED, Json(c.into())))
}

/// One carrier.
#[utoipa::path(get, path = "/carriers/{id}", tag = "carriers", params(("id" = i64, Path)),
    responses((status = 200, body = CarrierOut), Problems), security(("bearer" = [])))]
async fn get_carrier(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<CarrierOut>, Problem> {
    let c = s.store.get_carrier(caller.scope(), CarrierId(id)).await?;
    Ok(Json(c.into()))
}

/// Changes a carrier.
#[utoipa::path(patch, path = "/carriers/{id}", tag = "carriers", params(("id" = i64, Path)),
    request_body = CarrierPatch,
    responses((status = 200, body = CarrierOut), Problems), security(("bearer" = [])))]
async fn update_carrier(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(patch): Json<CarrierPatch>,
) -> Result<Json<CarrierOut>, Problem> {
    let ctx = caller.writer()?;
    let id = CarrierId(id);
    let given = GivenAuth::parse(
        patch.username.as_deref(),
        patch.password.as_deref(),
        patch.realm.as_ref().map(Option::as_deref),
    )?;
    let auth = if patch.auth_mode.is_none() && given.is_empty() {
        None
    } else {
        // Credentials not given are kept, so the current ones are needed.
        let old = s.store.get_carrier(caller.scope(), id).await?;
        let mode = patch.auth_mode.unwrap_or(match old.auth {
            CarrierAuth::Ip => AuthMode::Ip,
            CarrierAuth::Credentials { .. } => AuthMode::Credentials,
        });
        Some(given.resolve(mode, Some(&old.auth))?)
    };
    let update = CarrierUpdate {
        name: patch.name.as_deref().map(CarrierName::parse).transpose()?,
        auth,
        enabled: patch.enabled,
        max_channels: patch.max_channels,
    };
    let c = s.store.update_carrier(&ctx, id, &update).await?;
    Ok(Json(c.into()))
}

/// Deletes a carrier and its gateways; refused (409) while routes use it.
#[utoipa::path(delete, path = "/carriers/{id}", tag = "carriers", params(("id" = i64, Path)),
    responses((status = 204), Problems), security(("bearer" = [])))]
async fn delete_carrier(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    let ctx = caller.writer()?;
    s.store.delete_carrier(&ctx, CarrierId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
