//! State the SIP shards share because it is scoped by AOR, source address or user rather than
//! by call: the registrar (location service, nonce replay ring) with its location file, the
//! edge guard (rate buckets, bans), and the concurrent-call count of each user. Each sits
//! behind its own short-held lock; a shard never holds one while it does anything else.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tracing::error;
use trunkline_store::UserId;

use crate::guard::Guard;
use crate::registrar::Registrar;
use crate::registrar::persist::LocationFile;

/// The registrar and the file its bindings are kept in.
#[derive(Debug)]
pub(crate) struct Registry {
    pub(crate) registrar: Registrar,
    pub(crate) file: Option<LocationFile>,
}

impl Registry {
    /// Buffers the current bindings of `aor` for the location file.
    pub(crate) fn save(&mut self, aor: &str, now_ms: u64) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let bindings = self.registrar.lookup(aor, now_ms);
        if let Err(e) = file.save(aor, &bindings) {
            error!(aor, error = %e, "cannot record bindings");
        }
    }

    /// Hands buffered location records to the kernel (one `write`, no sync): called before a
    /// shard sends anything, so a 200 OK never leaves for a binding a crash could lose.
    pub(crate) fn persist(&mut self) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        if !file.has_pending() {
            return;
        }
        if let Err(e) = file.write() {
            error!(error = %e, "cannot write the location file");
        }
        if let Err(e) = file.compact_if_large(self.registrar.location()) {
            error!(error = %e, "cannot compact the location file");
        }
    }
}

/// Calls in progress per user, across shards, for `max_calls`.
#[derive(Debug, Default)]
pub(crate) struct UserCalls(Mutex<HashMap<UserId, u32>>);

impl UserCalls {
    fn map(&self) -> MutexGuard<'_, HashMap<UserId, u32>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Calls `user` is in now.
    pub(crate) fn active(&self, user: UserId) -> u32 {
        self.map().get(&user).copied().unwrap_or(0)
    }

    /// `user` starts a call.
    pub(crate) fn begin(&self, user: UserId) {
        *self.map().entry(user).or_default() += 1;
    }

    /// One of `user`'s calls ended.
    pub(crate) fn end(&self, user: UserId) {
        let mut map = self.map();
        if let Some(n) = map.get_mut(&user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&user);
            }
        }
    }
}

/// What every shard shares.
#[derive(Debug)]
pub(crate) struct Shared {
    registry: Mutex<Registry>,
    guard: Mutex<Guard>,
    /// Concurrent calls per user.
    pub(crate) user_calls: Arc<UserCalls>,
}

impl Shared {
    pub(crate) fn new(registry: Registry, guard: Guard) -> Self {
        Shared {
            registry: Mutex::new(registry),
            guard: Mutex::new(guard),
            user_calls: Arc::default(),
        }
    }

    /// The registrar, locked. A poisoned lock is taken over: a panic elsewhere must not stop
    /// registrations (and the state a registrar leaves is consistent between statements).
    pub(crate) fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The edge guard, locked.
    pub(crate) fn guard(&self) -> MutexGuard<'_, Guard> {
        self.guard.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
