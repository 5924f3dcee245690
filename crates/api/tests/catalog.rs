#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic
//! The catalog over real HTTP on SQLite and on PostgreSQL: devices, carriers and gateways,
//! routes, rate tables, rates and a customer's rate table — CRUD, write-only carrier
//! passwords, tenancy, read-only keys, bad input, pagination and the longest-prefix lookup.

mod common;

mod catalog {
    pub mod access;
    pub mod carriers;
    pub mod devices;
    pub mod input;
    pub mod rates;
    pub mod routes;
    pub mod world;
}

use catalog::access::{catalog_isolation, read_only_keys};
use catalog::carriers::{carrier_password_is_write_only, carriers_and_gateways};
use catalog::devices::devices;
use catalog::input::{catalog_bad_input, catalog_openapi, catalog_pagination};
use catalog::rates::{rate_tables_and_rates, tenant_rate_table};
use catalog::routes::routes;

on_both_backends!(
    devices,
    carriers_and_gateways,
    carrier_password_is_write_only,
    routes,
    rate_tables_and_rates,
    tenant_rate_table,
    catalog_isolation,
    read_only_keys,
    catalog_bad_input,
    catalog_pagination,
    catalog_openapi,
);
