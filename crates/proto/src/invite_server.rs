//! INVITE server transaction (RFC 3261 §17.2.1 with RFC 6026's Accepted state).

use bytes::Bytes;

use crate::act::{Act, End, TxError};
use crate::timer::{TimerKind, Timers};

/// States of Figure 7 of RFC 3261 as amended by Figure 5 of RFC 6026.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteServerState {
    /// Waiting for the core's final response.
    Proceeding,
    /// Non-2xx final sent, retransmitting it until the ACK.
    Completed,
    /// ACK received, absorbing its retransmissions.
    Confirmed,
    /// 2xx sent; INVITE retransmissions are absorbed, ACKs go to the core.
    Accepted,
    /// Done.
    Terminated,
}

#[derive(Debug)]
pub(crate) struct InviteServer {
    pub(crate) state: InviteServerState,
    last: Option<Bytes>,
    reliable: bool,
    g: std::time::Duration,
}

impl InviteServer {
    pub(crate) fn new(reliable: bool, t: &Timers, acts: &mut Vec<Act>) -> Self {
        acts.push(Act::Deliver);
        acts.push(Act::Arm(TimerKind::Trying, t.trying_delay));
        InviteServer {
            state: InviteServerState::Proceeding,
            last: None,
            reliable,
            g: t.t1,
        }
    }

    /// True once any response has been sent (the automatic 100 is then unnecessary).
    pub(crate) fn has_responded(&self) -> bool {
        self.last.is_some() || self.state != InviteServerState::Proceeding
    }

    /// A retransmission of the INVITE.
    pub(crate) fn on_request(&mut self, acts: &mut Vec<Act>) {
        match self.state {
            InviteServerState::Proceeding | InviteServerState::Completed => {
                if let Some(last) = &self.last {
                    acts.push(Act::Send(last.clone()));
                }
            }
            // RFC 6026 §7.1: absorbed; the core retransmits its 2xx itself.
            _ => {}
        }
    }

    pub(crate) fn on_ack(&mut self, t: &Timers, acts: &mut Vec<Act>) {
        match self.state {
            InviteServerState::Completed => {
                self.state = InviteServerState::Confirmed;
                acts.push(Act::Disarm(TimerKind::G));
                acts.push(Act::Disarm(TimerKind::H));
                if self.reliable {
                    self.terminate(acts, End::Normal);
                } else {
                    acts.push(Act::Arm(TimerKind::I, t.t4));
                }
            }
            // The ACK to a 2xx belongs to the dialog: the core gets it (RFC 6026 §7.1).
            InviteServerState::Accepted => acts.push(Act::Deliver),
            _ => {}
        }
    }

    pub(crate) fn respond(
        &mut self,
        code: u16,
        bytes: Bytes,
        t: &Timers,
        acts: &mut Vec<Act>,
    ) -> Result<(), TxError> {
        match (self.state, code) {
            (InviteServerState::Proceeding, 100..=199) => {
                acts.push(Act::Disarm(TimerKind::Trying));
                acts.push(Act::Send(bytes.clone()));
                self.last = Some(bytes);
            }
            (InviteServerState::Proceeding | InviteServerState::Accepted, 200..=299) => {
                acts.push(Act::Disarm(TimerKind::Trying));
                acts.push(Act::Send(bytes));
                // In Accepted the core retransmits its 2xx itself (RFC 6026 §7.1): no copy is
                // kept for Timer L's 32 s.
                self.last = None;
                if self.state == InviteServerState::Proceeding {
                    self.state = InviteServerState::Accepted;
                    acts.push(Act::Arm(TimerKind::L, t.t1x64()));
                }
            }
            (InviteServerState::Proceeding, 300..=699) => {
                acts.push(Act::Disarm(TimerKind::Trying));
                acts.push(Act::Send(bytes.clone()));
                self.last = Some(bytes);
                self.state = InviteServerState::Completed;
                if !self.reliable {
                    acts.push(Act::Arm(TimerKind::G, self.g));
                }
                acts.push(Act::Arm(TimerKind::H, t.t1x64()));
            }
            _ => return Err(TxError::WrongState),
        }
        Ok(())
    }

    /// The engine built a 100 Trying because the core was silent for 200 ms.
    pub(crate) fn send_trying(&mut self, bytes: Bytes, acts: &mut Vec<Act>) {
        if self.state == InviteServerState::Proceeding && self.last.is_none() {
            acts.push(Act::Send(bytes.clone()));
            self.last = Some(bytes);
        }
    }

    pub(crate) fn on_timer(&mut self, kind: TimerKind, t: &Timers, acts: &mut Vec<Act>) {
        match (self.state, kind) {
            (InviteServerState::Completed, TimerKind::G) => {
                if let Some(last) = &self.last {
                    acts.push(Act::Send(last.clone()));
                }
                self.g = (self.g * 2).min(t.t2);
                acts.push(Act::Arm(TimerKind::G, self.g));
            }
            (InviteServerState::Completed, TimerKind::H) => self.terminate(acts, End::NoAck),
            (InviteServerState::Confirmed, TimerKind::I)
            | (InviteServerState::Accepted, TimerKind::L) => self.terminate(acts, End::Normal),
            _ => {}
        }
    }

    pub(crate) fn on_transport_error(&mut self, acts: &mut Vec<Act>) {
        if self.state != InviteServerState::Terminated {
            self.terminate(acts, End::TransportError);
        }
    }

    fn terminate(&mut self, acts: &mut Vec<Act>, end: End) {
        self.state = InviteServerState::Terminated;
        acts.push(Act::Terminate(end));
    }
}
