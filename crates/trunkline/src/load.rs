//! Loading the configuration: built-in defaults, then the TOML file, then `TRUNKLINE_*`
//! environment variables, then command-line flags; then validation.
//!
//! Every error names the key path, the value and where the value came from (file path,
//! environment variable or flag), because an operator fixing a config at 3 a.m. should not have
//! to guess which of the three layers to edit.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::error::Kind;
use figment::providers::{Env, Format, Toml};
use trunkline_server::config::ConfigError;
use trunkline_server::{Config, ListenSpec};

/// Prefix of environment variables that override config keys; `__` separates nesting levels
/// (`TRUNKLINE_SIP__MAX_MESSAGE_SIZE` sets `sip.max_message_size`).
pub const ENV_PREFIX: &str = "TRUNKLINE_";
/// Separator of key path levels in environment variable names.
const ENV_SEPARATOR: &str = "__";
/// `TRUNKLINE_*` variables that are not config keys: `TRUNKLINE_CONFIG` names the file,
/// `TRUNKLINE_SECRET_KEY` holds the secret keys (never shown by `config show`),
/// `TRUNKLINE_BIN` the binary the bench scripts run, and `TRUNKLINE_TEST_*` (e.g.
/// `TRUNKLINE_TEST_POSTGRES_URL`) belong to the test suite, which CI exports for the whole
/// run, servers started by tests and benches included.
fn is_config_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key != "config" && key != "secret_key" && key != "bin" && !key.starts_with("test_")
}

/// Command-line flags that override config keys; they win over file and environment.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--data-dir`: replaces `data.dir`.
    pub data_dir: Option<PathBuf>,
    /// `--sip-listen` (repeatable): when non-empty, replaces `sip.listen`.
    pub sip_listen: Vec<ListenSpec>,
    /// `--http-listen`: replaces `http.listen`.
    pub http_listen: Option<SocketAddr>,
}

impl Overrides {
    fn apply(&self, config: &mut Config) {
        if let Some(dir) = &self.data_dir {
            config.data.dir.clone_from(dir);
        }
        if !self.sip_listen.is_empty() {
            config.sip.listen.clone_from(&self.sip_listen);
        }
        if let Some(addr) = self.http_listen {
            config.http.listen = addr;
        }
    }

    /// The flag that set `key` (a path without `[index]`), if one did.
    fn flag_for(&self, key: &str) -> Option<&'static str> {
        match key {
            "data.dir" if self.data_dir.is_some() => Some("--data-dir"),
            "sip.listen" if !self.sip_listen.is_empty() => Some("--sip-listen"),
            "http.listen" if self.http_listen.is_some() => Some("--http-listen"),
            _ => None,
        }
    }
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The config file could not be read.
    #[error("config: cannot read {}: {error}", path.display())]
    Read {
        /// The file as given.
        path: PathBuf,
        /// What the OS said.
        error: io::Error,
    },
    /// A file or environment value did not parse or has the wrong type.
    #[error("{}", Lines(.0))]
    Parse(Vec<Issue>),
    /// Values parsed but break a rule.
    #[error("{error}{}", Origin(.origin.as_deref()))]
    Invalid {
        /// The rule broken.
        error: ConfigError,
        /// Where the offending value came from, when not a default.
        origin: Option<String>,
    },
}

/// One parse problem: key path, what is wrong, where the value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// Key path, e.g. `sip.listen[0]`; empty for problems with the whole document.
    pub key: String,
    /// What is wrong, naming the value.
    pub message: String,
    /// The file path or environment variable.
    pub origin: Option<String>,
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.key.is_empty(), &self.origin) {
            // A syntax error: no key, and the message may span lines, so the file goes first.
            (true, Some(origin)) => write!(f, "config: {origin}: {}", self.message),
            _ if self.key.is_empty() => write!(f, "config: {}", self.message),
            _ => write!(
                f,
                "config: {}: {}{}",
                self.key,
                self.message,
                Origin(self.origin.as_deref())
            ),
        }
    }
}

struct Lines<'a>(&'a [Issue]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, issue) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            issue.fmt(f)?;
        }
        Ok(())
    }
}

struct Origin<'a>(Option<&'a str>);

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(origin) => write!(f, " (in {origin})"),
            None => Ok(()),
        }
    }
}

/// Loads `file` (if any) over the defaults, applies `TRUNKLINE_*` environment variables and
/// then `overrides`, and validates the result.
pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, LoadError> {
    let mut figment = Figment::new();
    if let Some(path) = file {
        // figment treats a missing file as empty; a path the operator named must exist.
        std::fs::File::open(path).map_err(|error| LoadError::Read {
            path: path.to_owned(),
            error,
        })?;
        figment = figment.merge(Toml::file_exact(path));
    }
    let env = Env::prefixed(ENV_PREFIX)
        .filter(|key| is_config_key(key.as_str()))
        .split(ENV_SEPARATOR);
    load_from(&figment.merge(env), overrides)
}

/// Extracts, overrides and validates: the part of [`load`] that does not touch the process.
pub fn load_from(figment: &Figment, overrides: &Overrides) -> Result<Config, LoadError> {
    let mut config: Config = figment
        .extract()
        .map_err(|e| LoadError::Parse(e.into_iter().map(issue).collect()))?;
    overrides.apply(&mut config);
    let invalid = |error: ConfigError| {
        let key = error.cause_key();
        let key = key.split('[').next().unwrap_or_default();
        let origin = match overrides.flag_for(key) {
            Some(flag) => Some(flag.to_owned()),
            None => figment
                .find_metadata(key)
                .map(|md| origin(md, &key.split('.').collect::<Vec<_>>())),
        };
        LoadError::Invalid { error, origin }
    };
    config.validate().map_err(invalid)?;
    // `validate` checks the level names; this catches the rest of the directive syntax.
    if let Err(e) = tracing_subscriber::EnvFilter::try_new(&config.log.level) {
        return Err(invalid(ConfigError::Invalid {
            key: "log.level".to_owned(),
            value: config.log.level.clone(),
            reason: format!("is not a valid filter: {e}"),
        }));
    }
    Ok(config)
}

/// Turns one figment error into an [`Issue`] with a readable key path and origin.
fn issue(error: figment::Error) -> Issue {
    let path = &error.path;
    let message = match &error.kind {
        Kind::UnknownField(_, expected) => {
            format!("unknown key (expected one of: {})", expected.join(", "))
        }
        Kind::UnknownVariant(value, expected) => {
            format!("{value:?} is not one of: {}", expected.join(", "))
        }
        // TOML syntax errors end in a newline.
        Kind::Message(m) => m.trim_end().to_owned(),
        other => other.to_string(),
    };
    let key = key_path(path);
    let origin = error.metadata.as_ref().map(|md| origin(md, path));
    Issue {
        key,
        message,
        origin,
    }
}

/// Joins figment's path into `sip.listen[1]`: list positions become `[INDEX]`.
fn key_path(path: &[String]) -> String {
    let mut key = String::new();
    for segment in path {
        if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
            key.push('[');
            key.push_str(segment);
            key.push(']');
        } else {
            if !key.is_empty() {
                key.push('.');
            }
            key.push_str(segment);
        }
    }
    key
}

/// Names where a value came from: the file path, or the environment variable.
fn origin<S: AsRef<str>>(md: &figment::Metadata, path: &[S]) -> String {
    if let Some(file) = md.source.as_ref().and_then(|s| s.file_path()) {
        return file.display().to_string();
    }
    if md.name.contains("environment variable") {
        // A list element comes from the variable that holds the whole list.
        let name: Vec<String> = path
            .iter()
            .map(AsRef::as_ref)
            .filter(|k| !k.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_ascii_uppercase)
            .collect();
        return format!(
            "environment variable {ENV_PREFIX}{}",
            name.join(ENV_SEPARATOR)
        );
    }
    md.name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_toml(toml: &str) -> Result<Config, LoadError> {
        load_from(&Figment::from(Toml::string(toml)), &Overrides::default())
    }

    fn error(toml: &str) -> String {
        from_toml(toml).unwrap_err().to_string()
    }

    #[test]
    fn example_file_documents_the_defaults() {
        let example = include_str!("../../../trunkline.example.toml");
        assert_eq!(from_toml(example).unwrap(), Config::default());
    }

    #[test]
    fn empty_document_is_the_default() {
        assert_eq!(from_toml("").unwrap(), Config::default());
    }

    #[test]
    fn file_values_replace_defaults() {
        let config = from_toml(
            "[sip]\nlisten = [\"udp:127.0.0.1:5070\"]\nmax_message_size = 2048\n[log]\nformat = \"compact\"\n",
        )
        .unwrap();
        assert_eq!(config.sip.listen.len(), 1);
        assert_eq!(config.sip.listen[0].to_string(), "udp:127.0.0.1:5070");
        assert_eq!(config.sip.max_message_size, 2048);
        assert_eq!(config.sip.tcp_idle_timeout_secs, 600);
    }

    #[test]
    fn one_listener_needs_no_list() {
        let config = from_toml("[sip]\nlisten = \"tcp:[::1]:5070\"").unwrap();
        assert_eq!(config.sip.listen, ["tcp:[::1]:5070".parse().unwrap()]);
    }

    #[test]
    fn parse_errors_name_key_and_value() {
        let table = [
            (
                "[sip]\nmax_message_size = \"big\"",
                "config: sip.max_message_size: invalid type: found string \"big\", expected u32 (in TOML source string)",
            ),
            (
                "[sip]\nlisten = [\"udp:127.0.0.1:5060\", \"udp:1.2.3.4\"]",
                "config: sip.listen[1]: \"udp:1.2.3.4\" is missing a port (in TOML source string)",
            ),
            (
                "[sip]\nlisten = \"tcp:[::1]\"",
                "config: sip.listen: \"tcp:[::1]\" is missing a port (in TOML source string)",
            ),
            (
                "[sip]\nmax_mesage_size = 2048",
                "config: sip.max_mesage_size: unknown key (expected one of: listen, aliases, max_message_size, server_header, tcp_idle_timeout_secs, udp_shards, shards, overload_wait_ms, udp_batch, max_connections, max_connections_per_ip, tls) (in TOML source string)",
            ),
            (
                "[sipp]\n",
                "config: sipp: unknown key (expected one of: sip, registrar, guard, proxy, media, http, data, log) (in TOML source string)",
            ),
            (
                "[http]\nlisten = \"localhost:80\"",
                "config: http.listen: \"localhost:80\" is not an IP address and port (expected e.g. \"127.0.0.1:8080\" or \"[::1]:8080\") (in TOML source string)",
            ),
            (
                "[sip]\nlisten = [\"udp:127.0.0.1:5060\", 5060]",
                "config: sip.listen[1]: invalid type: found signed int `5060`, expected a listener string like \"udp:0.0.0.0:5060\" (in TOML source string)",
            ),
            (
                "[log]\nformat = \"json\"",
                "config: log.format: \"json\" is not one of: text, compact (in TOML source string)",
            ),
        ];
        for (toml, want) in table {
            assert_eq!(error(toml), want, "{toml}");
        }
    }

    #[test]
    fn validation_errors_say_where_the_value_came_from() {
        assert_eq!(
            error("[sip]\nmax_message_size = 10"),
            "config: sip.max_message_size: 10 is out of range (1024..=1048576) (in TOML source string)"
        );
        // A missing key names where the setting that needs it came from.
        let figment = Figment::from(Toml::string("[log]\nlevel = \"info\""));
        let overrides = Overrides {
            sip_listen: vec!["tls:0.0.0.0:5061".parse().unwrap()],
            ..Overrides::default()
        };
        assert_eq!(
            load_from(&figment, &overrides).unwrap_err().to_string(),
            "config: sip.tls.cert: must be set for sip.listen[0] \"tls:0.0.0.0:5061\" (in --sip-listen)"
        );
        // Keys of nested tables are found in the file too.
        assert_eq!(
            error("[sip.tls]\nhandshake_timeout_secs = 0"),
            "config: sip.tls.handshake_timeout_secs: 0 is out of range (1..=300) (in TOML source string)"
        );
        let overrides = Overrides {
            sip_listen: vec![
                "tcp:0.0.0.0:5061".parse().unwrap(),
                "tls:0.0.0.0:5061".parse().unwrap(),
            ],
            ..Overrides::default()
        };
        assert_eq!(
            load_from(&figment, &overrides).unwrap_err().to_string(),
            "config: sip.listen[1]: \"tls:0.0.0.0:5061\" binds the same TCP socket as sip.listen[0] \"tcp:0.0.0.0:5061\" (in --sip-listen)"
        );
    }

    #[test]
    fn flags_win_over_the_file() {
        let figment = Figment::from(Toml::string(
            "[sip]\nlisten = [\"udp:127.0.0.1:5070\"]\n[http]\nlisten = \"127.0.0.1:1\"\n[data]\ndir = \"/a\"",
        ));
        let overrides = Overrides {
            data_dir: Some("/b".into()),
            sip_listen: vec!["tcp:127.0.0.1:5080".parse().unwrap()],
            http_listen: Some("127.0.0.1:2".parse().unwrap()),
        };
        let config = load_from(&figment, &overrides).unwrap();
        assert_eq!(config.data.dir, PathBuf::from("/b"));
        assert_eq!(config.sip.listen, overrides.sip_listen);
        assert_eq!(config.http.listen, "127.0.0.1:2".parse().unwrap());
    }

    #[test]
    fn missing_file_names_the_path() {
        let path = Path::new("/nonexistent/trunkline.toml");
        let err = load(Some(path), &Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("config: cannot read /nonexistent/trunkline.toml: "),
            "{err}"
        );
    }

    #[test]
    fn syntax_errors_name_the_source_first() {
        let err = error("[sip\n");
        assert!(
            err.starts_with("config: TOML source string: TOML parse error at line 1"),
            "{err}"
        );
        assert!(!err.ends_with('\n'), "{err:?}");
    }

    #[test]
    fn key_paths_render_list_positions() {
        let path = ["sip".to_owned(), "listen".to_owned(), "2".to_owned()];
        assert_eq!(key_path(&path), "sip.listen[2]");
        assert_eq!(key_path(&[]), "");
    }

    #[test]
    fn the_bench_binary_and_test_variables_are_not_config_keys() {
        for key in [
            "BIN",
            "CONFIG",
            "SECRET_KEY",
            "TEST_BPF",
            "test_postgres_url",
        ] {
            assert!(!is_config_key(key), "{key}");
        }
        assert!(is_config_key("SIP__SHARDS"));
        assert!(is_config_key("BINARY"));
    }

    #[test]
    fn env_origin_names_the_variable() {
        let md = figment::Metadata::named("`TRUNKLINE_` environment variable(s)");
        assert_eq!(
            origin(&md, &["sip", "max_message_size"]),
            "environment variable TRUNKLINE_SIP__MAX_MESSAGE_SIZE"
        );
        assert_eq!(
            origin(&md, &["sip", "listen", "1"]),
            "environment variable TRUNKLINE_SIP__LISTEN"
        );
    }
}
