//! What the UDP send path does with datagrams it cannot or must not send: nothing goes to port
//! 0 or to the unspecified address (a request whose Via says `:0` gets no answer, logged at
//! debug), and failed sends are warned about once per reason per [`INTERVAL`], with how many
//! were suppressed since, so a flood of bad requests (oversized answers to malformed INVITEs,
//! unreachable hosts) cannot flood the log (issue 19, finding 7).

use std::io;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::{debug, warn};

/// At most one warning per reason in this interval.
pub(crate) const INTERVAL: Duration = Duration::from_secs(60);

/// Whether a datagram may go to `to`; logs (debug) why not.
pub(crate) fn sendable(to: SocketAddr) -> bool {
    if to.port() == 0 || to.ip().is_unspecified() {
        debug!(%to, "udp datagram not sent: no port or address to send it to");
        return false;
    }
    true
}

/// The reasons seen: kind and OS error number, when the last warning went out, and how many
/// failures were not logged since.
type Seen = Vec<((io::ErrorKind, Option<i32>), Instant, u64)>;

/// Failed sends, for rate-limited warnings.
#[derive(Debug)]
pub(crate) struct SendFailures {
    seen: Mutex<Seen>,
}

/// The process's send failures: one log, whichever socket failed.
pub(crate) static FAILURES: SendFailures = SendFailures {
    seen: Mutex::new(Vec::new()),
};

impl SendFailures {
    /// Counts a failure; `Some(suppressed)` when it should be logged now, with the number of
    /// failures of the same reason that were not logged since the last warning.
    pub(crate) fn note(&self, e: &io::Error, now: Instant) -> Option<u64> {
        let reason = (e.kind(), e.raw_os_error());
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match seen.iter_mut().find(|(r, ..)| *r == reason) {
            Some((_, last, suppressed)) => {
                if now.saturating_duration_since(*last) < INTERVAL {
                    *suppressed += 1;
                    return None;
                }
                let n = *suppressed;
                *last = now;
                *suppressed = 0;
                Some(n)
            }
            None => {
                seen.push((reason, now, 0));
                Some(0)
            }
        }
    }

    /// Logs a failed send to `to`, at most once per reason per [`INTERVAL`].
    pub(crate) fn failed(&self, e: &io::Error, to: SocketAddr) {
        if let Some(suppressed) = self.note(e, Instant::now()) {
            warn!(error = %e, %to, suppressed, "udp send failed (further failures of this kind are logged once a minute, with their count)");
        } else {
            debug!(error = %e, %to, "udp send failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_zero_and_unspecified_are_never_sent_to() {
        for bad in ["127.0.0.1:0", "0.0.0.0:5060", "[::]:5060", "[::1]:0"] {
            assert!(!sendable(bad.parse().unwrap()), "{bad}");
        }
        assert!(sendable("127.0.0.1:5060".parse().unwrap()));
    }

    #[test]
    fn one_warning_per_reason_per_interval() {
        let log = SendFailures {
            seen: Mutex::new(Vec::new()),
        };
        let too_long = io::Error::from_raw_os_error(90); // EMSGSIZE
        let refused = io::Error::from_raw_os_error(111); // ECONNREFUSED
        let t0 = Instant::now();
        assert_eq!(log.note(&too_long, t0), Some(0));
        for _ in 0..49 {
            assert_eq!(log.note(&too_long, t0 + Duration::from_secs(1)), None);
        }
        assert_eq!(log.note(&refused, t0), Some(0), "another reason is logged");
        assert_eq!(log.note(&too_long, t0 + INTERVAL), Some(49));
        assert_eq!(log.note(&too_long, t0 + INTERVAL), None);
    }
}
