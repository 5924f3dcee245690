//! A proxy's response context (RFC 3261 §16.7), sans-IO: the branches of one forwarded
//! request, parallel within a group and serial across groups (decreasing q), which responses
//! go upstream, which branches must be cancelled, and the best final response (§16.7 item 6)
//! with the challenges of every 401/407 gathered into it (item 7).
//!
//! The driver owns the transactions: it starts a client transaction for every
//! [`Step::Start`], feeds back what they return, sends a CANCEL for every [`Step::Cancel`] and
//! forwards what [`Step::Forward`] and [`Step::Final`] carry.

use std::collections::VecDeque;

use crate::Received;
use trunkline_sip::HeaderName;

/// One branch of a fork, numbered in start order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BranchId(pub usize);

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<T> {
    /// Forward the request to `target` on a new client transaction for `branch`.
    Start {
        /// The branch.
        branch: BranchId,
        /// Where it goes.
        target: T,
    },
    /// Send a CANCEL for the INVITE of `branch` (it has had a provisional response).
    Cancel(BranchId),
    /// Forward this provisional or 2xx response of `branch` upstream.
    Forward(BranchId, Received),
    /// The final answer upstream: the best response, and the challenges of the other
    /// 401/407 responses to add to it. `response` is `None` when the best is one the proxy
    /// makes itself (`code` is then 408, 480 or 503 from a timeout, no target or a transport
    /// error).
    Final {
        /// Its status code.
        code: u16,
        /// The response as received, if one was.
        response: Option<Received>,
        /// `(header, value)` challenges to append (WWW-Authenticate or Proxy-Authenticate).
        challenges: Vec<(HeaderName, String)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Forwarded, nothing heard yet.
    Calling,
    /// A provisional response came.
    Proceeding,
    /// Ended with this code (and the response, unless the proxy made it itself).
    Done(u16, Option<Received>),
}

#[derive(Debug, Clone)]
struct Branch {
    state: State,
    /// The caller cancelled, or another branch won: CANCEL once it is proceeding.
    cancel_wanted: bool,
    cancel_sent: bool,
}

/// The response context of one request a proxy forwards.
#[derive(Debug, Clone)]
pub struct Fork<T> {
    invite: bool,
    groups: VecDeque<Vec<T>>,
    branches: Vec<Branch>,
    final_sent: bool,
    cancelled: bool,
}

impl<T> Fork<T> {
    /// A context for a request (`invite` for INVITE, whose 2xx responses are all forwarded and
    /// whose branches can be cancelled) to `groups` of targets: all of a group in parallel,
    /// the next group only when every branch of the previous one has failed.
    pub fn new(invite: bool, groups: Vec<Vec<T>>) -> Self {
        Fork {
            invite,
            groups: groups.into_iter().filter(|g| !g.is_empty()).collect(),
            branches: Vec::new(),
            final_sent: false,
            cancelled: false,
        }
    }

    /// Starts the first group; with no target at all the final answer is 480.
    pub fn start(&mut self, out: &mut Vec<Step<T>>) {
        self.next_group_or_final(out);
    }

    /// Whether the final response has gone upstream and no branch is still pending.
    pub fn is_finished(&self) -> bool {
        self.final_sent && self.pending().next().is_none()
    }

    /// Whether a final response has gone upstream.
    pub fn answered(&self) -> bool {
        self.final_sent
    }

    /// Whether branch `b` has its final response (it will never need a CANCEL).
    pub fn is_done(&self, b: BranchId) -> bool {
        matches!(
            self.branches.get(b.0),
            Some(Branch {
                state: State::Done(..),
                ..
            })
        )
    }

    /// Whether branch `b` is to be cancelled (the caller cancelled, another branch won, or
    /// Timer C fired) or already has its final response: a branch whose request has not gone
    /// out yet need not go out at all.
    pub fn is_unwanted(&self, b: BranchId) -> bool {
        self.is_done(b) || self.branches.get(b.0).is_some_and(|x| x.cancel_wanted)
    }

    /// Once answered, lets go of the branches' final responses, kept only to choose the best.
    pub fn settle(&mut self) {
        if !self.final_sent {
            return;
        }
        for b in &mut self.branches {
            if let State::Done(_, response) = &mut b.state {
                *response = None;
            }
        }
    }

    /// Branches started so far.
    pub fn branch_count(&self) -> usize {
        self.branches.len()
    }

    /// A response on `branch`'s client transaction.
    pub fn response(
        &mut self,
        branch: BranchId,
        code: u16,
        bytes: Received,
        out: &mut Vec<Step<T>>,
    ) {
        let invite = self.invite;
        let final_sent = self.final_sent;
        let Some(b) = self.branches.get_mut(branch.0) else {
            return;
        };
        if let State::Done(..) = b.state {
            // A 2xx retransmission or a second 2xx from a forked INVITE: every 2xx goes
            // upstream (§16.7 item 4), the UAC sorts out the dialogs.
            if invite && (200..300).contains(&code) {
                out.push(Step::Forward(branch, bytes));
            }
            return;
        }
        match code {
            100 => {
                b.state = State::Proceeding;
                Self::cancel_if_wanted(branch, b, out);
            }
            101..=199 => {
                b.state = State::Proceeding;
                Self::cancel_if_wanted(branch, b, out);
                if !final_sent && !self.cancelled {
                    out.push(Step::Forward(branch, bytes));
                }
            }
            200..=299 => {
                b.state = State::Done(code, None);
                if !final_sent || invite {
                    out.push(Step::Forward(branch, bytes));
                }
                self.final_sent = true;
                self.groups.clear();
                self.cancel_pending(out);
            }
            _ => {
                b.state = State::Done(code, Some(bytes));
                if code >= 600 {
                    self.groups.clear();
                    self.cancel_pending(out);
                }
                self.maybe_finish(out);
            }
        }
    }

    /// `branch`'s transaction ended without a final response (408 on a timeout, 503 on a
    /// transport error), or the proxy gave up on it.
    pub fn failed(&mut self, branch: BranchId, code: u16, out: &mut Vec<Step<T>>) {
        let Some(b) = self.branches.get_mut(branch.0) else {
            return;
        };
        if matches!(b.state, State::Done(..)) {
            return;
        }
        b.state = State::Done(code, None);
        self.maybe_finish(out);
    }

    /// A 3xx on `branch` the proxy recurses on: the branch is done (its response kept as a
    /// fallback) and `targets` are tried next, before any later group.
    pub fn redirect(
        &mut self,
        branch: BranchId,
        code: u16,
        bytes: Received,
        targets: Vec<T>,
        out: &mut Vec<Step<T>>,
    ) {
        if !self.cancelled && !self.final_sent && !targets.is_empty() {
            self.groups.push_front(targets);
        }
        self.response(branch, code, bytes, out);
    }

    /// The caller cancelled (§16.10): every pending branch is cancelled and no new one starts.
    /// The callees' 487s then make the final response.
    pub fn cancel(&mut self, out: &mut Vec<Step<T>>) {
        self.cancelled = true;
        self.groups.clear();
        self.cancel_pending(out);
    }

    /// No final response in time (Timer C, §16.8): pending branches are cancelled and count
    /// as 408, which is the answer upstream unless a better one came.
    pub fn expire(&mut self, out: &mut Vec<Step<T>>) {
        self.groups.clear();
        self.cancel_pending(out);
        for b in &mut self.branches {
            if !matches!(b.state, State::Done(..)) {
                b.state = State::Done(408, None);
            }
        }
        self.maybe_finish(out);
    }

    fn pending(&self) -> impl Iterator<Item = (usize, &Branch)> {
        (self.branches.iter().enumerate()).filter(|(_, b)| !matches!(b.state, State::Done(..)))
    }

    fn cancel_pending(&mut self, out: &mut Vec<Step<T>>) {
        if !self.invite {
            return;
        }
        for (i, b) in self.branches.iter_mut().enumerate() {
            if !matches!(b.state, State::Done(..)) {
                b.cancel_wanted = true;
                Self::cancel_if_wanted(BranchId(i), b, out);
            }
        }
    }

    /// §9.1: a CANCEL may only follow a provisional response.
    fn cancel_if_wanted(id: BranchId, b: &mut Branch, out: &mut Vec<Step<T>>) {
        if b.cancel_wanted && !b.cancel_sent && b.state == State::Proceeding {
            b.cancel_sent = true;
            out.push(Step::Cancel(id));
        }
    }

    fn maybe_finish(&mut self, out: &mut Vec<Step<T>>) {
        if self.final_sent || self.pending().next().is_some() {
            return;
        }
        self.next_group_or_final(out);
    }

    fn next_group_or_final(&mut self, out: &mut Vec<Step<T>>) {
        if let Some(group) = self.groups.pop_front() {
            for target in group {
                let branch = BranchId(self.branches.len());
                self.branches.push(Branch {
                    state: State::Calling,
                    cancel_wanted: false,
                    cancel_sent: false,
                });
                out.push(Step::Start { branch, target });
            }
            return;
        }
        self.final_sent = true;
        out.push(self.best());
    }

    /// §16.7 item 6: a 6xx if there is one, else the lowest class; within a class a
    /// response received beats one made locally, then the more useful code (see [`rank`]).
    fn best(&self) -> Step<T> {
        let done = self.branches.iter().filter_map(|b| match &b.state {
            State::Done(code, resp) => Some((*code, resp)),
            _ => None,
        });
        let best = done
            .enumerate()
            .min_by_key(|(i, (code, resp))| (rank(*code, resp.is_some()), *i));
        let Some((_, (code, response))) = best else {
            return Step::Final {
                code: 480,
                response: None,
                challenges: Vec::new(),
            };
        };
        let mut challenges = Vec::new();
        if matches!(code, 401 | 407) {
            for b in &self.branches {
                let State::Done(401 | 407, Some(other)) = &b.state else {
                    continue;
                };
                if Some(other) == response.as_ref() {
                    continue;
                }
                challenges.extend(challenges_of(other));
            }
        }
        Step::Final {
            code,
            response: response.clone(),
            challenges,
        }
    }
}

/// Ordering key for final responses, lower is better: 6xx first (item 6), then 3xx, 4xx, 5xx;
/// received before locally made; within 4xx the codes a caller can act on (authenticate,
/// busy, fix the request) before the rest.
fn rank(code: u16, received: bool) -> (u8, u8, u8) {
    let class = match code / 100 {
        6 => 0,
        c => c as u8,
    };
    let useful = match code {
        401 | 407 | 415 | 420 | 484 => 0,
        486 | 600 => 1,
        _ => 2,
    };
    (class, u8::from(!received), useful)
}

/// The WWW-Authenticate and Proxy-Authenticate values of a response.
fn challenges_of(response: &Received) -> Vec<(HeaderName, String)> {
    let Some(msg) = response.message() else {
        return Vec::new();
    };
    (msg.headers().iter())
        .filter(|h| {
            matches!(
                h.name,
                HeaderName::WwwAuthenticate | HeaderName::ProxyAuthenticate
            )
        })
        .map(|h| (h.name, String::from_utf8_lossy(h.value).into_owned()))
        .collect()
}

#[cfg(test)]
mod tests;
