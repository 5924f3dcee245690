//! The local control socket (`trunkline.ctl` in the data directory, mode 0600): the running
//! server's state that lives only in memory — bans, registrations — for the admin CLI, as
//! Kamailio's `kamcmd` reaches its ctl socket. Who may open the file may run the commands.
//!
//! The protocol is one command line in (`ban list`, `ban remove 192.0.2.7`, `location list`),
//! the answer's lines out, then the server closes the connection. An answer starting with
//! `error: ` is a failure.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

/// File name of the socket in the data directory.
pub const SOCKET: &str = "trunkline.ctl";

/// Longest command line accepted.
const MAX_LINE: usize = 1024;

/// One command for the core, with where its answer goes.
#[derive(Debug)]
pub(crate) struct Command {
    pub(crate) line: String,
    pub(crate) reply: oneshot::Sender<String>,
}

/// Binds the socket in `dir`, replacing a stale one left by a killed server.
pub(crate) fn bind(dir: &Path) -> std::io::Result<(UnixListener, PathBuf)> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(SOCKET);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok((listener, path))
}

/// Accepts control connections and hands their commands to the core.
pub(crate) async fn serve(listener: UnixListener, core: mpsc::Sender<Command>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "control socket accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let core = core.clone();
        tokio::spawn(async move {
            if let Err(e) = session(stream, core).await {
                debug!(error = %e, "control session ended");
            }
        });
    }
}

async fn session(stream: UnixStream, core: mpsc::Sender<Command>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read).take(MAX_LINE as u64);
    reader.read_line(&mut line).await?;
    let (tx, rx) = oneshot::channel();
    let answer = match core
        .send(Command {
            line: line.trim().to_owned(),
            reply: tx,
        })
        .await
    {
        Ok(()) => rx
            .await
            .unwrap_or_else(|_| "error: the server is shutting down\n".to_owned()),
        Err(_) => "error: the server is shutting down\n".to_owned(),
    };
    write.write_all(answer.as_bytes()).await?;
    write.shutdown().await
}

/// Sends `line` to the server whose data directory is `dir` and returns its answer (the CLI's
/// side). Blocking; for the admin commands.
pub fn request(dir: &Path, line: &str) -> std::io::Result<String> {
    use std::io::{Read as _, Write as _};
    let path = dir.join(SOCKET);
    let mut s = std::os::unix::net::UnixStream::connect(&path).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "no running server answers at {} ({e}); is `trunkline serve` running with this data dir?",
                path.display()
            ),
        )
    })?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    s.write_all(line.as_bytes())?;
    s.write_all(b"\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}
