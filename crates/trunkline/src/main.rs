//! The `trunkline` binary: parses the command line, loads the configuration and runs the server.

mod admin;
mod admin_cli;
mod cli;
mod data_dir;
mod load;
mod logging;
mod own_names;
mod secret_key;
mod show;

use std::future::Future;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use trunkline_server::Config;

use crate::cli::{Cli, Command, ConfigArgs, ConfigCommand};

/// mimalloc instead of the system allocator: the SIP path allocates and frees many small
/// buffers per message, and glibc's malloc was ~14 % of the registrar's CPU in profiles.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long shutdown waits for the CDR journal to reach the database.
const JOURNAL_DRAIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Exit status of `config check` / `config show` when the configuration is invalid.
const EXIT_INVALID_CONFIG: u8 = 2;

fn main() -> ExitCode {
    // Before anything creates a file: the data dir holds credentials (issue 19, finding 2).
    data_dir::restrict_umask();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(&args).map(|()| ExitCode::SUCCESS),
        Command::Media(args) => media(&args).map(|()| ExitCode::SUCCESS),
        Command::Config(ConfigCommand::Check { file }) => {
            Ok(match load::load(Some(&file), &load::Overrides::default()) {
                Ok(_) => {
                    println!("{}: ok", file.display());
                    ExitCode::SUCCESS
                }
                Err(e) => invalid_config(&e),
            })
        }
        Command::Config(ConfigCommand::Show(args)) => Ok(
            match load::load(args.config.as_deref(), &args.overrides()) {
                Ok(config) => {
                    print!("{}", show::to_toml(&config));
                    ExitCode::SUCCESS
                }
                Err(e) => invalid_config(&e),
            },
        ),
        Command::Tenant(a) => admin_command(&a.store, |s| admin::tenant(s, a.command)),
        Command::Domain(a) => admin_command(&a.store, |s| admin::domain(s, a.command)),
        Command::User(a) => admin_command(&a.store, |s| admin::user(s, a.command)),
        Command::Did(a) => admin_command(&a.store, |s| admin::did(s, a.command)),
        Command::Apikey(a) => admin_command(&a.store, |s| admin::apikey(s, a.command)),
        Command::Account(a) => admin_command(&a.store, |s| admin::account(s, a.command)),
        Command::Secrets(a) => block_on(admin::secrets(&a.store, a.command)),
        Command::Ban(a) => admin::control(&a.store, &admin::ban_line(&a.command)),
        Command::Location(a) => admin::control(&a.store, &admin::location_line(&a.command)),
        Command::Status(store) => admin::control(&store, "status"),
        Command::Calls(store) => admin::control(&store, "calls"),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one admin command on a small runtime against the configured database.
fn admin_command<F, Fut>(args: &admin_cli::StoreArgs, command: F) -> anyhow::Result<ExitCode>
where
    F: FnOnce(trunkline_store::Store) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    block_on(async {
        let store = admin::open(args).await?;
        let result = command(store.clone()).await;
        store.close().await;
        result
    })
}

/// Runs `work` on a small single-threaded runtime.
fn block_on(work: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(work)?;
    Ok(ExitCode::SUCCESS)
}

fn invalid_config(e: &load::LoadError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(EXIT_INVALID_CONFIG)
}

/// What a long-running command starts from: the loaded config with logging on, its data
/// directory created, and the async runtime.
fn start(args: &ConfigArgs) -> anyhow::Result<(Config, tokio::runtime::Runtime)> {
    let config = load::load(args.config.as_deref(), &args.overrides())?;
    logging::init(&config.log)?;
    data_dir::prepare(&config.data.dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    Ok((config, runtime))
}

/// `trunkline serve`: returns once the server has shut down after SIGINT or SIGTERM.
fn serve(args: &ConfigArgs) -> anyhow::Result<()> {
    let (config, runtime) = start(args)?;
    runtime.block_on(run(config))
}

/// `trunkline media`: a media node on its own, until SIGINT or SIGTERM.
fn media(args: &ConfigArgs) -> anyhow::Result<()> {
    let (config, runtime) = start(args)?;
    let dir = &config.data.dir;
    runtime.block_on(async {
        let shutdown = shutdown_signal().context("cannot install signal handlers")?;
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            ng = %config.media.ng_listen,
            relay = %config.media_ip(),
            "trunkline media node starting"
        );
        let node = trunkline_server::MediaNode::start(&config, Some(dir)).await?;
        shutdown.await;
        node.shutdown().await;
        anyhow::Ok(())
    })
}

async fn run(config: Config) -> anyhow::Result<()> {
    let shutdown = shutdown_signal().context("cannot install signal handlers")?;
    let listeners: Vec<String> = config.sip.listen.iter().map(ToString::to_string).collect();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        sip = ?listeners,
        http = %config.http.listen,
        data = %config.data.dir.display(),
        "trunkline starting"
    );
    let keyring = secret_key::load(&config)?;
    let store = admin::connect(&config, keyring).await?;
    let snapshot = store.start_snapshot().await?;
    {
        let s = snapshot.load();
        tracing::info!(
            domains = s.domain_count(),
            users = s.user_count(),
            dids = s.did_count(),
            "provisioning snapshot loaded"
        );
    }
    let journal_dir = config.data.dir.join("cdr-journal");
    let journal = trunkline_store::CdrJournal::open(&journal_dir, store.clone())
        .await
        .with_context(|| format!("cannot open the CDR journal in {}", journal_dir.display()))?;
    let services = trunkline_server::Services {
        snapshot: Some(snapshot.clone()),
        state_dir: Some(config.data.dir.clone()),
        cdrs: Some(journal.clone()),
    };
    let sip = trunkline_server::Server::start_with(&config, services).await?;
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let stopped = async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    };
    let http = tokio::net::TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("http.listen: cannot bind {}", config.http.listen))?;
    let state = trunkline_api::ApiState::new(store.clone(), &trunkline_api::ApiOptions::default())
        .with_snapshot(snapshot)
        .with_journal(journal.clone())
        .with_live(sip.live());
    let api = tokio::spawn(trunkline_api::serve(http, state, stopped));
    tracing::info!(http = %config.http.listen, "provisioning API listening");
    shutdown.await;
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    sip.shutdown().await;
    api.await.context("HTTP API task")?.context("HTTP API")?;
    // CDRs the database has not taken yet stay in the journal and are delivered at next start.
    if let Err(e) = journal.flush_delivered(JOURNAL_DRAIN).await {
        tracing::warn!(error = %e, "CDRs remain in the journal; they are delivered at next start");
    }
    journal.close().await;
    store.close().await;
    tracing::info!("trunkline stopped");
    Ok(())
}

/// A future that resolves on the first SIGINT or SIGTERM. The handlers are installed before it
/// is returned, so a signal that arrives during start-up is not lost.
#[cfg(unix)]
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};

    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT",
            _ = terminate.recv() => "SIGTERM",
        };
        tracing::info!(signal = name, "signal received");
    })
}

#[cfg(not(unix))]
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    Ok(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!(signal = "ctrl-c", "signal received");
        }
    })
}
