//! The TCP listener: accepts connections, frames messages by Content-Length, answers on the
//! same connection, honours CRLF keep-alives and closes idle or broken connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};
use trunkline_sip::{Frame, ParseError, ParseErrorKind, StreamFramer};

use crate::config::Transport;
use crate::front::{FrontDoor, Outcome};

/// Connection settings from the SIP config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_message_size: usize,
    pub(crate) idle_timeout: Duration,
}

/// Accepts connections until the task is cancelled.
pub(crate) async fn serve(listener: TcpListener, front: Arc<FrontDoor>, limits: Limits) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let front = Arc::clone(&front);
                    connections.spawn(async move {
                        if let Err(e) = connection(stream, peer, &front, limits).await {
                            debug!(%peer, error = %e, "tcp connection ended");
                        }
                    });
                }
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    warn!(error = %e, "tcp accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    front: &FrontDoor,
    limits: Limits,
) -> std::io::Result<()> {
    let mut framer = StreamFramer::new(limits.max_message_size);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match tokio::time::timeout(limits.idle_timeout, stream.read(&mut buf)).await {
            Ok(r) => r?,
            Err(_) => {
                debug!(%peer, "tcp idle timeout");
                return Ok(());
            }
        };
        if n == 0 {
            // The peer finished sending mid-message: the message is truncated. Answer it (the
            // peer may only have shut down its write half) and close.
            let pending = framer.take_buffered();
            if pending.iter().any(|&b| b != b'\r' && b != b'\n') {
                let e = ParseError {
                    kind: ParseErrorKind::TruncatedBody,
                    offset: pending.len(),
                };
                if let Outcome::Reply(reply) = front.reject(&pending, e, peer, Transport::Tcp) {
                    stream.write_all(&reply.bytes).await?;
                }
            }
            return Ok(());
        }
        framer.push(&buf[..n]);
        loop {
            match framer.next_frame() {
                Ok(None) => break,
                Ok(Some(Frame::Ping)) => stream.write_all(b"\r\n").await?,
                Ok(Some(Frame::Pong)) => {}
                Ok(Some(Frame::Message(bytes))) => {
                    if let Outcome::Reply(reply) = front.handle(&bytes, peer, Transport::Tcp) {
                        stream.write_all(&reply.bytes).await?;
                    }
                }
                Err(e) => {
                    // The stream's framing is lost: answer what can be answered, then close
                    // (RFC 3261 §18.3).
                    debug!(%peer, error = %e, "tcp framing error");
                    let pending = framer.take_buffered();
                    if let Outcome::Reply(reply) = front.reject(&pending, e, peer, Transport::Tcp) {
                        stream.write_all(&reply.bytes).await?;
                    }
                    return Ok(());
                }
            }
        }
    }
}
