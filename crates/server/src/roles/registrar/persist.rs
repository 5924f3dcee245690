//! The location service on disk: every change of an address of record's bindings is one record
//! of a [`KvLog`] (`location.log` in the data directory), written before the REGISTER's 200 OK
//! leaves, so a crash of the process loses no acknowledged binding; replayed at start.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trunkline_store::{KvLog, KvLogError};

use crate::config::Transport;
use crate::roles::registrar::location::{Binding, BindingKey, Location, Received};

/// File name in the data directory.
pub const FILE: &str = "location.log";

/// Records in the file per live address of record before it is compacted.
const COMPACT_RATIO: u64 = 4;
/// Records written before compaction is considered at all.
const COMPACT_MIN: u64 = 10_000;

/// One binding as stored: everything but the connection, which dies with the process.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    contact: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    instance: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    reg_id: Option<u32>,
    q: u16,
    expires_at: u64,
    call_id: String,
    cseq: u32,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    path: Vec<String>,
    source: SocketAddr,
    transport: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    user_agent: Option<String>,
    /// The contact URI as compared (for bindings without instance and reg-id).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    key: Option<String>,
}

impl From<&Binding> for Stored {
    fn from(b: &Binding) -> Self {
        Stored {
            contact: b.contact.clone(),
            instance: b.instance.clone(),
            reg_id: b.reg_id,
            q: b.q,
            expires_at: b.expires_at,
            call_id: b.call_id.clone(),
            cseq: b.cseq,
            path: b.path.clone(),
            source: b.received.source,
            transport: b.received.transport.as_str().to_owned(),
            user_agent: b.user_agent.clone(),
            key: match &b.key {
                BindingKey::Contact(k) => Some(k.clone()),
                BindingKey::Flow { .. } => None,
            },
        }
    }
}

impl Stored {
    fn into_binding(self) -> Option<Binding> {
        let transport = Transport::ALL
            .into_iter()
            .find(|t| t.as_str() == self.transport)?;
        let key = match (&self.instance, self.reg_id, self.key) {
            (Some(instance), Some(reg_id), _) => BindingKey::Flow {
                instance: instance.clone(),
                reg_id,
            },
            (_, _, Some(k)) => BindingKey::Contact(k),
            _ => return None,
        };
        Some(Binding {
            key,
            contact: self.contact,
            q: self.q,
            expires_at: self.expires_at,
            call_id: self.call_id,
            cseq: self.cseq,
            path: self.path,
            received: Received {
                source: self.source,
                transport,
                flow: None,
            },
            instance: self.instance,
            reg_id: self.reg_id,
            user_agent: self.user_agent,
        })
    }
}

/// The open location file.
#[derive(Debug)]
pub struct LocationFile {
    log: KvLog,
}

impl LocationFile {
    /// Opens `dir/location.log`, replays it into a [`Location`] (dropping what has expired by
    /// `now_ms`) and starts the background `fdatasync` every `sync_interval`.
    pub fn open(
        dir: &Path,
        max_bindings: usize,
        sync_interval: Duration,
        now_ms: u64,
    ) -> Result<(LocationFile, Location), KvLogError> {
        let path = dir.join(FILE);
        let (mut log, live, replayed) = KvLog::open(&path)?;
        if replayed.torn_bytes > 0 || replayed.damaged > 0 {
            tracing::warn!(path = %path.display(), torn_bytes = replayed.torn_bytes,
                damaged = replayed.damaged, "location file was damaged; intact records kept");
        }
        let mut location = Location::new(max_bindings);
        let mut unreadable = 0usize;
        for (aor, value) in live {
            let Ok(aor) = String::from_utf8(aor) else {
                unreadable += 1;
                continue;
            };
            let Ok(stored) = serde_json::from_slice::<Vec<Stored>>(&value) else {
                unreadable += 1;
                continue;
            };
            let bindings: Vec<Binding> = stored
                .into_iter()
                .filter_map(Stored::into_binding)
                .filter(|b| b.expires_at > now_ms)
                .collect();
            location.replace(&aor, bindings);
        }
        if unreadable > 0 {
            tracing::warn!(
                unreadable,
                "location records that could not be read were skipped"
            );
        }
        log.start_syncer(sync_interval)?;
        let mut file = LocationFile { log };
        file.compact_if_large(&location)?;
        tracing::info!(
            aors = location.aor_count(),
            bindings = location.len(),
            "location service loaded"
        );
        Ok((file, location))
    }

    /// Buffers the current bindings of `aor` (none: the record is deleted).
    pub fn save(&mut self, aor: &str, bindings: &[&Binding]) -> Result<(), KvLogError> {
        if bindings.is_empty() {
            return self.log.delete(aor.as_bytes());
        }
        let stored: Vec<Stored> = bindings.iter().map(|b| Stored::from(*b)).collect();
        let value = serde_json::to_vec(&stored).unwrap_or_default();
        self.log.put(aor.as_bytes(), &value)
    }

    /// Whether saved records wait for [`LocationFile::write`].
    pub fn has_pending(&self) -> bool {
        self.log.has_pending()
    }

    /// Hands the saved records to the kernel: from now on a crash of the process keeps them.
    pub fn write(&mut self) -> Result<(), KvLogError> {
        self.log.write()
    }

    /// Starts a background rewrite of the file with only the live bindings once superseded
    /// records dominate it (the core never waits for it).
    pub fn compact_if_large(&mut self, location: &Location) -> Result<(), KvLogError> {
        let live = location.aor_count() as u64;
        if self.log.is_compacting()
            || self.log.records() < COMPACT_MIN.max(live.saturating_mul(COMPACT_RATIO))
        {
            return Ok(());
        }
        self.log.start_compaction()
    }
}
