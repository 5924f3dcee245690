//! Transaction timers (RFC 3261 §17 and Table 4, RFC 6026 Timers L and M) and their values.

use std::time::Duration;

/// Timer base values. Defaults are RFC 3261's; carriers shorten T1 on fast links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate, 500 ms.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses, 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network, 5 s.
    pub t4: Duration,
    /// Timer C, the proxy's INVITE guard (RFC 3261 §16.6 item 11): more than 3 minutes.
    /// `None` disables it (a UAC needs none).
    pub timer_c: Option<Duration>,
    /// How long an INVITE server transaction waits for the core before it sends 100 Trying
    /// itself (RFC 3261 §17.2.1: 200 ms).
    pub trying_delay: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            timer_c: Some(Duration::from_secs(180)),
            trying_delay: Duration::from_millis(200),
        }
    }
}

impl Timers {
    /// 64·T1: Timers B, F, H, J, L and M.
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }
}

/// The timers a transaction can run. Names follow RFC 3261 Table 4 and RFC 6026.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKind {
    /// INVITE request retransmit (client, unreliable).
    A,
    /// INVITE transaction timeout (client).
    B,
    /// Proxy INVITE guard (client, reset by provisionals).
    C,
    /// Wait for response retransmits after a non-2xx final (INVITE client).
    D,
    /// Non-INVITE request retransmit (client, unreliable).
    E,
    /// Non-INVITE transaction timeout (client).
    F,
    /// INVITE final response retransmit (server, unreliable).
    G,
    /// Wait for ACK (INVITE server).
    H,
    /// Wait for ACK retransmits (INVITE server).
    I,
    /// Wait for non-INVITE request retransmits (server).
    J,
    /// Wait for non-INVITE response retransmits (client).
    K,
    /// Accepted state of an INVITE server transaction (RFC 6026).
    L,
    /// Accepted state of an INVITE client transaction (RFC 6026).
    M,
    /// Send 100 Trying if the core has not answered an INVITE yet (RFC 3261 §17.2.1).
    Trying,
}

impl TimerKind {
    /// Number of kinds, for per-transaction timer slots.
    pub(crate) const COUNT: usize = 14;

    pub(crate) fn slot(self) -> usize {
        self as usize
    }
}
