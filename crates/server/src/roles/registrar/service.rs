//! The location service behind one interface, so that the registrar and the proxy do not
//! care where bindings are kept: [`LocalLocation`] (this node's memory plus its location
//! file) today, a replicated service in a cluster later. Every implementation keeps a full
//! in-memory [`Location`] that lookups read (a replicated one keeps the cluster's bindings in
//! it, as OpenSIPS' and Kamailio's replicated usrloc do), so lookups never wait on a peer.

use std::fmt;

use tracing::error;

use super::location::{Binding, Location, Origin, Refused, Update};
use super::persist::LocationFile;

/// Where bindings live.
pub trait LocationService: fmt::Debug + Send {
    /// The in-memory view of every binding this node knows.
    fn view(&self) -> &Location;

    /// Applies a REGISTER's update to `aor` (all contacts or none) and records the change
    /// durably as the implementation does it; returns the bindings after the update.
    fn apply(
        &mut self,
        aor: &str,
        origin: &Origin,
        update: Update,
        now_ms: u64,
    ) -> Result<Vec<Binding>, Refused>;

    /// Removes the bindings expired at `now_ms`; returns the addresses of record changed.
    fn expire(&mut self, now_ms: u64) -> Vec<String>;

    /// Makes the changes applied so far survive a crash of the process before anything is
    /// answered for them (a 200 OK never leaves for a binding a crash could lose).
    fn persist(&mut self);

    /// The live bindings of `aor`, highest q first.
    fn lookup(&self, aor: &str, now_ms: u64) -> Vec<&Binding> {
        self.view().lookup(aor, now_ms)
    }

    /// When the next binding expires, ms since the Unix epoch.
    fn next_expiry(&self) -> Option<u64> {
        self.view().next_expiry()
    }
}

/// This node's bindings in memory, written through to the location file when there is one.
#[derive(Debug)]
pub struct LocalLocation {
    location: Location,
    file: Option<LocationFile>,
}

impl LocalLocation {
    /// Bindings in `location` (as loaded from `file`), kept in `file` from now on.
    pub fn new(location: Location, file: Option<LocationFile>) -> Self {
        LocalLocation { location, file }
    }

    /// Buffers the current bindings of `aor` for the file.
    fn save(&mut self, aor: &str, now_ms: u64) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        let bindings = self.location.lookup(aor, now_ms);
        if let Err(e) = file.save(aor, &bindings) {
            error!(aor, error = %e, "cannot record bindings");
        }
    }
}

impl LocationService for LocalLocation {
    fn view(&self) -> &Location {
        &self.location
    }

    fn apply(
        &mut self,
        aor: &str,
        origin: &Origin,
        update: Update,
        now_ms: u64,
    ) -> Result<Vec<Binding>, Refused> {
        let query = matches!(update, Update::Query);
        let bindings = self.location.apply(aor, origin, update, now_ms)?.to_vec();
        if !query {
            self.save(aor, now_ms);
        }
        Ok(bindings)
    }

    fn expire(&mut self, now_ms: u64) -> Vec<String> {
        let changed = self.location.expire(now_ms);
        for aor in &changed {
            self.save(aor, now_ms);
        }
        changed
    }

    fn persist(&mut self) {
        let Some(file) = self.file.as_mut() else {
            return;
        };
        if !file.has_pending() {
            return;
        }
        // One write(2), no sync: the background syncer makes it survive power loss.
        if let Err(e) = file.write() {
            error!(error = %e, "cannot write the location file");
        }
        if let Err(e) = file.compact_if_large(&self.location) {
            error!(error = %e, "cannot compact the location file");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Transport;
    use crate::roles::registrar::location::{BindingKey, ContactUpdate, FlowRef, NodeId, Received};

    fn origin(cseq: u32) -> Origin {
        Origin {
            call_id: "reg-1".to_owned(),
            cseq,
            path: Vec::new(),
            received: Received {
                source: "192.0.2.10:5060".parse().unwrap(),
                transport: Transport::Tcp,
                flow: Some(FlowRef::local(crate::transport::flow::FlowId::from_raw(3))),
            },
            user_agent: None,
        }
    }

    fn contact(expires: u32) -> Update {
        Update::Contacts(vec![ContactUpdate {
            key: BindingKey::Contact("sip:1001@192.0.2.10:5060".to_owned()),
            contact: "sip:1001@192.0.2.10:5060".to_owned(),
            q: 1000,
            expires,
            instance: None,
            reg_id: None,
        }])
    }

    /// Through the interface: a binding applied and persisted is in the file after a restart
    /// (its connection is not: flows die with the process), and expiry reaches the file too.
    #[test]
    fn the_local_service_keeps_what_it_answers_for() {
        let dir = tempfile::tempdir().unwrap();
        let open = |now| LocationFile::open(dir.path(), 10, Duration::from_secs(1), now).unwrap();
        let (file, location) = open(1_000);
        let mut service: Box<dyn LocationService> =
            Box::new(LocalLocation::new(location, Some(file)));
        let bound = service
            .apply("1001@d.test", &origin(1), contact(60), 1_000)
            .unwrap();
        assert_eq!(bound.len(), 1);
        assert_eq!(bound[0].received.flow.map(|f| f.node), Some(NodeId::LOCAL));
        service.persist();
        drop(service);
        let (file, location) = open(2_000);
        assert_eq!(location.lookup("1001@d.test", 2_000).len(), 1);
        let mut service = LocalLocation::new(location, Some(file));
        assert_eq!(service.next_expiry(), Some(61_000));
        assert_eq!(service.expire(61_000), vec!["1001@d.test".to_owned()]);
        service.persist();
        drop(service);
        let (_, location) = open(2_000);
        assert!(location.lookup("1001@d.test", 2_000).is_empty());
    }
}
