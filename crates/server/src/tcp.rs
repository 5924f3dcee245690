//! The TCP listener: accepts connections, frames messages by Content-Length and hands them to
//! the SIP core; writes what the core sends to the flow; honours CRLF keep-alives; closes idle
//! or broken connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{debug, warn};
use trunkline_sip::{Frame, ParseError, ParseErrorKind, StreamFramer};

use crate::config::Transport;
use crate::core::{Arrival, Inbound};
use crate::flow::Flows;

/// Connection settings from the SIP config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_message_size: usize,
    pub(crate) idle_timeout: Duration,
}

/// How long a broken connection waits for the core's error response before closing.
const LAST_WORDS: Duration = Duration::from_secs(1);

/// How long a half-closed connection stays open after the last message written to it.
const LINGER_QUIET: Duration = Duration::from_millis(200);

/// Accepts connections until the task is cancelled.
pub(crate) async fn serve(
    listener: TcpListener,
    flows: Arc<Flows>,
    core: mpsc::Sender<Inbound>,
    limits: Limits,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    let flows = Arc::clone(&flows);
                    let core = core.clone();
                    connections.spawn(async move {
                        let (r, w) = stream.into_split();
                        if let Err(e) =
                            connection(r, w, peer, Transport::Tcp, &flows, &core, limits).await
                        {
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

/// Serves one established stream connection of any stream transport (TCP, or TLS once the
/// handshake is done): frames inbound messages for the core, writes outbound ones.
pub(crate) async fn connection<R, W>(
    mut reader: R,
    mut writer: W,
    peer: SocketAddr,
    transport: Transport,
    flows: &Arc<Flows>,
    core: &mpsc::Sender<Inbound>,
    limits: Limits,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut flow = flows.register(transport, peer);
    let mut framer = StreamFramer::new(limits.max_message_size);
    let mut buf = vec![0u8; 8 * 1024];
    loop {
        tokio::select! {
            read = tokio::time::timeout(limits.idle_timeout, reader.read(&mut buf)) => {
                let n = match read {
                    Ok(r) => r?,
                    Err(_) => {
                        debug!(%peer, "idle timeout");
                        return Ok(());
                    }
                };
                if n == 0 {
                    // The peer finished sending mid-message: the message is truncated.
                    // Answer it (the peer may only have shut down its write half), then close.
                    let pending = framer.take_buffered();
                    if pending.iter().any(|&b| b != b'\r' && b != b'\n') {
                        let e = ParseError { kind: ParseErrorKind::TruncatedBody, offset: pending.len() };
                        return last_words(pending, e, peer, transport, &mut flow, core, &mut writer).await;
                    }
                    // Half-closed: answers to what the peer sent may still be on their way.
                    return linger(&mut flow, &mut writer).await;
                }
                framer.push(&buf[..n]);
                loop {
                    match framer.next_frame() {
                        Ok(None) => break,
                        Ok(Some(Frame::Ping)) => writer.write_all(b"\r\n").await?,
                        Ok(Some(Frame::Pong)) => {}
                        Ok(Some(Frame::Message(bytes))) => {
                            let msg = Inbound { bytes, source: peer, transport, via: Arrival::Flow(flow.id), broken: None };
                            if core.send(msg).await.is_err() {
                                return Ok(());
                            }
                        }
                        Err(e) => {
                            // The stream's framing is lost (RFC 3261 §18.3): answer what can
                            // be answered, then close.
                            let pending = framer.take_buffered();
                            return last_words(pending, e, peer, transport, &mut flow, core, &mut writer).await;
                        }
                    }
                }
            }
            Some(out) = flow.outbound.recv() => writer.write_all(&out).await?,
        }
    }
}

/// After the peer's EOF: writes what the core still sends until it has been quiet for
/// [`LINGER_QUIET`], at most [`LAST_WORDS`], then closes.
async fn linger<W: AsyncWrite + Unpin>(
    flow: &mut crate::flow::Registration,
    writer: &mut W,
) -> std::io::Result<()> {
    let deadline = tokio::time::Instant::now() + LAST_WORDS;
    while let Ok(Some(out)) = tokio::time::timeout_at(
        deadline.min(tokio::time::Instant::now() + LINGER_QUIET),
        flow.outbound.recv(),
    )
    .await
    {
        writer.write_all(&out).await?;
    }
    writer.shutdown().await
}

/// Hands a broken message to the core for its 400, writes that answer, and returns.
async fn last_words<W: AsyncWrite + Unpin>(
    pending: Vec<u8>,
    error: ParseError,
    peer: SocketAddr,
    transport: Transport,
    flow: &mut crate::flow::Registration,
    core: &mpsc::Sender<Inbound>,
    writer: &mut W,
) -> std::io::Result<()> {
    debug!(%peer, %error, "stream framing error");
    let msg = Inbound {
        bytes: pending,
        source: peer,
        transport,
        via: Arrival::Flow(flow.id),
        broken: Some(error),
    };
    if core.send(msg).await.is_err() {
        return Ok(());
    }
    linger(flow, writer).await
}
