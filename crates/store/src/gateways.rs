//! Gateways: the addresses of a carrier, tried by priority and spread by weight. For ip-auth
//! carriers, IP-literal gateways are also the trusted sources of inbound calls.

use sqlx::{Any, Transaction};

use crate::catalog_model::{self, Gateway, Transport};
use crate::error::map_constraint;
use crate::sql::Sql;
use crate::store::{Audit, now_ms};
use crate::update::Update;
use crate::{
    CarrierId, Change, Ctx, GatewayHost, GatewayId, Page, Scope, Store, StoreError, TenantId,
};

const COLS: &str = "SELECT g.id, g.carrier_id, g.host, g.port, g.transport, g.priority, \
     g.weight, g.enabled, g.created_at, c.tenant_id AS owner \
     FROM gateways g JOIN carriers c ON c.id = g.carrier_id WHERE ";
const RETURNING: &str =
    " RETURNING id, carrier_id, host, port, transport, priority, weight, enabled, created_at";

/// The SIP port a gateway gets unless told otherwise.
const DEFAULT_SIP_PORT: u16 = 5060;

/// A gateway to create.
#[derive(Debug, Clone)]
pub struct NewGateway {
    /// The carrier.
    pub carrier_id: CarrierId,
    /// IP literal or DNS name.
    pub host: GatewayHost,
    /// 1–65535.
    pub port: u16,
    /// Transport.
    pub transport: Transport,
    /// Lower first.
    pub priority: u16,
    /// Share among equal priorities.
    pub weight: u16,
    /// Whether the gateway is used (and, for ip-auth carriers, trusted).
    pub enabled: bool,
}

impl NewGateway {
    /// An enabled UDP gateway on port 5060, priority 0, weight 1.
    pub fn new(carrier_id: CarrierId, host: GatewayHost) -> Self {
        Self {
            carrier_id,
            host,
            port: DEFAULT_SIP_PORT,
            transport: Transport::Udp,
            priority: 0,
            weight: 1,
            enabled: true,
        }
    }
}

/// Changes to a gateway; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct GatewayUpdate {
    /// New host.
    pub host: Option<GatewayHost>,
    /// New port (1–65535).
    pub port: Option<u16>,
    /// New transport.
    pub transport: Option<Transport>,
    /// New priority.
    pub priority: Option<u16>,
    /// New weight.
    pub weight: Option<u16>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

/// Filters for [`Store::list_gateways`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GatewayFilter {
    /// Only gateways of this carrier.
    pub carrier_id: Option<CarrierId>,
}

fn check_port(port: u16) -> Result<i64, StoreError> {
    if port == 0 {
        return Err(StoreError::invalid(
            "gateway.port",
            "0 is not a port (1 to 65535)",
        ));
    }
    Ok(i64::from(port))
}

/// A gateway visible in `scope`, with its carrier's owner.
async fn visible(
    tx: &mut Transaction<'_, Any>,
    scope: Scope,
    id: GatewayId,
) -> Result<(Gateway, TenantId), StoreError> {
    let mut q = Sql::new(COLS);
    q.push("g.id = ")
        .bind(id.0)
        .push(" AND ")
        .scope("c.tenant_id", scope);
    let Some(row) = q.query().fetch_optional(&mut **tx).await? else {
        return Err(StoreError::not_found("gateway", id));
    };
    Ok((
        catalog_model::gateway(&row)?,
        TenantId(sqlx::Row::try_get(&row, "owner")?),
    ))
}

fn conflict(host: &str, port: i64, transport: Transport) -> String {
    format!(
        "the carrier already has gateway {host}:{port} over {}",
        transport.as_str()
    )
}

impl Store {
    /// Adds a gateway to a carrier visible in the scope.
    pub async fn create_gateway(&self, ctx: &Ctx, new: &NewGateway) -> Result<Gateway, StoreError> {
        if let Scope::Customer(_) = ctx.scope {
            return Err(StoreError::Forbidden {
                what: "customers cannot own carriers or gateways".to_owned(),
            });
        }
        let port = check_port(new.port)?;
        let mut tx = self.write_tx().await?;
        let carrier =
            crate::carriers::visible(&mut tx, self.keyring.as_deref(), ctx.scope, new.carrier_id)
                .await?;
        let mut q = Sql::new(
            "INSERT INTO gateways (carrier_id, host, port, transport, priority, weight, enabled, \
             created_at) VALUES (",
        );
        q.bind(carrier.id.0)
            .push(", ")
            .bind(new.host.as_str())
            .push(", ")
            .bind(port)
            .push(", ")
            .bind(new.transport.as_str())
            .push(", ")
            .bind(i64::from(new.priority))
            .push(", ")
            .bind(i64::from(new.weight))
            .push(", ")
            .bind(new.enabled)
            .push(", ")
            .bind(now_ms())
            .push(")")
            .push(RETURNING);
        let row = q.query().fetch_one(&mut *tx).await.map_err(|e| {
            map_constraint(
                e,
                &conflict(new.host.as_str(), port, new.transport),
                &format!("carrier {} does not exist", carrier.id),
            )
        })?;
        let gateway = catalog_model::gateway(&row)?;
        self.commit_audited(
            tx,
            Audit {
                tenant: carrier.tenant_id,
                actor: &ctx.actor,
                action: "create",
                entity: "gateway",
                entity_id: gateway.id.0,
                detail: format!(
                    "carrier {} {}:{} {} priority {} weight {} enabled {}",
                    carrier.id,
                    gateway.host,
                    gateway.port,
                    gateway.transport.as_str(),
                    gateway.priority,
                    gateway.weight,
                    gateway.enabled
                ),
            },
            Change::GatewayUpserted(gateway.clone()),
        )
        .await?;
        Ok(gateway)
    }

    /// A gateway whose carrier is visible in `scope`.
    pub async fn get_gateway(&self, scope: Scope, id: GatewayId) -> Result<Gateway, StoreError> {
        let mut tx = self.write_tx().await?;
        let (gateway, _) = visible(&mut tx, scope, id).await?;
        tx.commit().await?;
        Ok(gateway)
    }

    /// Gateways of carriers visible in `scope` that pass `filter`, in id order.
    pub async fn list_gateways(
        &self,
        scope: Scope,
        filter: GatewayFilter,
        page: Page,
    ) -> Result<Vec<Gateway>, StoreError> {
        let mut q = Sql::new(COLS);
        q.scope("c.tenant_id", scope);
        if let Some(c) = filter.carrier_id {
            q.push(" AND g.carrier_id = ").bind(c.0);
        }
        q.page("g.id", page)?;
        let rows = q.query().fetch_all(&self.pool).await?;
        rows.iter().map(catalog_model::gateway).collect()
    }

    /// Applies `update` to a gateway whose carrier is visible in the scope.
    pub async fn update_gateway(
        &self,
        ctx: &Ctx,
        id: GatewayId,
        update: &GatewayUpdate,
    ) -> Result<Gateway, StoreError> {
        let port = update.port.map(check_port).transpose()?;
        let mut tx = self.write_tx().await?;
        let (old, owner) = visible(&mut tx, ctx.scope, id).await?;
        let mut u = Update::new("gateways");
        if let Some(host) = &update.host {
            u.set("host", host.as_str(), format!("host {}", host.as_str()));
        }
        if let Some(port) = port {
            u.set("port", port, format!("port {port}"));
        }
        if let Some(t) = update.transport {
            u.set("transport", t.as_str(), format!("transport {}", t.as_str()));
        }
        if let Some(p) = update.priority {
            u.set("priority", i64::from(p), format!("priority {p}"));
        }
        if let Some(w) = update.weight {
            u.set("weight", i64::from(w), format!("weight {w}"));
        }
        if let Some(e) = update.enabled {
            u.set("enabled", e, format!("enabled {e}"));
        }
        if u.is_empty() {
            return Ok(old);
        }
        let (mut q, detail) = u.finish();
        q.push(" WHERE id = ").bind(id.0).push(RETURNING);
        let row = q.query().fetch_one(&mut *tx).await.map_err(|e| {
            map_constraint(
                e,
                &conflict(
                    update.host.as_ref().map_or(&old.host, |h| h.as_str()),
                    port.unwrap_or(i64::from(old.port)),
                    update.transport.unwrap_or(old.transport),
                ),
                "carrier reference",
            )
        })?;
        let gateway = catalog_model::gateway(&row)?;
        self.commit_audited(
            tx,
            Audit {
                tenant: owner,
                actor: &ctx.actor,
                action: "update",
                entity: "gateway",
                entity_id: id.0,
                detail,
            },
            Change::GatewayUpserted(gateway.clone()),
        )
        .await?;
        Ok(gateway)
    }

    /// Deletes a gateway whose carrier is visible in the scope.
    pub async fn delete_gateway(&self, ctx: &Ctx, id: GatewayId) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let (gateway, owner) = visible(&mut tx, ctx.scope, id).await?;
        let mut q = Sql::new("DELETE FROM gateways WHERE id = ");
        q.bind(id.0);
        q.query().execute(&mut *tx).await?;
        self.commit_audited(
            tx,
            Audit {
                tenant: owner,
                actor: &ctx.actor,
                action: "delete",
                entity: "gateway",
                entity_id: id.0,
                detail: format!(
                    "carrier {} {}:{} {}",
                    gateway.carrier_id,
                    gateway.host,
                    gateway.port,
                    gateway.transport.as_str()
                ),
            },
            Change::GatewayDeleted(id),
        )
        .await?;
        Ok(())
    }
}
