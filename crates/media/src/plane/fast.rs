//! The data plane's side of the in-kernel fast path ([`crate::kernel`]): which streams are
//! handed to the kernel, keeping the kernel's view in line with the relay core's when a
//! packet is passed up, and taking the kernel's figures back into the core.

use std::net::SocketAddr;
use std::time::Instant;

use tracing::debug;

use super::State;
use crate::CallId;
use crate::kernel::{Route, monotonic_ns};

/// A stream handed to the fast path, or refused by it.
#[derive(Debug)]
pub(super) struct Handed {
    /// The stream as the kernel has it (its statistics as last written or read).
    pub(super) route: Route,
    /// The interface it leaves by (0: to this host).
    pub(super) ifindex: u32,
    /// The kernel's packets and bytes already taken back into the core.
    pub(super) taken: (u64, u64),
    /// Whether the kernel has it. A stream it refused (its table full, no interface towards
    /// the peer) stays in the core until the call changes, rather than being offered again
    /// with every packet.
    pub(super) in_kernel: bool,
}

impl State {
    fn local(&self, port: u16) -> Option<SocketAddr> {
        self.sockets.get(&port)?.local_addr().ok()
    }

    /// The stream arriving on RTP `port` as the kernel would forward it, if it has settled
    /// (and stays on one address family). The relay's own addresses are those already
    /// handed over where the ports are the same, so that only a first hand-over asks the
    /// sockets (a system call each), and a call bridged between families is turned away
    /// before it does.
    fn route(&self, port: u16) -> Option<Route> {
        let h = self.relay.handover(port)?;
        if h.from.is_ipv6() != h.to.is_ipv6() {
            return None;
        }
        let known = (self.handed.get(&port).map(|k| k.route))
            .filter(|r| r.at.port() == h.port && r.out.port() == h.out_port);
        let (at, out) = match known {
            Some(r) => (r.at, r.out),
            None => (self.local(h.port)?, self.local(h.out_port)?),
        };
        let route = Route {
            at,
            from: h.from,
            out,
            to: h.to,
            carry: h.carry,
        };
        route.one_family().then_some(route)
    }

    /// Hands the stream arriving on RTP `port` to the fast path, if it has settled.
    pub(super) fn hand_over(&mut self, port: u16) {
        if self.fast.is_none() || self.handed.contains_key(&port) {
            return;
        }
        let Some(route) = self.route(port) else {
            return;
        };
        let Some(fast) = self.fast.as_mut() else {
            return;
        };
        let written =
            (fast.egress(route.to.ip())).and_then(|i| Ok((i, fast.write(&route, i, (0, 0))?)));
        let (ifindex, in_kernel) = match written {
            Ok((i, ())) => (i, true),
            Err(e) => {
                debug!(port, error = %e, "stream not handed to the fast path");
                (0, false)
            }
        };
        let handed = Handed {
            route,
            ifindex,
            taken: (0, 0),
            in_kernel,
        };
        self.handed.insert(port, handed);
    }

    /// After the core relayed a packet of a call with streams in the kernel (one the kernel
    /// passed up: queued before the hand-over, a NAT rebinding, a new SSRC, a sequence jump),
    /// brings the kernel's view of each of them in line with the core's: unchanged streams
    /// are left alone, changed ones rewritten with their figures carried on, unsettled ones
    /// taken back. So a burst of passed-up packets costs no more than a table read each.
    pub(super) fn refresh_call(&mut self, call: CallId, now: Instant, mono: u64) {
        for port in self.relay.ports(call) {
            if !self.handed.get(&port).is_some_and(|h| h.in_kernel) {
                continue;
            }
            let Some(route) = self.route(port) else {
                self.take_back(port, true, now, mono);
                continue;
            };
            if self.handed.get(&port).is_some_and(|h| h.route == route) {
                continue;
            }
            // Changed: the kernel's latest figures first, then the core's view on top.
            self.take_back(port, false, now, mono);
            let (Some(route), Some(fast)) = (self.route(port), self.fast.as_mut()) else {
                self.take_back(port, true, now, mono);
                continue;
            };
            let Some(handed) = self.handed.get_mut(&port) else {
                continue;
            };
            let ifindex = match route.to == handed.route.to {
                true => Ok(handed.ifindex),
                false => fast.egress(route.to.ip()),
            };
            match ifindex.and_then(|i| fast.write(&route, i, handed.taken).map(|()| i)) {
                Ok(i) => {
                    handed.ifindex = i;
                    handed.route = route;
                }
                Err(e) => {
                    debug!(port, error = %e, "stream taken back from the fast path");
                    self.take_back(port, true, now, mono);
                }
            }
        }
    }

    /// Takes what the fast path forwarded on RTP `port` into the core; with `remove`, the
    /// stream comes back to the core entirely.
    pub(super) fn take_back(&mut self, port: u16, remove: bool, now: Instant, mono: u64) {
        let (Some(fast), Some(handed)) = (self.fast.as_mut(), self.handed.get_mut(&port)) else {
            return;
        };
        let figures = match (handed.in_kernel, remove) {
            (false, _) => None,
            (true, true) => fast.remove(handed.route.at),
            (true, false) => fast.figures(handed.route.at),
        };
        if let Some(f) = figures {
            let more = f.packets.saturating_sub(handed.taken.0);
            let more_bytes = f.bytes.saturating_sub(handed.taken.1);
            handed.taken = (f.packets, f.bytes);
            handed.route.carry = f.carry;
            self.kernel_forwarded += more;
            self.relay
                .take_back(port, (more, more_bytes), f.carry, f.last(now, mono));
        }
        if remove {
            self.handed.remove(&port);
        }
    }

    /// Brings the core's figures of a call's handed-over streams up to date; with `remove`,
    /// its streams come back to the core (before anything about the call changes).
    pub(super) fn take_back_call(&mut self, call: CallId, remove: bool) {
        if self.handed.is_empty() {
            return;
        }
        let (now, mono) = (Instant::now(), monotonic_ns());
        for port in self.relay.ports(call) {
            self.take_back(port, remove, now, mono);
        }
    }
}
