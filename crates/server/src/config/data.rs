//! `[data]`: where local state lives and which database holds provisioning data.

use std::path::PathBuf;

use serde::Deserialize;

/// `[data]`: local state on disk.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// Directory for local state; created at start if missing. Relative paths are relative to
    /// the working directory of the process.
    pub dir: PathBuf,
    /// The provisioning database: empty for the embedded SQLite file `trunkline.sqlite` in
    /// `dir`, or a `postgres://…` URL (or a `sqlite://…` URL elsewhere).
    pub database_url: String,
    /// The key file that seals carrier passwords in the database: empty for `secret.key` in
    /// `dir`, created (mode 0600) at first start. `TRUNKLINE_SECRET_KEY`, when set, holds the
    /// keys instead. Keep it apart from database backups.
    pub secret_key_file: PathBuf,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            dir: PathBuf::from("./trunkline-data"),
            database_url: String::new(),
            secret_key_file: PathBuf::new(),
        }
    }
}

impl DataConfig {
    /// The database URL to connect to: `database_url`, or the SQLite file in `dir`.
    pub fn database(&self) -> String {
        if self.database_url.is_empty() {
            self.dir
                .join("trunkline.sqlite")
                .to_string_lossy()
                .into_owned()
        } else {
            self.database_url.clone()
        }
    }
}
