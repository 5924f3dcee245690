//! The admin subcommands' syntax (`trunkline tenant|domain|user|did|apikey|account|secrets …`); what
//! they do is in `admin.rs`.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

/// Where the provisioning database is: the same configuration `serve` reads.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// TOML config file (its [data] section names the database).
    #[arg(
        short,
        long,
        value_name = "FILE",
        env = "TRUNKLINE_CONFIG",
        global = true
    )]
    pub config: Option<PathBuf>,
    /// Directory for local state (overrides data.dir); the SQLite database lives there.
    #[arg(long, value_name = "DIR", global = true)]
    pub data_dir: Option<PathBuf>,
}

/// An admin command with its store location.
#[derive(Debug, Args)]
pub struct Admin<T: Subcommand> {
    /// What to do.
    #[command(subcommand)]
    pub command: T,
    /// Where the database is.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Tenancy level for `tenant add`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TenantKindArg {
    /// Sells to customers.
    Reseller,
    /// A company with domains, users and numbers.
    Customer,
}

/// Role of an API key or account.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Read and change.
    Admin,
    /// Read only.
    ReadOnly,
}

/// `trunkline tenant …`.
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a reseller or customer.
    Add {
        /// Its name (unique among its siblings).
        name: String,
        /// Level.
        #[arg(long, value_enum, default_value = "customer")]
        kind: TenantKindArg,
        /// Parent reseller's name (default: the platform).
        #[arg(long, value_name = "NAME")]
        parent: Option<String>,
    },
    /// List tenants.
    List,
}

/// `trunkline domain …`.
#[derive(Debug, Subcommand)]
pub enum DomainCommand {
    /// Serve a SIP domain.
    Add {
        /// DNS name, e.g. example.test.
        name: String,
        /// Owning customer's name; created under the platform if missing (default: "default").
        #[arg(long, value_name = "NAME", default_value = "default")]
        customer: String,
    },
    /// List domains.
    List,
    /// Stop serving a domain (it must have no users).
    Del {
        /// DNS name.
        name: String,
    },
}

/// `trunkline user …`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a SIP user in an existing domain.
    Add {
        /// Address of record, user@domain.
        aor: String,
        /// SIP password (8–128 characters); only digest HA1s are stored.
        #[arg(long, env = "TRUNKLINE_USER_PASSWORD", hide_env_values = true)]
        password: String,
        /// Caller-ID for outbound calls.
        #[arg(long)]
        caller_id: Option<String>,
        /// Concurrent call limit.
        #[arg(long)]
        max_calls: Option<u32>,
        /// Create the user disabled.
        #[arg(long)]
        disabled: bool,
        /// Record the user's relayed calls (both directions, in the data dir's recordings/).
        #[arg(long)]
        record: bool,
    },
    /// List users.
    List {
        /// Only users of this domain.
        #[arg(long)]
        domain: Option<String>,
    },
    /// Change a user's password or settings.
    Set {
        /// Address of record, user@domain.
        aor: String,
        /// New SIP password.
        #[arg(long)]
        password: Option<String>,
        /// Enable (true) or disable (false).
        #[arg(long)]
        enabled: Option<bool>,
        /// Record the user's relayed calls (true) or stop (false).
        #[arg(long)]
        record: Option<bool>,
    },
    /// Create many users from a file of `user@domain,password` lines (`#` starts a comment);
    /// stops at the first line that cannot be created, naming it.
    Import {
        /// The file; `-` reads standard input.
        file: PathBuf,
    },
    /// Delete a user (its DIDs become unassigned).
    Del {
        /// Address of record, user@domain.
        aor: String,
    },
}

/// `trunkline did …`.
#[derive(Debug, Subcommand)]
pub enum DidCommand {
    /// Add a number, routed to a user (owned by the user's customer).
    Add {
        /// E.164 with +.
        number: String,
        /// The user it rings, user@domain.
        #[arg(long, value_name = "AOR")]
        to: String,
    },
    /// List numbers.
    List,
    /// Delete a number.
    Del {
        /// E.164 with +.
        number: String,
    },
}

/// `trunkline apikey …`.
#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create an API key; the key is printed once.
    Create {
        /// What the key may do.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The tenant it acts for, by name (default: the platform).
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
    },
    /// List keys (never their secrets).
    List,
    /// Revoke a key for good.
    Revoke {
        /// The key's id.
        id: i64,
    },
}

/// `trunkline account …`.
#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create a login account for the API.
    Add {
        /// Login name (e.g. an e-mail address).
        login: String,
        /// Password (8–128 characters); stored as an argon2id hash.
        #[arg(long, env = "TRUNKLINE_ACCOUNT_PASSWORD", hide_env_values = true)]
        password: String,
        /// What the account may do.
        #[arg(long, value_enum, default_value = "admin")]
        role: RoleArg,
        /// The tenant it acts for, by name (default: the platform).
        #[arg(long, value_name = "NAME")]
        tenant: Option<String>,
    },
    /// List accounts.
    List,
}

/// `trunkline secrets …`: the keys that seal carrier passwords in the database.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Add a new current key to the key file, re-seal every stored secret with it, and keep the
    /// old keys for reading (unless --retire). Restart every server on this database
    /// afterwards. With TRUNKLINE_SECRET_KEY, prints the new keys for that variable instead.
    Rotate {
        /// Drop the old keys once everything is re-sealed (after a key leak; every node must
        /// get the new key before it next starts).
        #[arg(long)]
        retire: bool,
    },
}

/// `trunkline ban …`: talks to the running server through its control socket.
#[derive(Debug, Subcommand)]
pub enum BanCommand {
    /// List banned addresses with the reason and the time left.
    List,
    /// Lift the ban on an address (and forget its failed authentications).
    Remove {
        /// The banned IPv4 or IPv6 address.
        ip: std::net::IpAddr,
    },
}

/// `trunkline location …`: talks to the running server through its control socket.
#[derive(Debug, Subcommand)]
pub enum LocationCommand {
    /// List every registered contact: address of record, contact, time left, source.
    List,
}
