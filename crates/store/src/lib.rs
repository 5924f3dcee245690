//! Trunkline's provisioning store: the multi-tenant domain model (tenants, SIP domains, users
//! with digest HA1s, DIDs, API keys, audit log) on SQLite or PostgreSQL, chosen by URL.
//!
//! It is not the call path: signalling reads an in-memory [`Snapshot`] kept fresh by the change
//! feed, never the database. It does no HTTP; the API and the CLI sit on top of it.
//!
//! Every read and write takes a tenancy [`Scope`], applied in SQL, so rows of another tenant are
//! never fetched and look exactly like rows that do not exist.
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

mod api_keys;
mod audit;
mod change;
mod dids;
mod domains;
mod error;
mod ids;
mod model;
mod scope;
mod snapshot;
mod sql;
mod store;
mod tenants;
mod users;
mod validate;

pub use api_keys::{ApiKeySecret, ApiPrincipal};
pub use change::Change;
pub use error::StoreError;
pub use ids::{ApiKeyId, AuditId, DidId, DomainId, TenantId, UserId};
pub use model::{ApiKey, AuditEntry, Did, Domain, Ha1, Role, Tenant, TenantKind, User};
pub use scope::{Ctx, Scope};
pub use snapshot::{Snapshot, SnapshotHandle, SnapshotUser};
pub use store::{Backend, ConnectOptions, Store};
pub use tenants::TenantFilter;
pub use users::{NewUser, UserUpdate};
pub use validate::{CallerId, DomainName, E164, Page, Password, TenantName, Username};
