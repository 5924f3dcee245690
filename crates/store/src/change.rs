//! The in-process change feed: every committed write emits one event, after commit.

use crate::{
    Account, AccountId, ApiKey, Carrier, CarrierId, Device, DeviceId, Did, DidId, Domain, DomainId,
    Gateway, GatewayId, Rate, RateId, RateTable, RateTableId, Route, RouteId, Tenant, TenantId,
    User, UserId,
};

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
    /// A login account was created or changed.
    AccountUpserted(Account),
    /// A login account was deleted.
    AccountDeleted(AccountId),
    /// A device was created or updated (also when deleting its user unassigned it).
    DeviceUpserted(Device),
    /// A device was deleted.
    DeviceDeleted(DeviceId),
    /// A carrier was created or updated.
    CarrierUpserted(Carrier),
    /// A carrier was deleted, and its gateways with it (no separate events for them).
    CarrierDeleted(CarrierId),
    /// A gateway was created or updated.
    GatewayUpserted(Gateway),
    /// A gateway was deleted.
    GatewayDeleted(GatewayId),
    /// An outbound route was created or updated.
    RouteUpserted(Route),
    /// An outbound route was deleted.
    RouteDeleted(RouteId),
    /// A rate table was created or updated.
    RateTableUpserted(RateTable),
    /// A rate table was deleted, and its rates with it (no separate events for them).
    RateTableDeleted(RateTableId),
    /// A rate was created or updated.
    RateUpserted(Rate),
    /// A rate was deleted.
    RateDeleted(RateId),
    /// A customer was assigned a rate table, or unassigned (`None`).
    TenantRateTableSet {
        /// The customer.
        tenant: TenantId,
        /// Its rate table from now on.
        rate_table: Option<RateTableId>,
    },
}
