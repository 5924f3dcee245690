//! Connection caps for the stream transports (TCP, TLS, WS, WSS): at most
//! `sip.max_connections` at once, and at most `sip.max_connections_per_ip` from one source, so
//! that one host or a connection flood cannot use up the file descriptors and memory that
//! everyone else's connections need.
//!
//! Listeners ask before serving an accepted connection and close it at once when refused;
//! the [`ConnectionPermit`] lives as long as the connection and gives its place back on drop.
//!
//! ```
//! use std::sync::Arc;
//! use trunkline_server::limits::ConnectionLimits;
//!
//! let limits = Arc::new(ConnectionLimits::new(100, 1));
//! let ip = "192.0.2.7".parse().unwrap();
//! let permit = limits.try_acquire(ip).expect("first connection fits");
//! assert!(limits.try_acquire(ip).is_err()); // second from the same address
//! drop(permit);
//! assert!(limits.try_acquire(ip).is_ok());
//! ```

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Who a per-source cap counts: an IPv4 address, or an IPv6 /64, because one IPv6 host
/// normally owns a whole /64 and could otherwise open `max_connections_per_ip` connections
/// from each of its addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    V4(Ipv4Addr),
    V6Prefix(u64),
}

impl Source {
    fn of(ip: IpAddr) -> Source {
        // An IPv4 peer on a dual-stack socket shows up as ::ffff:a.b.c.d; count it as IPv4.
        match ip.to_canonical() {
            IpAddr::V4(v4) => Source::V4(v4),
            IpAddr::V6(v6) => Source::V6Prefix((v6.to_bits() >> 64) as u64),
        }
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionRefused {
    /// The server holds `sip.max_connections` connections already.
    #[error("sip.max_connections ({max}) reached")]
    Total {
        /// The cap.
        max: usize,
    },
    /// The source holds `sip.max_connections_per_ip` connections already.
    #[error("sip.max_connections_per_ip ({max}) reached for this source")]
    PerIp {
        /// The cap.
        max: usize,
    },
}

/// The connection caps, shared by every stream listener of a server.
pub struct ConnectionLimits {
    max_total: usize,
    max_per_ip: usize,
    counts: Mutex<Counts>,
    refused_total: AtomicU64,
    refused_per_ip: AtomicU64,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_source: HashMap<Source, usize>,
}

impl ConnectionLimits {
    /// Caps of `max_total` connections in all and `max_per_ip` from one source.
    pub fn new(max_total: usize, max_per_ip: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_total,
            max_per_ip,
            counts: Mutex::new(Counts::default()),
            refused_total: AtomicU64::new(0),
            refused_per_ip: AtomicU64::new(0),
        }
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        // Every update is a pair of integer changes made without a panic point in between,
        // so a poisoned lock still holds consistent counts.
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes a place for a new connection from `ip`, or says which cap is reached (and
    /// counts the refusal).
    pub fn try_acquire(
        self: &Arc<Self>,
        ip: IpAddr,
    ) -> Result<ConnectionPermit, ConnectionRefused> {
        let source = Source::of(ip);
        let mut counts = self.counts();
        if counts.total >= self.max_total {
            drop(counts);
            self.refused_total.fetch_add(1, Ordering::Relaxed);
            return Err(ConnectionRefused::Total {
                max: self.max_total,
            });
        }
        let from_source = counts.by_source.get(&source).copied().unwrap_or(0);
        if from_source >= self.max_per_ip {
            drop(counts);
            self.refused_per_ip.fetch_add(1, Ordering::Relaxed);
            return Err(ConnectionRefused::PerIp {
                max: self.max_per_ip,
            });
        }
        *counts.by_source.entry(source).or_insert(0) += 1;
        counts.total += 1;
        Ok(ConnectionPermit {
            limits: Arc::clone(self),
            source,
        })
    }

    fn release(&self, source: Source) {
        let mut counts = self.counts();
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.by_source.get_mut(&source) {
            *n -= 1;
            if *n == 0 {
                counts.by_source.remove(&source);
            }
        }
    }

    /// Connections holding a permit now.
    pub fn active(&self) -> usize {
        self.counts().total
    }

    /// Connections refused so far because `sip.max_connections` was reached.
    pub fn refused_total(&self) -> u64 {
        self.refused_total.load(Ordering::Relaxed)
    }

    /// Connections refused so far because their source reached `sip.max_connections_per_ip`.
    pub fn refused_per_ip(&self) -> u64 {
        self.refused_per_ip.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for ConnectionLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionLimits")
            .field("max_total", &self.max_total)
            .field("max_per_ip", &self.max_per_ip)
            .field("active", &self.active())
            .field("refused_total", &self.refused_total())
            .field("refused_per_ip", &self.refused_per_ip())
            .finish()
    }
}

/// One connection's place under the caps; dropping it gives the place back.
#[derive(Debug)]
#[must_use = "the place is given back as soon as the permit is dropped"]
pub struct ConnectionPermit {
    limits: Arc<ConnectionLimits>,
    source: Source,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.limits.release(self.source);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_ip_cap_and_release() {
        let limits = Arc::new(ConnectionLimits::new(10, 2));
        let a = limits.try_acquire(ip("192.0.2.1")).unwrap();
        let _b = limits.try_acquire(ip("192.0.2.1")).unwrap();
        assert_eq!(
            limits.try_acquire(ip("192.0.2.1")).unwrap_err(),
            ConnectionRefused::PerIp { max: 2 }
        );
        let _other = limits.try_acquire(ip("192.0.2.2")).unwrap();
        assert_eq!(limits.active(), 3);
        assert_eq!(limits.refused_per_ip(), 1);
        drop(a);
        assert_eq!(limits.active(), 2);
        let _c = limits.try_acquire(ip("192.0.2.1")).unwrap();
    }

    #[test]
    fn total_cap() {
        let limits = Arc::new(ConnectionLimits::new(2, 2));
        let _a = limits.try_acquire(ip("192.0.2.1")).unwrap();
        let b = limits.try_acquire(ip("192.0.2.2")).unwrap();
        assert_eq!(
            limits.try_acquire(ip("192.0.2.3")).unwrap_err(),
            ConnectionRefused::Total { max: 2 }
        );
        assert_eq!(limits.refused_total(), 1);
        assert_eq!(limits.refused_per_ip(), 0);
        drop(b);
        let _c = limits.try_acquire(ip("192.0.2.3")).unwrap();
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let limits = Arc::new(ConnectionLimits::new(10, 1));
        let _a = limits.try_acquire(ip("2001:db8:1:2::1")).unwrap();
        assert!(limits.try_acquire(ip("2001:db8:1:2::99")).is_err());
        let _b = limits.try_acquire(ip("2001:db8:1:3::1")).unwrap();
        let _c = limits.try_acquire(ip("198.51.100.1")).unwrap();
        assert!(limits.try_acquire(ip("::ffff:198.51.100.1")).is_err());
    }

    #[test]
    fn counts_return_to_zero() {
        let limits = Arc::new(ConnectionLimits::new(5, 5));
        let permits: Vec<_> = (0..5)
            .map(|i| limits.try_acquire(ip(&format!("192.0.2.{i}"))).unwrap())
            .collect();
        assert_eq!(limits.active(), 5);
        drop(permits);
        assert_eq!(limits.active(), 0);
        assert!(limits.counts().by_source.is_empty());

        // A refused source leaves nothing behind.
        let closed = Arc::new(ConnectionLimits::new(5, 0));
        assert!(closed.try_acquire(ip("192.0.2.1")).is_err());
        assert!(closed.counts().by_source.is_empty());
    }
}
