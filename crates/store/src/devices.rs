//! Devices: a customer's phones, found by MAC for provisioning, optionally handed to one of its
//! users.

use sqlx::{Any, Transaction};

use crate::catalog_model::{self, Device};
use crate::claims::Claim;
use crate::dids::user_of;
use crate::error::map_constraint;
use crate::sql::Sql;
use crate::store::{Audit, now_ms};
use crate::update::Update;
use crate::{
    Change, Ctx, DeviceId, DeviceModel, DeviceName, MacAddress, Page, Scope, Store, StoreError,
    TenantId, UserId,
};

const COLS: &str =
    "SELECT id, customer_id, name, mac, model, user_id, created_at FROM devices WHERE ";
const RETURNING: &str = " RETURNING id, customer_id, name, mac, model, user_id, created_at";

/// A device to create.
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// Owning customer.
    pub customer_id: TenantId,
    /// Display name.
    pub name: DeviceName,
    /// MAC address, unique platform-wide.
    pub mac: Option<MacAddress>,
    /// Vendor model.
    pub model: Option<DeviceModel>,
    /// A user of the same customer.
    pub user_id: Option<UserId>,
}

impl NewDevice {
    /// A device without MAC, model or user.
    pub fn new(customer_id: TenantId, name: DeviceName) -> Self {
        Self {
            customer_id,
            name,
            mac: None,
            model: None,
            user_id: None,
        }
    }
}

/// Changes to a device; `None` leaves a field as it is, `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct DeviceUpdate {
    /// New name.
    pub name: Option<DeviceName>,
    /// New MAC address.
    pub mac: Option<Option<MacAddress>>,
    /// New model.
    pub model: Option<Option<DeviceModel>>,
    /// New user (of the same customer).
    pub user_id: Option<Option<UserId>>,
}

/// Filters for [`Store::list_devices`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeviceFilter {
    /// Only devices of this customer.
    pub customer_id: Option<TenantId>,
    /// Only devices handed to this user.
    pub user_id: Option<UserId>,
}

async fn visible(
    tx: &mut Transaction<'_, Any>,
    scope: Scope,
    id: DeviceId,
) -> Result<Device, StoreError> {
    let mut q = Sql::new(COLS);
    q.push("id = ")
        .bind(id.0)
        .push(" AND ")
        .scope("customer_id", scope);
    let row = q.query().fetch_optional(&mut **tx).await?;
    row.as_ref()
        .map(catalog_model::device)
        .transpose()?
        .ok_or_else(|| StoreError::not_found("device", id))
}

/// Unassigns every device handed to `user` (which is about to be deleted) and returns them.
pub(crate) async fn unassign_user(
    tx: &mut Transaction<'_, Any>,
    user: UserId,
) -> Result<Vec<Device>, StoreError> {
    let mut q = Sql::new("UPDATE devices SET user_id = NULL WHERE user_id = ");
    q.bind(user.0).push(RETURNING);
    let rows = q.query().fetch_all(&mut **tx).await?;
    rows.iter().map(catalog_model::device).collect()
}

/// The platform-wide claim on `mac`, if there is one.
fn mac_claim(mac: Option<&MacAddress>, except: Option<DeviceId>) -> Option<Claim<'_>> {
    mac.map(|m| Claim {
        table: "devices",
        column: "mac",
        owner: "customer_id",
        field: "device.mac",
        value: m.as_str(),
        except: except.map(|d| d.0),
    })
}

fn mac_conflict(mac: Option<&MacAddress>) -> String {
    format!(
        "a device with MAC {} already exists",
        mac.map_or("", MacAddress::as_str)
    )
}

impl Store {
    /// Creates a device for a customer visible in the scope, optionally handed to one of its
    /// users.
    pub async fn create_device(&self, ctx: &Ctx, new: &NewDevice) -> Result<Device, StoreError> {
        let mut tx = self.write_tx().await?;
        crate::domains::customer(&mut tx, ctx.scope, new.customer_id).await?;
        if let Some(u) = new.user_id {
            user_of(&mut tx, ctx.scope, new.customer_id, u).await?;
        }
        let claim = mac_claim(new.mac.as_ref(), None);
        if let Some(claim) = &claim {
            (claim.check(&mut tx, ctx.scope, || mac_conflict(new.mac.as_ref()))).await?;
        }
        let mut q = Sql::new(
            "INSERT INTO devices (customer_id, name, mac, model, user_id, created_at) VALUES (",
        );
        q.bind(new.customer_id.0)
            .push(", ")
            .bind(new.name.as_str())
            .push(", ")
            .bind(new.mac.as_ref().map(|m| m.as_str().to_owned()))
            .push(", ")
            .bind(new.model.as_ref().map(|m| m.as_str().to_owned()))
            .push(", ")
            .bind(new.user_id.map(UserId::get))
            .push(", ")
            .bind(now_ms())
            .push(")")
            .push(RETURNING);
        let row = q.query().fetch_one(&mut *tx).await.map_err(|e| {
            let foreign = "device owner or user does not exist";
            match &claim {
                Some(claim) => claim.map(e, foreign),
                None => map_constraint(e, "", foreign),
            }
        })?;
        let device = catalog_model::device(&row)?;
        self.commit_audited(
            tx,
            Audit {
                tenant: device.customer_id,
                actor: &ctx.actor,
                action: "create",
                entity: "device",
                entity_id: device.id.0,
                detail: format!(
                    "{:?} mac {:?} model {:?} → user {:?}",
                    device.name,
                    device.mac,
                    device.model,
                    device.user_id.map(UserId::get)
                ),
            },
            Change::DeviceUpserted(device.clone()),
        )
        .await?;
        Ok(device)
    }

    /// A device visible in `scope`.
    pub async fn get_device(&self, scope: Scope, id: DeviceId) -> Result<Device, StoreError> {
        let mut tx = self.write_tx().await?;
        let device = visible(&mut tx, scope, id).await?;
        tx.commit().await?;
        Ok(device)
    }

    /// The device with this MAC address, if visible in `scope` (phone provisioning looks
    /// devices up this way).
    pub async fn device_by_mac(
        &self,
        scope: Scope,
        mac: &MacAddress,
    ) -> Result<Device, StoreError> {
        let mut q = Sql::new(COLS);
        q.push("mac = ")
            .bind(mac.as_str())
            .push(" AND ")
            .scope("customer_id", scope);
        let row = q.query().fetch_optional(&self.pool).await?;
        row.as_ref()
            .map(catalog_model::device)
            .transpose()?
            .ok_or_else(|| StoreError::not_found("device", mac.as_str()))
    }

    /// Devices visible in `scope` that pass `filter`, in id order.
    pub async fn list_devices(
        &self,
        scope: Scope,
        filter: DeviceFilter,
        page: Page,
    ) -> Result<Vec<Device>, StoreError> {
        let mut q = Sql::new(COLS);
        q.scope("customer_id", scope);
        if let Some(c) = filter.customer_id {
            q.push(" AND customer_id = ").bind(c.0);
        }
        if let Some(u) = filter.user_id {
            q.push(" AND user_id = ").bind(u.0);
        }
        q.page("id", page)?;
        let rows = q.query().fetch_all(&self.pool).await?;
        rows.iter().map(catalog_model::device).collect()
    }

    /// Applies `update` to a device visible in the scope.
    pub async fn update_device(
        &self,
        ctx: &Ctx,
        id: DeviceId,
        update: &DeviceUpdate,
    ) -> Result<Device, StoreError> {
        let mut tx = self.write_tx().await?;
        let old = visible(&mut tx, ctx.scope, id).await?;
        let mut u = Update::new("devices");
        if let Some(name) = &update.name {
            u.set("name", name.as_str(), format!("name {:?}", name.as_str()));
        }
        if let Some(mac) = &update.mac {
            let v = mac.as_ref().map(|m| m.as_str().to_owned());
            u.set("mac", v.clone(), format!("mac {v:?}"));
        }
        if let Some(model) = &update.model {
            let v = model.as_ref().map(|m| m.as_str().to_owned());
            u.set("model", v.clone(), format!("model {v:?}"));
        }
        if let Some(user) = update.user_id {
            if let Some(user) = user {
                user_of(&mut tx, ctx.scope, old.customer_id, user).await?;
            }
            let v = user.map(UserId::get);
            u.set("user_id", v, format!("user {v:?}"));
        }
        if u.is_empty() {
            return Ok(old);
        }
        let mac = update.mac.as_ref().and_then(Option::as_ref);
        let claim = mac_claim(mac, Some(id));
        if let Some(claim) = &claim {
            (claim.check(&mut tx, ctx.scope, || mac_conflict(mac))).await?;
        }
        let (mut q, detail) = u.finish();
        q.push(" WHERE id = ").bind(id.0).push(RETURNING);
        let row = q
            .query()
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| match &claim {
                Some(claim) => claim.map(e, "user does not exist"),
                None => map_constraint(e, "", "user does not exist"),
            })?;
        let device = catalog_model::device(&row)?;
        self.commit_audited(
            tx,
            Audit {
                tenant: device.customer_id,
                actor: &ctx.actor,
                action: "update",
                entity: "device",
                entity_id: id.0,
                detail,
            },
            Change::DeviceUpserted(device.clone()),
        )
        .await?;
        Ok(device)
    }

    /// Deletes a device visible in the scope.
    pub async fn delete_device(&self, ctx: &Ctx, id: DeviceId) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let device = visible(&mut tx, ctx.scope, id).await?;
        let mut q = Sql::new("DELETE FROM devices WHERE id = ");
        q.bind(id.0);
        q.query().execute(&mut *tx).await?;
        self.commit_audited(
            tx,
            Audit {
                tenant: device.customer_id,
                actor: &ctx.actor,
                action: "delete",
                entity: "device",
                entity_id: id.0,
                detail: format!("{:?} mac {:?}", device.name, device.mac),
            },
            Change::DeviceDeleted(id),
        )
        .await?;
        Ok(())
    }
}
