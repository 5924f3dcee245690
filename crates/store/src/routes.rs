//! Outbound routes: which carrier takes numbers with a given prefix. The platform's routes are
//! the defaults for everyone, a reseller's apply to its customers, a customer's to itself; the
//! router combines them from the [`crate::Snapshot`] (see `Snapshot::routes_for`).

use sqlx::{Any, Row, Transaction};

use crate::catalog_model::{self, Route};
use crate::error::map_constraint;
use crate::sql::Sql;
use crate::store::{Audit, now_ms};
use crate::update::Update;
use crate::validate::quoted;
use crate::{
    CarrierId, Change, Ctx, Page, RouteId, RoutePrefix, RoutePrepend, Scope, Store, StoreError,
    TenantId,
};

const COLS: &str = "SELECT id, tenant_id, prefix, carrier_id, priority, strip, prepend, enabled, \
     created_at FROM routes WHERE ";
const RETURNING: &str =
    " RETURNING id, tenant_id, prefix, carrier_id, priority, strip, prepend, enabled, created_at";

/// Most leading characters a route may strip.
const MAX_STRIP: u8 = 20;

/// A route to create.
#[derive(Debug, Clone)]
pub struct NewRoute {
    /// Platform, reseller or customer the route applies for.
    pub tenant_id: TenantId,
    /// Numbers starting with this (empty = every number).
    pub prefix: RoutePrefix,
    /// A carrier of `tenant_id` or of one of its ancestors.
    pub carrier_id: CarrierId,
    /// Lower first.
    pub priority: u16,
    /// Leading characters to remove (0–20; a leading `+` counts as one).
    pub strip: u8,
    /// Put in front after stripping.
    pub prepend: RoutePrepend,
    /// Whether the route is a candidate.
    pub enabled: bool,
}

impl NewRoute {
    /// An enabled route of priority 0 that sends the number unchanged.
    pub fn new(tenant_id: TenantId, prefix: RoutePrefix, carrier_id: CarrierId) -> Self {
        Self {
            tenant_id,
            prefix,
            carrier_id,
            priority: 0,
            strip: 0,
            prepend: RoutePrepend::default(),
            enabled: true,
        }
    }
}

/// Changes to a route; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct RouteUpdate {
    /// New prefix.
    pub prefix: Option<RoutePrefix>,
    /// New carrier (same rule as on creation).
    pub carrier_id: Option<CarrierId>,
    /// New priority.
    pub priority: Option<u16>,
    /// New strip count (0–20).
    pub strip: Option<u8>,
    /// New prepend.
    pub prepend: Option<RoutePrepend>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

/// Filters for [`Store::list_routes`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouteFilter {
    /// Only routes of this tenant.
    pub tenant_id: Option<TenantId>,
    /// Only routes through this carrier.
    pub carrier_id: Option<CarrierId>,
}

fn check_strip(strip: u8) -> Result<i64, StoreError> {
    if strip > MAX_STRIP {
        return Err(StoreError::invalid(
            "route.strip",
            format!("{strip} is more than {MAX_STRIP}"),
        ));
    }
    Ok(i64::from(strip))
}

async fn visible(
    tx: &mut Transaction<'_, Any>,
    scope: Scope,
    id: RouteId,
) -> Result<Route, StoreError> {
    let mut q = Sql::new(COLS);
    q.push("id = ")
        .bind(id.0)
        .push(" AND ")
        .scope("tenant_id", scope);
    let row = q.query().fetch_optional(&mut **tx).await?;
    row.as_ref()
        .map(catalog_model::route)
        .transpose()?
        .ok_or_else(|| StoreError::not_found("route", id))
}

/// `tenant` and its ancestors (the hierarchy is at most three levels deep).
async fn lineage(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
) -> Result<Vec<TenantId>, StoreError> {
    let mut q = Sql::new(
        "SELECT t.parent_id AS parent, p.parent_id AS grandparent \
         FROM tenants t LEFT JOIN tenants p ON p.id = t.parent_id WHERE t.id = ",
    );
    q.bind(tenant.0);
    let row = q
        .query()
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::not_found("tenant", tenant))?;
    let mut chain = vec![tenant];
    for col in ["parent", "grandparent"] {
        if let Some(id) = row.try_get::<Option<i64>, _>(col)? {
            chain.push(TenantId(id));
        }
    }
    Ok(chain)
}

/// Checks that `carrier` belongs to `tenant` or one of its ancestors; any other carrier,
/// existing or not, is reported as not found.
async fn usable_carrier(
    tx: &mut Transaction<'_, Any>,
    tenant: TenantId,
    carrier: CarrierId,
) -> Result<(), StoreError> {
    let chain = lineage(tx, tenant).await?;
    let mut q = Sql::new("SELECT id FROM carriers WHERE id = ");
    q.bind(carrier.0).push(" AND tenant_id IN (");
    for (i, t) in chain.iter().enumerate() {
        if i > 0 {
            q.push(", ");
        }
        q.bind(t.0);
    }
    q.push(")");
    q.query()
        .fetch_optional(&mut **tx)
        .await?
        .map(|_| ())
        .ok_or_else(|| StoreError::not_found("carrier", carrier))
}

fn conflict(prefix: &str, carrier: CarrierId) -> String {
    format!(
        "a route for prefix {} through carrier {carrier} already exists",
        quoted(prefix)
    )
}

impl Store {
    /// Creates a route for a tenant visible in the scope. The carrier must belong to that
    /// tenant or one of its ancestors (`NotFound` otherwise).
    pub async fn create_route(&self, ctx: &Ctx, new: &NewRoute) -> Result<Route, StoreError> {
        let strip = check_strip(new.strip)?;
        let mut tx = self.write_tx().await?;
        crate::tenants::visible(&mut tx, ctx.scope, new.tenant_id).await?;
        usable_carrier(&mut tx, new.tenant_id, new.carrier_id).await?;
        let mut q = Sql::new(
            "INSERT INTO routes (tenant_id, prefix, carrier_id, priority, strip, prepend, \
             enabled, created_at) VALUES (",
        );
        q.bind(new.tenant_id.0)
            .push(", ")
            .bind(new.prefix.as_str())
            .push(", ")
            .bind(new.carrier_id.0)
            .push(", ")
            .bind(i64::from(new.priority))
            .push(", ")
            .bind(strip)
            .push(", ")
            .bind(new.prepend.as_str())
            .push(", ")
            .bind(new.enabled)
            .push(", ")
            .bind(now_ms())
            .push(")")
            .push(RETURNING);
        let row = q.query().fetch_one(&mut *tx).await.map_err(|e| {
            map_constraint(
                e,
                &conflict(new.prefix.as_str(), new.carrier_id),
                "route tenant or carrier does not exist",
            )
        })?;
        let route = catalog_model::route(&row)?;
        self.commit_audited(
            tx,
            Audit {
                tenant: route.tenant_id,
                actor: &ctx.actor,
                action: "create",
                entity: "route",
                entity_id: route.id.0,
                detail: format!(
                    "prefix {:?} → carrier {} priority {} strip {} prepend {:?} enabled {}",
                    route.prefix,
                    route.carrier_id,
                    route.priority,
                    route.strip,
                    route.prepend,
                    route.enabled
                ),
            },
            Change::RouteUpserted(route.clone()),
        )
        .await?;
        Ok(route)
    }

    /// A route visible in `scope`.
    pub async fn get_route(&self, scope: Scope, id: RouteId) -> Result<Route, StoreError> {
        let mut tx = self.write_tx().await?;
        let route = visible(&mut tx, scope, id).await?;
        tx.commit().await?;
        Ok(route)
    }

    /// Routes visible in `scope` that pass `filter`, in id order. A reseller sees its own and
    /// its customers' routes, not the platform's.
    pub async fn list_routes(
        &self,
        scope: Scope,
        filter: RouteFilter,
        page: Page,
    ) -> Result<Vec<Route>, StoreError> {
        let mut q = Sql::new(COLS);
        q.scope("tenant_id", scope);
        if let Some(t) = filter.tenant_id {
            q.push(" AND tenant_id = ").bind(t.0);
        }
        if let Some(c) = filter.carrier_id {
            q.push(" AND carrier_id = ").bind(c.0);
        }
        q.page("id", page)?;
        let rows = q.query().fetch_all(&self.pool).await?;
        rows.iter().map(catalog_model::route).collect()
    }

    /// Applies `update` to a route visible in the scope.
    pub async fn update_route(
        &self,
        ctx: &Ctx,
        id: RouteId,
        update: &RouteUpdate,
    ) -> Result<Route, StoreError> {
        let strip = update.strip.map(check_strip).transpose()?;
        let mut tx = self.write_tx().await?;
        let old = visible(&mut tx, ctx.scope, id).await?;
        let mut u = Update::new("routes");
        if let Some(prefix) = &update.prefix {
            u.set(
                "prefix",
                prefix.as_str(),
                format!("prefix {:?}", prefix.as_str()),
            );
        }
        if let Some(carrier) = update.carrier_id {
            usable_carrier(&mut tx, old.tenant_id, carrier).await?;
            u.set("carrier_id", carrier.0, format!("carrier {carrier}"));
        }
        if let Some(p) = update.priority {
            u.set("priority", i64::from(p), format!("priority {p}"));
        }
        if let Some(s) = strip {
            u.set("strip", s, format!("strip {s}"));
        }
        if let Some(prepend) = &update.prepend {
            u.set(
                "prepend",
                prepend.as_str(),
                format!("prepend {:?}", prepend.as_str()),
            );
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
                    update.prefix.as_ref().map_or(&old.prefix, |p| p.as_str()),
                    update.carrier_id.unwrap_or(old.carrier_id),
                ),
                "carrier does not exist",
            )
        })?;
        let route = catalog_model::route(&row)?;
        self.commit_audited(
            tx,
            Audit {
                tenant: route.tenant_id,
                actor: &ctx.actor,
                action: "update",
                entity: "route",
                entity_id: id.0,
                detail,
            },
            Change::RouteUpserted(route.clone()),
        )
        .await?;
        Ok(route)
    }

    /// Deletes a route visible in the scope.
    pub async fn delete_route(&self, ctx: &Ctx, id: RouteId) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let route = visible(&mut tx, ctx.scope, id).await?;
        let mut q = Sql::new("DELETE FROM routes WHERE id = ");
        q.bind(id.0);
        q.query().execute(&mut *tx).await?;
        self.commit_audited(
            tx,
            Audit {
                tenant: route.tenant_id,
                actor: &ctx.actor,
                action: "delete",
                entity: "route",
                entity_id: id.0,
                detail: format!("prefix {:?} → carrier {}", route.prefix, route.carrier_id),
            },
            Change::RouteDeleted(id),
        )
        .await?;
        Ok(())
    }
}
