//! State the SIP shards share because it is scoped by AOR, source address or user rather than
//! by call: the registrar (its location service, the nonce replay ring), the
//! edge guard (rate buckets, bans), and the concurrent-call count of each user. Each sits
//! behind its own short-held lock; a shard never holds one while it does anything else.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use trunkline_store::UserId;

use crate::roles::registrar::Registrar;
use crate::transport::guard::Guard;

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
    registrar: Mutex<Registrar>,
    guard: Mutex<Guard>,
    /// Concurrent calls per user.
    pub(crate) user_calls: Arc<UserCalls>,
}

impl Shared {
    pub(crate) fn new(registrar: Registrar, guard: Guard) -> Self {
        Shared {
            registrar: Mutex::new(registrar),
            guard: Mutex::new(guard),
            user_calls: Arc::default(),
        }
    }

    /// The registrar, locked. A poisoned lock is taken over: a panic elsewhere must not stop
    /// registrations (and the state a registrar leaves is consistent between statements).
    pub(crate) fn registrar(&self) -> MutexGuard<'_, Registrar> {
        self.registrar
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The edge guard, locked.
    pub(crate) fn guard(&self) -> MutexGuard<'_, Guard> {
        self.guard.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
