//! The TCP listener: accepts connections, frames messages by Content-Length and hands them to
//! the SIP core; writes what the core sends to the flow; honours CRLF keep-alives; closes idle
//! or broken connections.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, warn};
use trunkline_sip::{Frame, ParseError, ParseErrorKind, StreamFramer};

use crate::config::Transport;
use crate::transport::flow::Flows;
use crate::transport::ingress::Ingress;
use crate::transport::limits::ConnectionLimits;
use crate::transport::{Arrival, Inbound};

/// Connection settings from the SIP config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_message_size: usize,
    pub(crate) idle_timeout: Duration,
    /// `Retry-After` of the 503 for a request the core's full queue cannot take.
    pub(crate) retry_after: u32,
}

/// How long a broken connection waits for the core's error response before closing.
const LAST_WORDS: Duration = Duration::from_secs(1);

/// How long a half-closed connection stays open after the last message written to it.
const LINGER_QUIET: Duration = Duration::from_millis(200);

/// Accepts plain TCP connections until the task is cancelled.
pub(crate) async fn serve(
    listener: TcpListener,
    flows: Arc<Flows>,
    core: Ingress,
    limits: Limits,
    caps: Arc<ConnectionLimits>,
) {
    accept_limited(listener, Transport::Tcp, caps, move |stream, peer| {
        let flows = Arc::clone(&flows);
        let core = core.clone();
        async move {
            let (r, w) = stream.into_split();
            let flow = flows.register(Transport::Tcp, peer);
            if let Err(e) = connection(r, w, peer, Transport::Tcp, flow, &core, limits).await {
                debug!(%peer, error = %e, "tcp connection ended");
            }
        }
    })
    .await;
}

/// The accept loop every stream listener (TCP, TLS, WS, WSS) shares: runs `serve_one` for each
/// accepted connection in its own task until this task is cancelled, which ends them all.
/// A connection beyond `caps` is closed at once, before any handshake.
pub(crate) async fn accept_limited<F, Fut>(
    listener: TcpListener,
    transport: Transport,
    caps: Arc<ConnectionLimits>,
    mut serve_one: F,
) where
    F: FnMut(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => match caps.try_acquire(peer.ip()) {
                    Ok(permit) => {
                        let _ = stream.set_nodelay(true);
                        let serve = serve_one(stream, peer);
                        connections.spawn(async move {
                            serve.await;
                            drop(permit);
                        });
                    }
                    // Dropping the stream closes it.
                    Err(refused) => debug!(%transport, %peer, %refused, "connection refused"),
                },
                Err(e) => {
                    // EMFILE and friends: back off briefly instead of spinning.
                    warn!(%transport, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Serves one established stream connection of any byte-stream transport (TCP, or TLS once the
/// handshake is done), registered as `flow`: frames inbound messages for the core, writes
/// outbound ones.
pub(crate) async fn connection<R, W>(
    mut reader: R,
    mut writer: W,
    peer: SocketAddr,
    transport: Transport,
    mut flow: crate::transport::flow::Registration,
    core: &Ingress,
    limits: Limits,
) -> std::io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut framer = StreamFramer::new(limits.max_message_size);
    let mut buf = ReadBuf::default();
    loop {
        tokio::select! {
            read = tokio::time::timeout(limits.idle_timeout, reader.read(buf.space())) => {
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
                framer.push(buf.filled(n));
                buf.resize_after(n, framer.buffered());
                loop {
                    match framer.next_frame() {
                        Ok(None) => break,
                        Ok(Some(Frame::Ping)) => writer.write_all(b"\r\n").await?,
                        Ok(Some(Frame::Pong)) => {}
                        Ok(Some(Frame::Message(bytes))) => {
                            let msg = Inbound { bytes, source: peer, transport, via: Arrival::Flow(flow.id), broken: None, queued: std::time::Instant::now() };
                            match core.try_send(msg) {
                                Ok(()) => {}
                                // Overload: 503 with Retry-After instead of queueing.
                                Err(mpsc::error::TrySendError::Full(msg)) => {
                                    if let Some(reply) = crate::transport::front::overloaded(&msg.bytes, peer, transport, limits.retry_after) {
                                        writer.write_all(&reply.bytes).await?;
                                    }
                                }
                                Err(mpsc::error::TrySendError::Closed(_)) => return Ok(()),
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

/// The per-connection read buffer. Most SIP connections sit idle for hours between a
/// REGISTER refresh and the next call, and an idle connection still holds the buffer its
/// pending read writes into; so it starts small, doubles whenever a read fills it (a burst, a
/// large INVITE), and drops back to the small size once a burst has been framed.
#[derive(Debug)]
struct ReadBuf(Vec<u8>);

impl ReadBuf {
    /// Size while idle: room for a typical OPTIONS, REGISTER refresh or CRLF keep-alive.
    const IDLE: usize = 1024;
    /// Largest size; one read never needs to take in more.
    const MAX: usize = 64 * 1024;

    /// Where the next read goes.
    fn space(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// The `n` bytes the last read wrote.
    fn filled(&self, n: usize) -> &[u8] {
        &self.0[..n]
    }

    /// Adapts the size after a read of `n` bytes, with `pending` bytes left unframed.
    fn resize_after(&mut self, n: usize, pending: usize) {
        let len = self.0.len();
        if n == len && len < Self::MAX {
            self.0 = vec![0; len * 2];
        } else if len > Self::IDLE && pending == 0 && n <= len / 4 {
            self.0 = vec![0; Self::IDLE];
        }
    }
}

impl Default for ReadBuf {
    fn default() -> Self {
        ReadBuf(vec![0; Self::IDLE])
    }
}

/// After the peer's EOF: writes what the core still sends until it has been quiet for
/// [`LINGER_QUIET`], at most [`LAST_WORDS`], then closes.
async fn linger<W: AsyncWrite + Unpin>(
    flow: &mut crate::transport::flow::Registration,
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
    flow: &mut crate::transport::flow::Registration,
    core: &Ingress,
    writer: &mut W,
) -> std::io::Result<()> {
    debug!(%peer, %error, "stream framing error");
    let msg = Inbound {
        bytes: pending,
        source: peer,
        transport,
        via: Arrival::Flow(flow.id),
        broken: Some(error),
        queued: std::time::Instant::now(),
    };
    if core.send(msg).await.is_err() {
        return Ok(());
    }
    linger(flow, writer).await
}

#[cfg(test)]
mod tests {
    use super::ReadBuf;

    #[test]
    fn read_buffer_grows_with_bursts_and_shrinks_when_idle() {
        let mut buf = ReadBuf::default();
        assert_eq!(buf.space().len(), ReadBuf::IDLE);
        // Full reads double it, up to the maximum.
        for _ in 0..10 {
            let n = buf.space().len();
            buf.resize_after(n, 100);
        }
        assert_eq!(buf.space().len(), ReadBuf::MAX);
        // A partial message pending keeps the size.
        buf.resize_after(10, 10);
        assert_eq!(buf.space().len(), ReadBuf::MAX);
        // A busy connection filling a good part of it keeps the size.
        buf.resize_after(ReadBuf::MAX / 2, 0);
        assert_eq!(buf.space().len(), ReadBuf::MAX);
        // A keep-alive once everything is framed: back to idle size.
        buf.resize_after(4, 0);
        assert_eq!(buf.space().len(), ReadBuf::IDLE);
    }
}
