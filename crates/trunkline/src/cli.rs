//! The command line: `trunkline serve`, `trunkline config check|show`, parsed with clap.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use trunkline_server::ListenSpec;

use crate::admin_cli::{
    AccountCommand, Admin, ApiKeyCommand, BanCommand, DidCommand, DomainCommand, LocationCommand,
    TenantCommand, UserCommand,
};
use crate::load::Overrides;

/// Trunkline: an ITSP platform in one binary.
#[derive(Debug, Parser)]
#[command(name = "trunkline", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server until SIGINT or SIGTERM.
    Serve(ConfigArgs),
    /// Run only a media node (the relay and its ng listener, `media.ng_listen`; no SIP, API
    /// or database) until SIGINT or SIGTERM.
    Media(ConfigArgs),
    /// Check or print the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage resellers and customers.
    Tenant(Admin<TenantCommand>),
    /// Manage SIP domains.
    Domain(Admin<DomainCommand>),
    /// Manage SIP users.
    User(Admin<UserCommand>),
    /// Manage DIDs (phone numbers).
    Did(Admin<DidCommand>),
    /// Manage API keys.
    Apikey(Admin<ApiKeyCommand>),
    /// Manage API login accounts.
    Account(Admin<AccountCommand>),
    /// Rotate the keys that seal carrier passwords in the database.
    Secrets(Admin<crate::admin_cli::SecretsCommand>),
    /// List or lift the running server's bans (flood and failed-authentication bans).
    Ban(Admin<BanCommand>),
    /// Show the running server's registrations.
    Location(Admin<LocationCommand>),
    /// Show the running server's counters: registrations, bans, drops, failed authentications.
    Status(crate::admin_cli::StoreArgs),
    /// Show the running server's calls in progress, with the relay's media figures (packets,
    /// loss, jitter, MOS per party) for relayed calls.
    Calls(crate::admin_cli::StoreArgs),
}

/// `trunkline config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate a config file (with TRUNKLINE_* environment overrides); exit 2 if invalid.
    Check {
        /// The TOML file to check.
        #[arg(value_name = "FILE", env = "TRUNKLINE_CONFIG")]
        file: PathBuf,
    },
    /// Print the effective configuration (defaults < file < environment < flags) as TOML.
    Show(ConfigArgs),
}

/// Where the configuration comes from, shared by `serve` and `config show`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// TOML config file; without it, defaults and TRUNKLINE_* environment variables apply.
    #[arg(short, long, value_name = "FILE", env = "TRUNKLINE_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory for local state (overrides data.dir).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// SIP listener, e.g. udp:0.0.0.0:5060 or tcp:[::1]:5060; repeatable, replaces sip.listen.
    #[arg(long = "sip-listen", value_name = "URI")]
    pub sip_listen: Vec<ListenSpec>,
    /// HTTP listen address, e.g. 127.0.0.1:8080 (overrides http.listen).
    #[arg(long, value_name = "ADDR")]
    pub http_listen: Option<SocketAddr>,
}

impl ConfigArgs {
    /// The flags that override configuration keys.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            data_dir: self.data_dir.clone(),
            sip_listen: self.sip_listen.clone(),
            http_listen: self.http_listen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_flags() {
        let cli = Cli::try_parse_from([
            "trunkline",
            "serve",
            "--config",
            "/etc/trunkline.toml",
            "--sip-listen",
            "udp:127.0.0.1:5070",
            "--sip-listen",
            "tcp:[::1]:5070",
            "--http-listen",
            "[::1]:8081",
            "--data-dir",
            "/var/lib/trunkline",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve: {cli:?}");
        };
        assert_eq!(args.config, Some(PathBuf::from("/etc/trunkline.toml")));
        let o = args.overrides();
        assert_eq!(o.sip_listen.len(), 2);
        assert_eq!(o.sip_listen[1].to_string(), "tcp:[::1]:5070");
        assert_eq!(o.http_listen, Some("[::1]:8081".parse().unwrap()));
        assert_eq!(o.data_dir, Some(PathBuf::from("/var/lib/trunkline")));
    }

    #[test]
    fn bad_listen_flag_names_the_value() {
        let err = Cli::try_parse_from(["trunkline", "serve", "--sip-listen", "udp:1.2.3.4"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--sip-listen"), "{err}");
        assert!(err.contains("\"udp:1.2.3.4\" is missing a port"), "{err}");
    }
}
