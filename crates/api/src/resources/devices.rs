//! `/devices`: customers' phones, optionally handed to one of their users, and found by MAC
//! address when a phone fetches its configuration.

use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use trunkline_store::{
    Device, DeviceFilter, DeviceId, DeviceModel, DeviceName, DeviceUpdate, MacAddress, NewDevice,
    Page, Scope, StoreError, TenantId, UserId,
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
        .routes(routes!(list_devices, create_device))
        .routes(routes!(get_device, update_device, delete_device))
}

/// A phone of a customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceOut {
    id: i64,
    customer_id: i64,
    name: String,
    /// 12 lower-case hex digits without separators.
    #[serde(skip_serializing_if = "Option::is_none")]
    mac: Option<String>,
    /// Vendor model, e.g. `Yealink T54W`.
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    /// The user the phone registers as; absent = not assigned.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_id: Option<i64>,
    /// Milliseconds since the Unix epoch.
    created_at: i64,
}

impl From<Device> for DeviceOut {
    fn from(d: Device) -> Self {
        Self {
            id: d.id.0,
            customer_id: d.customer_id.0,
            name: d.name,
            mac: d.mac,
            model: d.model,
            user_id: d.user_id.map(|u| u.0),
            created_at: d.created_at,
        }
    }
}

/// A device to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDeviceIn {
    /// Owning customer; defaults to the caller's tenant.
    customer_id: Option<i64>,
    /// 1–100 characters once trimmed, no control characters.
    #[schema(
        pattern = r"^\s*[^\s\u0000-\u001F\u007F-\u009F]([^\u0000-\u001F\u007F-\u009F]{0,98}[^\s\u0000-\u001F\u007F-\u009F])?\s*$"
    )]
    name: String,
    /// 12 hex digits, plain or separated (`aa:bb:…`, `aa-bb-…`, `aabb.ccdd.eeff`); unique
    /// platform-wide.
    #[schema(
        pattern = r"^([0-9A-Fa-f]{12}|[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})$"
    )]
    mac: Option<String>,
    /// 1–100 characters once trimmed, no control characters.
    #[schema(
        pattern = r"^\s*[^\s\u0000-\u001F\u007F-\u009F]([^\u0000-\u001F\u007F-\u009F]{0,98}[^\s\u0000-\u001F\u007F-\u009F])?\s*$"
    )]
    model: Option<String>,
    /// Hand the phone to this user of the same customer.
    user_id: Option<i64>,
}

/// Changes to a device; absent fields stay, `null` clears `mac`, `model` and `user_id`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevicePatch {
    /// 1–100 characters once trimmed, no control characters.
    #[schema(
        pattern = r"^\s*[^\s\u0000-\u001F\u007F-\u009F]([^\u0000-\u001F\u007F-\u009F]{0,98}[^\s\u0000-\u001F\u007F-\u009F])?\s*$"
    )]
    name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(
        value_type = Option<String>,
        pattern = r"^([0-9A-Fa-f]{12}|[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})$",
    )]
    mac: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(
        value_type = Option<String>,
        pattern = r"^\s*[^\s\u0000-\u001F\u007F-\u009F]([^\u0000-\u001F\u007F-\u009F]{0,98}[^\s\u0000-\u001F\u007F-\u009F])?\s*$",
    )]
    model: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    user_id: Option<Option<i64>>,
}

/// Device list filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeviceQuery {
    /// Only devices of this customer.
    customer_id: Option<i64>,
    /// Only devices handed to this user.
    user_id: Option<i64>,
    /// Only the device with this MAC address (any accepted spelling).
    #[param(
        pattern = r"^([0-9A-Fa-f]{12}|[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})$"
    )]
    mac: Option<String>,
}

/// Devices visible to the caller.
#[utoipa::path(get, path = "/devices", tag = "devices", params(DeviceQuery, PageQuery),
    responses((status = 200, body = List<DeviceOut>), Problems), security(("bearer" = [])))]
async fn list_devices(
    State(s): State<ApiState>,
    caller: Caller,
    Query(q): Query<DeviceQuery>,
    Query(p): Query<PageQuery>,
) -> Result<Json<List<DeviceOut>>, Problem> {
    let page = p.page();
    let filter = DeviceFilter {
        customer_id: q.customer_id.map(TenantId),
        user_id: q.user_id.map(UserId),
    };
    let rows = match q.mac.as_deref() {
        Some(mac) => by_mac(&s, caller.scope(), &MacAddress::parse(mac)?, filter, page).await?,
        None => s.store.list_devices(caller.scope(), filter, page).await?,
    };
    Ok(Json(List::new(rows, page, |d| d.id.0)))
}

/// The device with `mac` as a page of at most one row, passing `filter` and `page` like a
/// list would.
async fn by_mac(
    s: &ApiState,
    scope: Scope,
    mac: &MacAddress,
    filter: DeviceFilter,
    page: Page,
) -> Result<Vec<Device>, Problem> {
    if page.limit == 0 || page.limit > Page::MAX_LIMIT {
        return Err(Problem::invalid(
            "page.limit",
            format!("{} is not within 1..={}", page.limit, Page::MAX_LIMIT),
        ));
    }
    let device = match s.store.device_by_mac(scope, mac).await {
        Ok(d) => d,
        Err(StoreError::NotFound { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let keep = filter.customer_id.is_none_or(|c| c == device.customer_id)
        && filter.user_id.is_none_or(|u| Some(u) == device.user_id)
        && page.after.is_none_or(|a| device.id.0 > a);
    Ok(if keep { vec![device] } else { Vec::new() })
}

/// Creates a device for a customer.
#[utoipa::path(post, path = "/devices", tag = "devices", request_body = NewDeviceIn,
    responses((status = 201, body = DeviceOut), Problems), security(("bearer" = [])))]
async fn create_device(
    State(s): State<ApiState>,
    caller: Caller,
    Json(new): Json<NewDeviceIn>,
) -> Result<(StatusCode, Json<DeviceOut>), Problem> {
    let ctx = caller.writer()?;
    let customer = new.customer_id.map_or(caller.tenant(), TenantId);
    let mut device = NewDevice::new(customer, DeviceName::parse(&new.name)?);
    device.mac = new.mac.as_deref().map(MacAddress::parse).transpose()?;
    device.model = new.model.as_deref().map(DeviceModel::parse).transpose()?;
    device.user_id = new.user_id.map(UserId);
    let d = s.store.create_device(&ctx, &device).await?;
    Ok((StatusCode::CREATED, Json(d.into())))
}

/// One device.
#[utoipa::path(get, path = "/devices/{id}", tag = "devices", params(("id" = i64, Path)),
    responses((status = 200, body = DeviceOut), Problems), security(("bearer" = [])))]
async fn get_device(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<DeviceOut>, Problem> {
    let d = s.store.get_device(caller.scope(), DeviceId(id)).await?;
    Ok(Json(d.into()))
}

/// Changes a device.
#[utoipa::path(patch, path = "/devices/{id}", tag = "devices", params(("id" = i64, Path)),
    request_body = DevicePatch,
    responses((status = 200, body = DeviceOut), Problems), security(("bearer" = [])))]
async fn update_device(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
    Json(patch): Json<DevicePatch>,
) -> Result<Json<DeviceOut>, Problem> {
    let ctx = caller.writer()?;
    let update = DeviceUpdate {
        name: patch.name.as_deref().map(DeviceName::parse).transpose()?,
        mac: patch
            .mac
            .map(|m| m.as_deref().map(MacAddress::parse).transpose())
            .transpose()?,
        model: patch
            .model
            .map(|m| m.as_deref().map(DeviceModel::parse).transpose())
            .transpose()?,
        user_id: patch.user_id.map(|u| u.map(UserId)),
    };
    let d = s.store.update_device(&ctx, DeviceId(id), &update).await?;
    Ok(Json(d.into()))
}

/// Deletes a device.
#[utoipa::path(delete, path = "/devices/{id}", tag = "devices", params(("id" = i64, Path)),
    responses((status = 204), Problems), security(("bearer" = [])))]
async fn delete_device(
    State(s): State<ApiState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<StatusCode, Problem> {
    let ctx = caller.writer()?;
    s.store.delete_device(&ctx, DeviceId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
