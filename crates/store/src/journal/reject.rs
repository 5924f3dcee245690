//! Records that can never be stored (undecodable, invalid, or refused by a database constraint)
//! go to `rejected.jsonl` in the journal directory instead of blocking delivery forever. They are
//! kept, never dropped: one JSON line each, with the reason and the record as it was journaled.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::Path;

use super::JournalError;

/// File name inside the journal directory.
pub(super) const REJECTED: &str = "rejected.jsonl";

/// Appends `records` (payload, reason) durably.
pub(super) fn append(dir: &Path, records: &[(Vec<u8>, String)]) -> Result<(), JournalError> {
    let path = dir.join(REJECTED);
    let mut text = String::new();
    for (payload, reason) in records {
        let line = serde_json::json!({
            "reason": reason,
            "record": String::from_utf8_lossy(payload),
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| JournalError::io("open", &path, e))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_data())
        .map_err(|e| JournalError::io("write", &path, e))
}
