//! The in-process change feed: every committed write emits one event, after commit.

use crate::{ApiKey, Did, DidId, Domain, DomainId, Tenant, TenantId, User, UserId};

/// A committed change. Upserts carry the whole new row so subscribers need no database read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// A tenant was created or renamed.
    TenantUpserted(Tenant),
    /// A tenant was deleted.
    TenantDeleted(TenantId),
    /// A domain was created.
    DomainUpserted(Domain),
    /// A domain was deleted (it had no users left).
    DomainDeleted(DomainId),
    /// A user was created or updated.
    UserUpserted(User),
    /// A user was deleted; DIDs that pointed at it were unassigned (and emitted as upserts).
    UserDeleted(UserId),
    /// A DID was created or re-pointed.
    DidUpserted(Did),
    /// A DID was deleted.
    DidDeleted(DidId),
    /// An API key was created or revoked.
    ApiKeyUpserted(ApiKey),
}
