//! Carriers: upstream trunks owned by the platform or a reseller, authenticated by source
//! address or by digest credentials. Their addresses live in `gateways.rs`.
//!
//! For an ip-auth carrier, the IP-literal hosts of its enabled gateways are also the source
//! addresses from which inbound calls are trusted as coming from that carrier (see
//! [`crate::Snapshot::carrier_by_source`]); DNS-named gateways are not trusted as sources.

use sqlx::{Any, Transaction};

use crate::catalog_model::{self, Carrier, CarrierAuth};
use crate::error::map_constraint;
use crate::model::TenantKind;
use crate::sql::Sql;
use crate::store::{Audit, now_ms};
use crate::update::Update;
use crate::{
    CarrierId, CarrierName, Change, Ctx, Keyring, Page, Scope, Store, StoreError, TenantId,
};

const COLS: &str = "SELECT id, tenant_id, name, auth_mode, username, password, realm, enabled, \
     max_channels, created_at FROM carriers WHERE ";
const RETURNING: &str = " RETURNING id, tenant_id, name, auth_mode, username, password, realm, \
     enabled, max_channels, created_at";

/// A carrier to create.
#[derive(Debug, Clone)]
pub struct NewCarrier {
    /// The platform or a reseller.
    pub tenant_id: TenantId,
    /// Unique per owner.
    pub name: CarrierName,
    /// How we and the carrier authenticate each other.
    pub auth: CarrierAuth,
    /// Whether the carrier takes calls.
    pub enabled: bool,
    /// Concurrent call limit; `None` = no limit.
    pub max_channels: Option<u32>,
}

impl NewCarrier {
    /// An enabled carrier without a channel limit.
    pub fn new(tenant_id: TenantId, name: CarrierName, auth: CarrierAuth) -> Self {
        Self {
            tenant_id,
            name,
            auth,
            enabled: true,
            max_channels: None,
        }
    }
}

/// Changes to a carrier; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct CarrierUpdate {
    /// New name.
    pub name: Option<CarrierName>,
    /// New authentication (replaces mode and credentials together).
    pub auth: Option<CarrierAuth>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// New channel limit (`Some(None)` removes it).
    pub max_channels: Option<Option<u32>>,
}

/// Filters for [`Store::list_carriers`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CarrierFilter {
    /// Only carriers of this owner.
    pub tenant_id: Option<TenantId>,
    /// Only enabled (or only disabled) carriers.
    pub enabled: Option<bool>,
}

/// Checks that `tenant` may own carriers and rate tables (the platform or a reseller) and is
/// visible in `scope`. Customers are refused outright: they own neither.
pub(crate) async fn provider(
    tx: &mut Transaction<'_, Any>,
    scope: Scope,
    tenant: TenantId,
    field: &'static str,
    what: &str,
) -> Result<(), StoreError> {
    if let Scope::Customer(_) = scope {
        return Err(StoreError::Forbidden {
            what: format!("customers cannot own {what}"),
        });
    }
    let t = crate::tenants::visible(tx, scope, tenant).await?;
    if t.kind == TenantKind::Customer {
        return Err(StoreError::invalid(
            field,
            format!("tenant {tenant} is a customer; only the platform and resellers own {what}"),
        ));
    }
    Ok(())
}

/// Fetches a carrier visible in `scope`, inside a transaction; its password is opened with
/// `keyring`.
pub(crate) async fn visible(
    tx: &mut Transaction<'_, Any>,
    keyring: Option<&Keyring>,
    scope: Scope,
    id: CarrierId,
) -> Result<Carrier, StoreError> {
    let mut q = Sql::new(COLS);
    q.push("id = ")
        .bind(id.0)
        .push(" AND ")
        .scope("tenant_id", scope);
    let row = q.query().fetch_optional(&mut **tx).await?;
    row.as_ref()
        .map(|r| catalog_model::carrier(r, keyring))
        .transpose()?
        .ok_or_else(|| StoreError::not_found("carrier", id))
}

/// The columns `auth` is stored in: mode, username, password (sealed), realm.
type AuthColumns = (&'static str, Option<String>, Option<String>, Option<String>);

impl Store {
    /// What `auth` is stored as; the password sealed under the current key.
    fn auth_columns(&self, auth: &CarrierAuth) -> Result<AuthColumns, StoreError> {
        Ok(match auth {
            CarrierAuth::Ip => ("ip", None, None, None),
            CarrierAuth::Credentials {
                username,
                password,
                realm,
            } => (
                "credentials",
                Some(username.as_str().to_owned()),
                Some(self.keyring()?.seal(password.expose())?),
                realm.as_ref().map(|r| r.as_str().to_owned()),
            ),
        })
    }
}

/// Describes `auth` for the audit log: never the password.
fn describe(auth: &CarrierAuth) -> String {
    match auth {
        CarrierAuth::Ip => "auth ip".to_owned(),
        CarrierAuth::Credentials {
            username, realm, ..
        } => format!(
            "auth credentials (username {:?}, realm {:?}, password set)",
            username.as_str(),
            realm.as_ref().map(|r| r.as_str())
        ),
    }
}

impl Store {
    /// Creates a carrier for the platform or a reseller visible in the scope. Customer scopes
    /// get `Forbidden`.
    pub async fn create_carrier(&self, ctx: &Ctx, new: &NewCarrier) -> Result<Carrier, StoreError> {
        let mut tx = self.write_tx().await?;
        provider(
            &mut tx,
            ctx.scope,
            new.tenant_id,
            "carrier.tenant_id",
            "carriers",
        )
        .await?;
        let (mode, username, password, realm) = self.auth_columns(&new.auth)?;
        let mut q = Sql::new(
            "INSERT INTO carriers (tenant_id, name, auth_mode, username, password, realm, \
             enabled, max_channels, created_at) VALUES (",
        );
        q.bind(new.tenant_id.0)
            .push(", ")
            .bind(new.name.as_str())
            .push(", ")
            .bind(mode)
            .push(", ")
            .bind(username)
            .push(", ")
            .bind(password)
            .push(", ")
            .bind(realm)
            .push(", ")
            .bind(new.enabled)
            .push(", ")
            .bind(new.max_channels.map(i64::from))
            .push(", ")
            .bind(now_ms())
            .push(")")
            .push(RETURNING);
        let row = q.query().fetch_one(&mut *tx).await.map_err(|e| {
            map_constraint(
                e,
                &format!(
                    "carrier {:?} already exists for tenant {}",
                    new.name.as_str(),
                    new.tenant_id
                ),
                &format!("tenant {} does not exist", new.tenant_id),
            )
        })?;
        let carrier = catalog_model::carrier(&row, self.keyring.as_deref())?;
        self.commit_audited(
            tx,
            Audit {
                tenant: carrier.tenant_id,
                actor: &ctx.actor,
                action: "create",
                entity: "carrier",
                entity_id: carrier.id.0,
                detail: format!(
                    "{:?}, {}, enabled {}, max_channels {:?}",
                    carrier.name,
                    describe(&carrier.auth),
                    carrier.enabled,
                    carrier.max_channels
                ),
            },
            Change::CarrierUpserted(carrier.clone()),
        )
        .await?;
        Ok(carrier)
    }

    /// A carrier visible in `scope` (customers see none).
    pub async fn get_carrier(&self, scope: Scope, id: CarrierId) -> Result<Carrier, StoreError> {
        let mut tx = self.write_tx().await?;
        let carrier = visible(&mut tx, self.keyring.as_deref(), scope, id).await?;
        tx.commit().await?;
        Ok(carrier)
    }

    /// Carriers visible in `scope` that pass `filter`, in id order.
    pub async fn list_carriers(
        &self,
        scope: Scope,
        filter: CarrierFilter,
        page: Page,
    ) -> Result<Vec<Carrier>, StoreError> {
        let mut q = Sql::new(COLS);
        q.scope("tenant_id", scope);
        if let Some(t) = filter.tenant_id {
            q.push(" AND tenant_id = ").bind(t.0);
        }
        if let Some(e) = filter.enabled {
            q.push(" AND enabled = ").bind(e);
        }
        q.page("id", page)?;
        let rows = q.query().fetch_all(&self.pool).await?;
        (rows.iter())
            .map(|r| catalog_model::carrier(r, self.keyring.as_deref()))
            .collect()
    }

    /// Applies `update` to a carrier visible in the scope.
    pub async fn update_carrier(
        &self,
        ctx: &Ctx,
        id: CarrierId,
        update: &CarrierUpdate,
    ) -> Result<Carrier, StoreError> {
        let mut tx = self.write_tx().await?;
        let old = visible(&mut tx, self.keyring.as_deref(), ctx.scope, id).await?;
        let mut u = Update::new("carriers");
        if let Some(name) = &update.name {
            u.set("name", name.as_str(), format!("name {:?}", name.as_str()));
        }
        if let Some(auth) = &update.auth {
            let (mode, username, password, realm) = self.auth_columns(auth)?;
            u.set("auth_mode", mode, describe(auth));
            u.set_quiet("username", username);
            u.set_quiet("password", password);
            u.set_quiet("realm", realm);
        }
        if let Some(enabled) = update.enabled {
            u.set("enabled", enabled, format!("enabled {enabled}"));
        }
        if let Some(max) = update.max_channels {
            u.set(
                "max_channels",
                max.map(i64::from),
                format!("max_channels {max:?}"),
            );
        }
        if u.is_empty() {
            return Ok(old);
        }
        let (mut q, detail) = u.finish();
        q.push(" WHERE id = ").bind(id.0).push(RETURNING);
        let row = q.query().fetch_one(&mut *tx).await.map_err(|e| {
            map_constraint(
                e,
                &format!(
                    "carrier {:?} already exists for tenant {}",
                    update.name.as_ref().map_or("", CarrierName::as_str),
                    old.tenant_id
                ),
                "carrier reference",
            )
        })?;
        let carrier = catalog_model::carrier(&row, self.keyring.as_deref())?;
        self.commit_audited(
            tx,
            Audit {
                tenant: carrier.tenant_id,
                actor: &ctx.actor,
                action: "update",
                entity: "carrier",
                entity_id: id.0,
                detail,
            },
            Change::CarrierUpserted(carrier.clone()),
        )
        .await?;
        Ok(carrier)
    }

    /// Deletes a carrier visible in the scope, with its gateways. Refused (`Conflict`) while
    /// routes still use it.
    pub async fn delete_carrier(&self, ctx: &Ctx, id: CarrierId) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let carrier = visible(&mut tx, self.keyring.as_deref(), ctx.scope, id).await?;
        let mut q = Sql::new("DELETE FROM gateways WHERE carrier_id = ");
        q.bind(id.0);
        let gateways = q.query().execute(&mut *tx).await?.rows_affected();
        let mut q = Sql::new("DELETE FROM carriers WHERE id = ");
        q.bind(id.0);
        q.query().execute(&mut *tx).await.map_err(|e| {
            map_constraint(
                e,
                "carrier",
                &format!("carrier {:?} is still used by routes", carrier.name),
            )
        })?;
        self.commit_audited(
            tx,
            Audit {
                tenant: carrier.tenant_id,
                actor: &ctx.actor,
                action: "delete",
                entity: "carrier",
                entity_id: id.0,
                detail: format!("{:?} with {gateways} gateways", carrier.name),
            },
            Change::CarrierDeleted(id),
        )
        .await?;
        Ok(())
    }
}
