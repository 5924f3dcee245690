//! What every handler shares: the store, the login guard and backoff, and the session lifetime.

use std::sync::Arc;
use std::time::Duration;

use trunkline_store::{CdrJournal, LiveHandle, SnapshotHandle, Store};

use crate::backoff::AccountBackoff;
use crate::guard::LoginGuard;

/// Settings of the API beyond the store.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// How long a login session lasts.
    pub session_ttl: Duration,
    /// Failed logins from one address before it is refused for `ban`.
    pub max_login_failures: u32,
    /// Window in which failures are counted.
    pub failure_window: Duration,
    /// How long an address is refused after too many failures.
    pub ban: Duration,
}

impl Default for ApiOptions {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(12 * 3600),
            max_login_failures: 10,
            failure_window: Duration::from_secs(300),
            ban: Duration::from_secs(900),
        }
    }
}

/// Shared by all handlers; cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiState {
    pub(crate) store: Store,
    pub(crate) guard: Arc<LoginGuard>,
    pub(crate) backoff: Arc<AccountBackoff>,
    pub(crate) session_ttl: Duration,
    pub(crate) snapshot: Option<SnapshotHandle>,
    pub(crate) journal: Option<CdrJournal>,
    /// The node's SIP core, for the calls in progress.
    pub(crate) live: Option<LiveHandle>,
}

impl ApiState {
    /// State for `store` with `options`.
    pub fn new(store: Store, options: &ApiOptions) -> Self {
        Self {
            store,
            guard: Arc::new(LoginGuard::new(
                options.max_login_failures,
                options.failure_window,
                options.ban,
            )),
            backoff: Arc::new(AccountBackoff::default()),
            session_ttl: options.session_ttl,
            snapshot: None,
            journal: None,
            live: None,
        }
    }

    /// Reports the CDRs `journal` still has to deliver at `/api/v1/status`.
    pub fn with_journal(mut self, journal: CdrJournal) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Lists the calls `live` (the node's SIP core) has in progress at `/api/v1/calls`.
    pub fn with_live(mut self, live: LiveHandle) -> Self {
        self.live = Some(live);
        self
    }

    /// Reports `snapshot` (what signalling sees) at `/api/v1/status`.
    pub fn with_snapshot(mut self, snapshot: SnapshotHandle) -> Self {
        self.snapshot = Some(snapshot);
        self
    }
}
