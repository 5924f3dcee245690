#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic
//! The catalog suite (devices, carriers, gateways, routes, rates, routing snapshot), run on
//! SQLite and on PostgreSQL.

#[path = "../common/mod.rs"]
mod common;

mod carriers;
mod devices;
mod fixtures;
mod rates;
mod routes;
mod rules;
mod snapshot;

use carriers::*;
use devices::*;
use rates::*;
use routes::*;
use rules::*;
use snapshot::*;

on_both_backends!(
    devices_crud,
    devices_isolation,
    carriers_crud,
    gateways_crud,
    carriers_isolation,
    routes_crud_and_carrier_rule,
    routes_isolation,
    rate_tables_and_rates,
    rate_lookup_longest_prefix,
    tenant_rate_table,
    pagination,
    validation_names_the_field,
    carrier_passwords_never_leak,
    catalog_audit,
    snapshot_follows_routes,
    snapshot_trusts_carrier_sources,
);
