//! What can go wrong with the CDR journal.

use std::io;
use std::path::{Path, PathBuf};

use crate::StoreError;

/// An error from [`crate::CdrJournal`]. When [`crate::CdrJournal::record`] returns one, the CDR
/// is **not** safe: the caller must keep it or report it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// Reading or writing a journal file failed (a full disk, a failing device, permissions).
    #[error("CDR journal: {op} {}: {source}", path.display())]
    Io {
        /// What was being done: `write`, `fsync`, `create`, …
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// The CDR failed validation; it would never be accepted by the database.
    #[error("CDR journal: {0}")]
    Invalid(#[source] StoreError),
    /// The encoded CDR is larger than one journal record may be.
    #[error("CDR journal: record of {bytes} bytes is larger than the limit of {limit} bytes")]
    TooLarge {
        /// Encoded size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The journal was closed (or its writer stopped) before the record was durable.
    #[error("CDR journal: closed")]
    Closed,
    /// [`crate::CdrJournal::flush_delivered`] gave up with records still waiting.
    #[error("CDR journal: {pending} records still wait for the database")]
    Timeout {
        /// Records not yet in the database.
        pending: u64,
    },
}

impl JournalError {
    pub(super) fn io(op: &'static str, path: &Path, source: io::Error) -> Self {
        Self::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }

    /// A copy for every waiter of a failed group commit (`io::Error` is not `Clone`).
    pub(super) fn duplicate(&self) -> Self {
        match self {
            Self::Io { op, path, source } => Self::Io {
                op,
                path: path.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            Self::Invalid(e) => Self::Invalid(StoreError::Corrupt(e.to_string())),
            Self::TooLarge { bytes, limit } => Self::TooLarge {
                bytes: *bytes,
                limit: *limit,
            },
            Self::Closed => Self::Closed,
            Self::Timeout { pending } => Self::Timeout { pending: *pending },
        }
    }
}
