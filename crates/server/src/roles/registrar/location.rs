//! The location service's state: address of record → bindings, with the update rules of
//! RFC 3261 §10.3 (Call-ID/CSeq ordering, `*` removal, per-contact expiry), RFC 5626 flows
//! (a binding is identified by `+sip.instance` and `reg-id` when the UA sends them) and expiry
//! on time. Sans-IO: every operation takes the current time in milliseconds.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use crate::config::Transport;
use crate::transport::flow::FlowId;

/// How a binding is identified: by contact URI, or by instance and reg-id (RFC 5626 §6).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BindingKey {
    /// The contact URI, normalized for comparison.
    Contact(String),
    /// `+sip.instance` and `reg-id`.
    Flow {
        /// The instance id (e.g. `<urn:uuid:…>`).
        instance: String,
        /// The reg-id.
        reg_id: u32,
    },
}

/// Where the REGISTER came from, so requests can reach the UA through its NAT or on the
/// connection it opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// Source address of the REGISTER.
    pub source: SocketAddr,
    /// Transport it arrived on.
    pub transport: Transport,
    /// The connection it arrived on (stream transports), for requests to the UA while the
    /// connection lives (RFC 5626 flows). Not kept across restarts.
    pub flow: Option<FlowRef>,
}

/// A node of the cluster. A single node is [`NodeId::LOCAL`]; the cluster issue gives each
/// node its own, so that a replicated binding says which node holds its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId(pub u32);

impl NodeId {
    /// This node, when it runs alone.
    pub const LOCAL: NodeId = NodeId(0);
}

/// A connection, qualified by the node that holds it: only that node can send on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowRef {
    /// The node holding the connection.
    pub node: NodeId,
    /// The connection on that node.
    pub id: FlowId,
}

impl FlowRef {
    /// A connection of this node.
    pub fn local(id: FlowId) -> Self {
        FlowRef {
            node: NodeId::LOCAL,
            id,
        }
    }
}

/// One registered contact of an address of record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Identity for updates.
    pub key: BindingKey,
    /// The Contact URI as sent.
    pub contact: String,
    /// `q` × 1000 (0–1000); 1000 when absent.
    pub q: u16,
    /// When it expires, ms since the Unix epoch.
    pub expires_at: u64,
    /// Call-ID of the REGISTER that last refreshed it.
    pub call_id: String,
    /// CSeq of that REGISTER.
    pub cseq: u32,
    /// Path header values (RFC 3327), in order, to route requests back through proxies.
    pub path: Vec<String>,
    /// Source and transport of the REGISTER.
    pub received: Received,
    /// `+sip.instance`, if sent.
    pub instance: Option<String>,
    /// `reg-id`, if sent.
    pub reg_id: Option<u32>,
    /// User-Agent of the UA, if sent.
    pub user_agent: Option<String>,
}

impl Binding {
    /// Seconds left, rounded up, at `now_ms`.
    pub fn remaining_secs(&self, now_ms: u64) -> u64 {
        self.expires_at.saturating_sub(now_ms).div_ceil(1000)
    }
}

/// One Contact of a REGISTER, already validated and with its expiry resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactUpdate {
    /// Identity of the binding.
    pub key: BindingKey,
    /// The URI as sent.
    pub contact: String,
    /// `q` × 1000.
    pub q: u16,
    /// Granted lifetime in seconds; 0 removes the binding.
    pub expires: u32,
    /// `+sip.instance`.
    pub instance: Option<String>,
    /// `reg-id`.
    pub reg_id: Option<u32>,
}

/// What a REGISTER asks of one address of record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// Add, refresh or remove the listed bindings.
    Contacts(Vec<ContactUpdate>),
    /// `Contact: *` with `Expires: 0`: remove every binding.
    RemoveAll,
    /// No Contact: only ask for the current bindings.
    Query,
}

/// The REGISTER's own identity and origin, shared by all its contacts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Call-ID.
    pub call_id: String,
    /// CSeq number.
    pub cseq: u32,
    /// Path values.
    pub path: Vec<String>,
    /// Where it came from.
    pub received: Received,
    /// User-Agent.
    pub user_agent: Option<String>,
}

/// Why an update was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// A binding with the same Call-ID has an equal or higher CSeq (§10.3 step 7): the request
    /// is a retransmission or arrived out of order. Answer 500 (RFC 3261 §10.3).
    OutOfOrder,
    /// The address of record would hold more bindings than allowed. Answer 403.
    TooManyBindings,
}

/// Every address of record's bindings, and their expiry times.
#[derive(Debug, Default)]
pub struct Location {
    aors: HashMap<Arc<str>, Vec<Binding>>,
    /// (expires_at, aor) for every binding, so expiry does not scan everything. The AOR is
    /// shared with the map's key, so index updates allocate nothing.
    expiry: BTreeSet<(u64, Arc<str>)>,
    max_bindings: usize,
}

impl Location {
    /// An empty location service allowing `max_bindings` per address of record.
    pub fn new(max_bindings: usize) -> Self {
        Self {
            max_bindings: max_bindings.max(1),
            ..Self::default()
        }
    }

    /// The live bindings of `aor` at `now_ms`, highest q first.
    pub fn lookup(&self, aor: &str, now_ms: u64) -> Vec<&Binding> {
        let mut out: Vec<&Binding> = self
            .aors
            .get(aor)
            .map(|b| b.iter().filter(|b| b.expires_at > now_ms).collect())
            .unwrap_or_default();
        out.sort_by_key(|b| std::cmp::Reverse(b.q));
        out
    }

    /// Number of live bindings in total (expired ones count until [`Location::expire`] runs).
    pub fn len(&self) -> usize {
        self.aors.values().map(Vec::len).sum()
    }

    /// Whether there are no bindings.
    pub fn is_empty(&self) -> bool {
        self.aors.is_empty()
    }

    /// Number of addresses of record with at least one binding.
    pub fn aor_count(&self) -> usize {
        self.aors.len()
    }

    /// Every address of record with its bindings (expired ones included until
    /// [`Location::expire`] runs).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[Binding])> {
        self.aors.iter().map(|(a, b)| (&**a, b.as_slice()))
    }

    /// Applies a REGISTER to `aor` atomically: either every contact is applied or none.
    /// Returns the bindings after the update (expired ones dropped).
    pub fn apply(
        &mut self,
        aor: &str,
        origin: &Origin,
        update: Update,
        now_ms: u64,
    ) -> Result<&[Binding], Refused> {
        let (key, mut list) = match self.aors.remove_entry(aor) {
            Some(entry) => entry,
            None => (Arc::from(aor), Vec::new()),
        };
        for b in &list {
            self.expiry.remove(&(b.expires_at, Arc::clone(&key)));
        }
        list.retain(|b| b.expires_at > now_ms);
        let result = update_in_place(&mut list, origin, update, now_ms, self.max_bindings);
        for b in &list {
            self.expiry.insert((b.expires_at, Arc::clone(&key)));
        }
        if !list.is_empty() {
            self.aors.insert(key, list);
        }
        result?;
        Ok(self.aors.get(aor).map_or(&[], Vec::as_slice))
    }

    /// Puts `bindings` in place of `aor`'s (e.g. loaded from the store at start).
    pub fn replace(&mut self, aor: &str, bindings: Vec<Binding>) {
        let key = match self.aors.remove_entry(aor) {
            Some((key, old)) => {
                for b in &old {
                    self.expiry.remove(&(b.expires_at, Arc::clone(&key)));
                }
                key
            }
            None => Arc::from(aor),
        };
        if bindings.is_empty() {
            return;
        }
        for b in &bindings {
            self.expiry.insert((b.expires_at, Arc::clone(&key)));
        }
        self.aors.insert(key, bindings);
    }

    /// Removes every binding that has expired at `now_ms`; returns the affected addresses of
    /// record so their persisted copies can be updated.
    pub fn expire(&mut self, now_ms: u64) -> Vec<String> {
        let mut touched: Vec<String> = Vec::new();
        while self.expiry.first().is_some_and(|(at, _)| *at <= now_ms) {
            let Some((_, aor)) = self.expiry.pop_first() else {
                break;
            };
            if let Some(bindings) = self.aors.get_mut(&*aor) {
                bindings.retain(|b| b.expires_at > now_ms);
                if bindings.is_empty() {
                    self.aors.remove(&*aor);
                }
            }
            if !touched.iter().any(|t| **t == *aor) {
                touched.push(aor.to_string());
            }
        }
        touched
    }

    /// When the next binding expires, for the driver's timer.
    pub fn next_expiry(&self) -> Option<u64> {
        self.expiry.first().map(|(at, _)| *at)
    }
}

/// Applies `update` to `list` (live bindings only), or changes nothing and says why not.
fn update_in_place(
    list: &mut Vec<Binding>,
    origin: &Origin,
    update: Update,
    now_ms: u64,
    max_bindings: usize,
) -> Result<(), Refused> {
    // §10.3 steps 6–7: refused if a binding has this Call-ID with a CSeq not lower.
    let stale = |b: &Binding| b.call_id == origin.call_id && b.cseq >= origin.cseq;
    let contacts = match update {
        Update::Query => return Ok(()),
        Update::RemoveAll => {
            if list.iter().any(stale) {
                return Err(Refused::OutOfOrder);
            }
            list.clear();
            return Ok(());
        }
        Update::Contacts(contacts) => contacts,
    };
    // Check everything first, so that a refusal changes nothing.
    let mut count = list.len();
    for c in &contacts {
        match list.iter().find(|b| b.key == c.key) {
            Some(b) if stale(b) => return Err(Refused::OutOfOrder),
            Some(_) if c.expires == 0 => count -= 1,
            None if c.expires > 0 => count += 1,
            _ => {}
        }
    }
    if count > max_bindings {
        return Err(Refused::TooManyBindings);
    }
    for c in contacts {
        let existing = list.iter().position(|b| b.key == c.key);
        let expires_at = now_ms.saturating_add(u64::from(c.expires) * 1000);
        match existing {
            Some(i) if c.expires == 0 => {
                list.remove(i);
            }
            Some(i) => {
                let b = &mut list[i];
                b.contact = c.contact;
                b.q = c.q;
                b.expires_at = expires_at;
                b.call_id.clone_from(&origin.call_id);
                b.cseq = origin.cseq;
                b.path.clone_from(&origin.path);
                b.received = origin.received;
                b.instance = c.instance;
                b.reg_id = c.reg_id;
                b.user_agent.clone_from(&origin.user_agent);
            }
            None if c.expires > 0 => list.push(Binding {
                key: c.key,
                contact: c.contact,
                q: c.q,
                expires_at,
                call_id: origin.call_id.clone(),
                cseq: origin.cseq,
                path: origin.path.clone(),
                received: origin.received,
                instance: c.instance,
                reg_id: c.reg_id,
                user_agent: origin.user_agent.clone(),
            }),
            None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const AOR: &str = "1001@example.test";

    fn origin(call_id: &str, cseq: u32) -> Origin {
        Origin {
            call_id: call_id.to_owned(),
            cseq,
            path: Vec::new(),
            received: Received {
                source: "192.0.2.1:5060".parse().unwrap(),
                transport: Transport::Udp,
                flow: None,
            },
            user_agent: None,
        }
    }

    fn contact(uri: &str, expires: u32, q: u16) -> ContactUpdate {
        ContactUpdate {
            key: BindingKey::Contact(uri.to_owned()),
            contact: uri.to_owned(),
            q,
            expires,
            instance: None,
            reg_id: None,
        }
    }

    #[test]
    fn register_refresh_and_remove() {
        let mut l = Location::new(10);
        let up = Update::Contacts(vec![
            contact("sip:a@h1", 60, 1000),
            contact("sip:a@h2", 30, 500),
        ]);
        let b = l.apply(AOR, &origin("c1", 1), up, 0).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(l.lookup(AOR, 0)[0].contact, "sip:a@h1");
        assert_eq!(l.lookup(AOR, 0)[1].remaining_secs(0), 30);
        // Refresh with a higher CSeq, same Call-ID.
        let up = Update::Contacts(vec![contact("sip:a@h2", 120, 500)]);
        l.apply(AOR, &origin("c1", 2), up, 10_000).unwrap();
        assert_eq!(l.lookup(AOR, 10_000)[1].remaining_secs(10_000), 120);
        // Out of order: same Call-ID, CSeq not higher.
        let up = Update::Contacts(vec![contact("sip:a@h2", 0, 500)]);
        assert_eq!(
            l.apply(AOR, &origin("c1", 2), up, 10_000),
            Err(Refused::OutOfOrder)
        );
        // Another Call-ID may remove it with expires 0.
        let up = Update::Contacts(vec![contact("sip:a@h2", 0, 500)]);
        let b = l.apply(AOR, &origin("c9", 1), up, 10_000).unwrap();
        assert_eq!(b.len(), 1);
        // Expiry on time: h1 (60 s) is gone at 60 s.
        assert_eq!(l.next_expiry(), Some(60_000));
        assert!(l.expire(59_999).is_empty());
        assert_eq!(l.expire(60_000), vec![AOR.to_owned()]);
        assert!(l.lookup(AOR, 60_000).is_empty());
        assert!(l.is_empty());
    }

    #[test]
    fn star_removes_all_and_limits_apply() {
        let mut l = Location::new(2);
        let up = Update::Contacts(vec![
            contact("sip:a@h1", 60, 1000),
            contact("sip:a@h2", 60, 1000),
        ]);
        assert!(l.apply(AOR, &origin("c1", 1), up, 0).is_ok());
        let up = Update::Contacts(vec![contact("sip:a@h3", 60, 1000)]);
        assert_eq!(
            l.apply(AOR, &origin("c2", 1), up, 0),
            Err(Refused::TooManyBindings)
        );
        assert_eq!(
            l.lookup(AOR, 0).len(),
            2,
            "a refused update changes nothing"
        );
        assert_eq!(
            l.apply(AOR, &origin("c1", 1), Update::RemoveAll, 0),
            Err(Refused::OutOfOrder)
        );
        assert_eq!(
            l.apply(AOR, &origin("c1", 2), Update::RemoveAll, 0),
            Ok(&[][..])
        );
        assert!(l.is_empty());
        assert_eq!(l.next_expiry(), None);
    }

    #[test]
    fn outbound_flows_replace_by_instance_and_reg_id() {
        let mut l = Location::new(10);
        let flow = |uri: &str, reg_id| ContactUpdate {
            key: BindingKey::Flow {
                instance: "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>".to_owned(),
                reg_id,
            },
            instance: Some("<urn:uuid:00000000-0000-1000-8000-000A95A0E128>".to_owned()),
            reg_id: Some(reg_id),
            ..contact(uri, 60, 1000)
        };
        l.apply(
            AOR,
            &origin("c1", 1),
            Update::Contacts(vec![flow("sip:a@10.0.0.1", 1)]),
            0,
        )
        .unwrap();
        l.apply(
            AOR,
            &origin("c1", 2),
            Update::Contacts(vec![flow("sip:a@10.0.0.1", 2)]),
            0,
        )
        .unwrap();
        // A new contact address on flow 1 (the phone's IP changed) replaces the old binding.
        l.apply(
            AOR,
            &origin("c2", 1),
            Update::Contacts(vec![flow("sip:a@10.0.0.9", 1)]),
            0,
        )
        .unwrap();
        let b = l.lookup(AOR, 0);
        assert_eq!(b.len(), 2);
        assert!(
            b.iter()
                .any(|b| b.contact == "sip:a@10.0.0.9" && b.reg_id == Some(1))
        );
        assert!(
            !b.iter()
                .any(|b| b.contact == "sip:a@10.0.0.1" && b.reg_id == Some(1))
        );
    }
}
