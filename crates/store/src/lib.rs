//! Trunkline's provisioning store: the multi-tenant domain model (tenants, SIP domains, users
//! with digest HA1s, DIDs, API keys, audit log), the catalog (devices, carriers and their
//! gateways, outbound routes, rate tables) and the CDRs with their durable journal, on SQLite or
//! PostgreSQL, chosen by URL.
//!
//! It is not the call path: signalling reads an in-memory [`Snapshot`] kept fresh by the change
//! feed, never the database. It does no HTTP; the API and the CLI sit on top of it.
//!
//! Every read and write takes a tenancy [`Scope`], applied in SQL, so rows of another tenant are
//! never fetched and look exactly like rows that do not exist.
//!
//! CDRs reach the database through the [`CdrJournal`], which acknowledges a CDR once it is on
//! disk and delivers it when the database is there, so an outage or a crash loses none.
//!
//! ```no_run
//! # async fn demo() -> Result<(), trunkline_store::StoreError> {
//! use trunkline_store::*;
//! let store = Store::connect("sqlite://trunkline.db?mode=rwc").await?;
//! let ctx = Ctx::new(Scope::Platform, "cli");
//! let acme = store
//!     .create_tenant(&ctx, TenantKind::Customer, store.platform_id(), &TenantName::parse("ACME")?)
//!     .await?;
//! let domain = store.create_domain(&ctx, acme.id, &DomainName::parse("example.test")?).await?;
//! let user = NewUser::new(domain.id, Username::parse("1001")?, Password::parse("secret1001")?);
//! store.create_user(&ctx, &user).await?;
//! # Ok(()) }
//! ```

mod accounts;
mod api_keys;
mod audit;
mod auth;
mod carriers;
mod catalog_model;
mod catalog_validate;
mod cdrs;
mod change;
mod claims;
mod devices;
mod dids;
mod domains;
mod error;
mod gateways;
mod ids;
mod journal;
mod kv_log;
mod live;
mod lookup;
mod model;
mod rate_tables;
mod rates;
mod routes;
mod scope;
mod secrets;
mod snapshot;
mod sql;
mod store;
mod tail;
mod tenants;
#[cfg(feature = "testing")]
pub mod testing;
mod text;
mod update;
mod users;
mod validate;

pub use accounts::AccountUpdate;
pub use auth::{Principal, Secret};
pub use carriers::{CarrierFilter, CarrierUpdate, NewCarrier};
pub use catalog_model::{Carrier, CarrierAuth, Device, Gateway, Rate, RateTable, Route, Transport};
pub use catalog_validate::{
    CarrierName, CarrierPassword, CarrierRealm, CarrierUsername, Currency, DeviceModel, DeviceName,
    GatewayHost, MacAddress, RateDescription, RatePrefix, RateTableName, RoutePrefix, RoutePrepend,
};
pub use cdrs::{Cdr, CdrFilter, CdrUuid, Direction, Disposition, Leg, NewCdr, Qos};
pub use change::Change;
pub use devices::{DeviceFilter, DeviceUpdate, NewDevice};
pub use error::{DbFailure, StoreError};
pub use gateways::{GatewayFilter, GatewayUpdate, NewGateway};
pub use ids::{
    AccountId, ApiKeyId, AuditId, CarrierId, CdrId, DeviceId, DidId, DomainId, GatewayId, RateId,
    RateTableId, RouteId, TenantId, UserId,
};
pub use journal::{CdrJournal, JournalError, JournalOptions};
pub use kv_log::{KvLog, KvLogError, Replayed};
pub use live::{LiveCall, LiveHandle, LiveMedia, LiveRequest, RecordOutcome};
pub use model::{Account, ApiKey, AuditEntry, Did, Domain, Ha1, Role, Tenant, TenantKind, User};
pub use rate_tables::{RateTableFilter, RateTableUpdate};
pub use rates::{MAX_MONEY, NewRate, RateFilter, RateUpdate};
pub use routes::{NewRoute, RouteFilter, RouteUpdate};
pub use scope::{Ctx, Scope};
pub use secrets::Keyring;
pub use snapshot::{RouteTarget, Snapshot, SnapshotHandle, SnapshotUser};
pub use store::{Backend, ConnectOptions, Store};
pub use tenants::TenantFilter;
pub use users::{NewUser, UserUpdate};
pub use validate::{CallerId, DomainName, E164, Login, Page, Password, TenantName, Username};
