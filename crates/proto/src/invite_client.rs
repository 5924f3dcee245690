//! INVITE client transaction (RFC 3261 §17.1.1 with RFC 6026's Accepted state).

use std::time::Duration;

use bytes::Bytes;

use crate::act::{Act, End};
use crate::timer::{TimerKind, Timers};

/// States of Figure 5 of RFC 3261 as amended by Figure 3 of RFC 6026.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteClientState {
    /// INVITE sent, no response yet.
    Calling,
    /// A provisional response arrived.
    Proceeding,
    /// A non-2xx final arrived and was ACKed; absorbing its retransmissions.
    Completed,
    /// A 2xx arrived; further 2xx (from other forks too) go to the core.
    Accepted,
    /// Done.
    Terminated,
}

#[derive(Debug)]
pub(crate) struct InviteClient {
    pub(crate) state: InviteClientState,
    request: Bytes,
    ack: Option<Bytes>,
    reliable: bool,
    a: Duration,
}

impl InviteClient {
    pub(crate) fn new(request: Bytes, reliable: bool, t: &Timers, acts: &mut Vec<Act>) -> Self {
        acts.push(Act::Send(request.clone()));
        if !reliable {
            acts.push(Act::Arm(TimerKind::A, t.t1));
        }
        acts.push(Act::Arm(TimerKind::B, t.t1x64()));
        if let Some(c) = t.timer_c {
            acts.push(Act::Arm(TimerKind::C, c));
        }
        InviteClient {
            state: InviteClientState::Calling,
            request,
            ack: None,
            reliable,
            a: t.t1,
        }
    }

    /// The INVITE as sent (the engine builds the non-2xx ACK and CANCELs from it).
    pub(crate) fn request(&self) -> &Bytes {
        &self.request
    }

    /// A response matched this transaction. `ack` builds the ACK for a non-2xx final.
    pub(crate) fn on_response(
        &mut self,
        code: u16,
        t: &Timers,
        acts: &mut Vec<Act>,
        ack: impl FnOnce() -> Option<Bytes>,
    ) {
        use InviteClientState::*;
        match (self.state, code) {
            (Calling | Proceeding, 100..=199) => {
                self.state = Proceeding;
                acts.push(Act::Disarm(TimerKind::A));
                if let Some(c) = t.timer_c {
                    acts.push(Act::Arm(TimerKind::C, c));
                }
                acts.push(Act::Deliver);
            }
            (Calling | Proceeding, 200..=299) => {
                self.state = Accepted;
                // Nothing is retransmitted or ACKed from here on: 32 s of Timer M need no copy.
                self.request = Bytes::new();
                for k in [TimerKind::A, TimerKind::B, TimerKind::C] {
                    acts.push(Act::Disarm(k));
                }
                acts.push(Act::Arm(TimerKind::M, t.t1x64()));
                acts.push(Act::Deliver);
            }
            // RFC 6026 §8.4: every 2xx in Accepted goes to the core (forked answers included).
            (Accepted, 200..=299) => acts.push(Act::Deliver),
            (Calling | Proceeding, 300..=699) => {
                self.state = Completed;
                for k in [TimerKind::A, TimerKind::B, TimerKind::C] {
                    acts.push(Act::Disarm(k));
                }
                self.ack = ack();
                if let Some(a) = &self.ack {
                    acts.push(Act::Send(a.clone()));
                }
                acts.push(Act::Deliver);
                if self.reliable {
                    self.terminate(acts, End::Normal);
                } else {
                    acts.push(Act::Arm(
                        TimerKind::D,
                        Duration::from_secs(32).max(t.t1x64() / 2),
                    ));
                }
            }
            // A retransmitted final: ACK again, the core already has it.
            (Completed, 300..=699) => {
                if let Some(a) = &self.ack {
                    acts.push(Act::Send(a.clone()));
                }
            }
            _ => {}
        }
    }

    pub(crate) fn on_timer(&mut self, kind: TimerKind, acts: &mut Vec<Act>) {
        use InviteClientState::*;
        match (self.state, kind) {
            (Calling, TimerKind::A) => {
                acts.push(Act::Send(self.request.clone()));
                self.a *= 2;
                acts.push(Act::Arm(TimerKind::A, self.a));
            }
            (Calling, TimerKind::B) => self.terminate(acts, End::Timeout),
            // Timer C expiring is the proxy's business (CANCEL the branch, 408 upstream):
            // the transaction itself ends as a timeout.
            (Calling | Proceeding, TimerKind::C) => self.terminate(acts, End::Timeout),
            (Completed, TimerKind::D) | (Accepted, TimerKind::M) => {
                self.terminate(acts, End::Normal)
            }
            _ => {}
        }
    }

    pub(crate) fn on_transport_error(&mut self, acts: &mut Vec<Act>) {
        if matches!(
            self.state,
            InviteClientState::Calling | InviteClientState::Proceeding
        ) {
            self.terminate(acts, End::TransportError);
        }
    }

    fn terminate(&mut self, acts: &mut Vec<Act>, end: End) {
        self.state = InviteClientState::Terminated;
        acts.push(Act::Terminate(end));
    }
}
