//! Logging set-up: a `tracing` subscriber on stderr filtered by `log.level` or `RUST_LOG`.

use std::io::IsTerminal as _;

use anyhow::anyhow;
use tracing_subscriber::EnvFilter;
use trunkline_server::config::{LogConfig, LogFormat};

/// Installs the global subscriber. `RUST_LOG`, when set and not empty, replaces `log.level`, so
/// a developer can turn on one module without editing the config.
pub fn init(log: &LogConfig) -> anyhow::Result<()> {
    // `anyhow!` rather than `.context()`: the parse error repeats its source in its own message.
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::try_new(&directives)
            .map_err(|e| anyhow!("RUST_LOG: {directives:?} is not a valid filter: {e}"))?,
        _ => EnvFilter::try_new(&log.level).map_err(|e| {
            anyhow!(
                "config: log.level: {:?} is not a valid filter: {e}",
                log.level
            )
        })?,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Compact => builder.compact().try_init(),
    }
    .map_err(|e| anyhow!("cannot install the log subscriber: {e}"))
}
