//! The `trunkline` binary: parses the command line, loads the configuration and runs the server.

mod cli;
mod load;
mod logging;
mod show;

use std::future::Future;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use trunkline_server::Config;

use crate::cli::{Cli, Command, ConfigArgs, ConfigCommand};

/// Exit status of `config check` / `config show` when the configuration is invalid.
const EXIT_INVALID_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve(&args).map(|()| ExitCode::SUCCESS),
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
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn invalid_config(e: &load::LoadError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(EXIT_INVALID_CONFIG)
}

/// `trunkline serve`: returns once the server has shut down after SIGINT or SIGTERM.
fn serve(args: &ConfigArgs) -> anyhow::Result<()> {
    let config = load::load(args.config.as_deref(), &args.overrides())?;
    logging::init(&config.log)?;
    let dir = &config.data.dir;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("data.dir: cannot create {}", dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(config))
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
    trunkline_server::run(config, shutdown).await?;
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
