//! The routing part of the snapshot: each tenant's parent, carriers, enabled gateways and
//! enabled outbound routes, indexed so that the router's two questions — where may this
//! customer's call to this number go, and which carrier sent this inbound call — are answered
//! with a few hash lookups and no database access.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use sqlx::AnyPool;

use super::Snapshot;
use crate::catalog_model::{self, Carrier, CarrierAuth, Gateway, Route};
use crate::model;
use crate::{CarrierId, Change, GatewayId, Keyring, RouteId, StoreError, TenantId};

/// Longest route prefix in characters (a `+` and 20 digits).
const MAX_PREFIX_CHARS: usize = 21;
/// Platform → reseller → customer: no chain of parents is longer.
const MAX_DEPTH: usize = 3;

/// One way out for a call: a matching route, its carrier and the carrier's enabled gateways
/// (by ascending priority, then id; spreading by weight is the router's job).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTarget {
    /// The matching route.
    pub route: Arc<Route>,
    /// Its carrier (enabled).
    pub carrier: Arc<Carrier>,
    /// The carrier's enabled gateways; never empty.
    pub gateways: Arc<[Gateway]>,
}

impl RouteTarget {
    /// The number as this route sends it to the carrier (see [`Route::rewrite`]).
    pub fn number(&self, dialled: &str) -> String {
        self.route.rewrite(dialled)
    }
}

#[derive(Debug, Clone, Default)]
pub(super) struct Routing {
    parents: HashMap<TenantId, Option<TenantId>>,
    carriers: HashMap<CarrierId, Arc<Carrier>>,
    /// Enabled gateways of each carrier, sorted by (priority, id).
    gateways: HashMap<CarrierId, Arc<[Gateway]>>,
    /// Where each enabled gateway is filed: its carrier and, for IP-literal hosts, its address.
    gateway_keys: HashMap<GatewayId, (CarrierId, Option<IpAddr>)>,
    /// Trusted source address → the carriers (and gateways) with that address.
    sources: HashMap<IpAddr, BTreeSet<(CarrierId, GatewayId)>>,
    /// Enabled routes: tenant → prefix → routes.
    routes: HashMap<TenantId, HashMap<String, Vec<Arc<Route>>>>,
    route_keys: HashMap<RouteId, (TenantId, String)>,
}

impl Routing {
    pub(super) fn apply(&mut self, change: Change) {
        match change {
            Change::TenantUpserted(t) => {
                self.parents.insert(t.id, t.parent_id);
            }
            Change::TenantDeleted(id) => {
                self.parents.remove(&id);
            }
            Change::CarrierUpserted(c) => {
                self.carriers.insert(c.id, Arc::new(c));
            }
            Change::CarrierDeleted(id) => {
                self.carriers.remove(&id);
                let ids: Vec<GatewayId> = self
                    .gateways
                    .get(&id)
                    .map(|gs| gs.iter().map(|g| g.id).collect())
                    .unwrap_or_default();
                for g in ids {
                    self.remove_gateway(g);
                }
            }
            Change::GatewayUpserted(g) => {
                self.remove_gateway(g.id);
                if g.enabled {
                    self.insert_gateway(g);
                }
            }
            Change::GatewayDeleted(id) => self.remove_gateway(id),
            Change::RouteUpserted(r) => {
                self.remove_route(r.id);
                if r.enabled {
                    self.route_keys
                        .insert(r.id, (r.tenant_id, r.prefix.clone()));
                    self.routes
                        .entry(r.tenant_id)
                        .or_default()
                        .entry(r.prefix.clone())
                        .or_default()
                        .push(Arc::new(r));
                }
            }
            Change::RouteDeleted(id) => self.remove_route(id),
            _ => {}
        }
    }

    fn insert_gateway(&mut self, g: Gateway) {
        let ip = g.host.parse::<IpAddr>().ok();
        if let Some(ip) = ip {
            self.sources
                .entry(ip)
                .or_default()
                .insert((g.carrier_id, g.id));
        }
        self.gateway_keys.insert(g.id, (g.carrier_id, ip));
        let carrier = g.carrier_id;
        let mut list: Vec<Gateway> = self
            .gateways
            .get(&carrier)
            .map(|gs| gs.to_vec())
            .unwrap_or_default();
        list.push(g);
        list.sort_by_key(|g| (g.priority, g.id));
        self.gateways.insert(carrier, list.into());
    }

    fn remove_gateway(&mut self, id: GatewayId) {
        let Some((carrier, ip)) = self.gateway_keys.remove(&id) else {
            return;
        };
        if let Some(ip) = ip
            && let Some(set) = self.sources.get_mut(&ip)
        {
            set.remove(&(carrier, id));
            if set.is_empty() {
                self.sources.remove(&ip);
            }
        }
        if let Some(list) = self.gateways.get(&carrier) {
            let rest: Vec<Gateway> = list.iter().filter(|g| g.id != id).cloned().collect();
            if rest.is_empty() {
                self.gateways.remove(&carrier);
            } else {
                self.gateways.insert(carrier, rest.into());
            }
        }
    }

    fn remove_route(&mut self, id: RouteId) {
        let Some((tenant, prefix)) = self.route_keys.remove(&id) else {
            return;
        };
        if let Some(by_prefix) = self.routes.get_mut(&tenant) {
            if let Some(list) = by_prefix.get_mut(&prefix) {
                list.retain(|r| r.id != id);
                if list.is_empty() {
                    by_prefix.remove(&prefix);
                }
            }
            if by_prefix.is_empty() {
                self.routes.remove(&tenant);
            }
        }
    }

    /// Reads tenants, carriers, gateways and routes (disabled ones are dropped by `apply`).
    pub(super) async fn load(
        pool: &AnyPool,
        keyring: Option<&Keyring>,
    ) -> Result<Self, StoreError> {
        let mut r = Self::default();
        let rows = sqlx::query("SELECT id, kind, parent_id, name, created_at FROM tenants")
            .fetch_all(pool)
            .await?;
        for row in &rows {
            r.apply(Change::TenantUpserted(model::tenant(row)?));
        }
        let rows = sqlx::query(
            "SELECT id, tenant_id, name, auth_mode, username, password, realm, enabled, \
             max_channels, created_at FROM carriers",
        )
        .fetch_all(pool)
        .await?;
        for row in &rows {
            r.apply(Change::CarrierUpserted(catalog_model::carrier(
                row, keyring,
            )?));
        }
        let rows = sqlx::query(
            "SELECT id, carrier_id, host, port, transport, priority, weight, enabled, created_at \
             FROM gateways",
        )
        .fetch_all(pool)
        .await?;
        for row in &rows {
            r.apply(Change::GatewayUpserted(catalog_model::gateway(row)?));
        }
        let rows = sqlx::query(
            "SELECT id, tenant_id, prefix, carrier_id, priority, strip, prepend, enabled, \
             created_at FROM routes",
        )
        .fetch_all(pool)
        .await?;
        for row in &rows {
            r.apply(Change::RouteUpserted(catalog_model::route(row)?));
        }
        Ok(r)
    }

    /// `tenant`, its parent, its grandparent.
    fn lineage(&self, tenant: TenantId) -> Vec<TenantId> {
        let mut chain = vec![tenant];
        let mut cur = tenant;
        while chain.len() < MAX_DEPTH {
            match self.parents.get(&cur) {
                Some(Some(parent)) => {
                    chain.push(*parent);
                    cur = *parent;
                }
                _ => break,
            }
        }
        chain
    }
}

impl Snapshot {
    /// Where a call from `customer` to `number` may go: enabled routes of the customer, of its
    /// reseller and of the platform whose prefix starts `number` (compared character by
    /// character, so `+49` matches `+4930…` only), through an enabled carrier with at least one
    /// enabled gateway.
    ///
    /// Ordered by longest prefix first; at equal length the customer's own routes before its
    /// reseller's before the platform's; then by priority, then route id.
    pub fn routes_for(&self, customer: TenantId, number: &str) -> Vec<RouteTarget> {
        let r = &self.routing;
        let mut found: Vec<(usize, usize, &Arc<Route>)> = Vec::new();
        for (level, tenant) in r.lineage(customer).into_iter().enumerate() {
            let Some(by_prefix) = r.routes.get(&tenant) else {
                continue;
            };
            for end in 0..=number.len().min(MAX_PREFIX_CHARS) {
                if !number.is_char_boundary(end) {
                    continue;
                }
                if let Some(list) = by_prefix.get(&number[..end]) {
                    found.extend(list.iter().map(|route| (end, level, route)));
                }
            }
        }
        found.sort_by_key(|(len, level, route)| (Reverse(*len), *level, route.priority, route.id));
        found
            .into_iter()
            .filter_map(|(_, _, route)| {
                let carrier = r.carriers.get(&route.carrier_id).filter(|c| c.enabled)?;
                let gateways = r.gateways.get(&route.carrier_id)?;
                Some(RouteTarget {
                    route: Arc::clone(route),
                    carrier: Arc::clone(carrier),
                    gateways: Arc::clone(gateways),
                })
            })
            .collect()
    }

    /// The enabled ip-auth carrier that has an enabled gateway whose host is the IP address
    /// `source` (IPv4-mapped IPv6 addresses count as IPv4). If several carriers share the
    /// address, the oldest (lowest id) wins. DNS-named gateways are never trusted as sources.
    pub fn carrier_by_source(&self, source: IpAddr) -> Option<&Carrier> {
        let r = &self.routing;
        r.sources
            .get(&source.to_canonical())?
            .iter()
            .filter_map(|(id, _)| r.carriers.get(id))
            .find(|c| c.enabled && matches!(c.auth, CarrierAuth::Ip))
            .map(Arc::as_ref)
    }

    /// Whether `tenant` is `ancestor` or below it (its customer, or a reseller's customer).
    pub fn is_within(&self, tenant: TenantId, ancestor: TenantId) -> bool {
        self.routing.lineage(tenant).contains(&ancestor)
    }

    /// Whether `tenant` is the platform (the one tenant without a parent).
    pub fn is_platform(&self, tenant: TenantId) -> bool {
        matches!(self.routing.parents.get(&tenant), Some(None))
    }

    /// A carrier by id, enabled or not.
    pub fn carrier(&self, id: CarrierId) -> Option<&Carrier> {
        self.routing.carriers.get(&id).map(Arc::as_ref)
    }
}
