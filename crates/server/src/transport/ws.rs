//! The WebSocket listeners (RFC 7118), plain (`ws`) and over TLS (`wss`): the HTTP upgrade must
//! negotiate the `sip` subprotocol; then each WebSocket message carries exactly one SIP message,
//! so no Content-Length framing is needed. Browsers (WebRTC softphones) reach SIP this way.
//!
//! Nothing here parses SIP: a message is handed to the core as received, after the size cap.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tracing::debug;

use crate::config::Transport;
use crate::transport::flow::Flows;
use crate::transport::ingress::Ingress;
use crate::transport::limits::ConnectionLimits;
use crate::transport::tcp::{self, Limits};
use crate::transport::tls;
use crate::transport::{Arrival, Inbound};

/// The WebSocket subprotocol registered for SIP (RFC 7118 §3).
const SUBPROTOCOL: &str = "sip";

/// Bytes the WebSocket reader keeps per connection, idle or not. A typical SIP message fits;
/// a bigger one grows the buffer while it is read.
const READ_BUFFER: usize = 1024;

/// How long a closing handshake may take before the connection is simply dropped.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// What a WebSocket listener needs besides its socket.
#[derive(Clone)]
pub(crate) struct Listener {
    /// `Ws` or `Wss`.
    pub(crate) transport: Transport,
    /// Present for `wss`: the TLS layer under the WebSocket.
    pub(crate) tls: Option<tls::Acceptor>,
    /// Time allowed for the TLS handshake and, separately, for the HTTP upgrade.
    pub(crate) handshake_timeout: Duration,
    pub(crate) flows: Arc<Flows>,
    pub(crate) core: Ingress,
    pub(crate) limits: Limits,
    /// Connection caps, shared with the other stream listeners.
    pub(crate) caps: Arc<ConnectionLimits>,
}

/// Accepts WebSocket connections until the task is cancelled.
pub(crate) async fn serve(listener: TcpListener, ws: Listener) {
    let transport = ws.transport;
    let caps = Arc::clone(&ws.caps);
    tcp::accept_limited(listener, transport, caps, move |stream, peer| {
        let ws = ws.clone();
        async move {
            if let Err(e) = ws.connection(stream, peer).await {
                debug!(%peer, %transport, error = %e, "websocket connection ended");
            }
        }
    })
    .await;
}

impl Listener {
    async fn connection(&self, stream: TcpStream, peer: SocketAddr) -> Result<(), WsError> {
        match &self.tls {
            None => self.upgrade(stream, peer).await,
            Some(acceptor) => {
                let tls = tls::handshake(acceptor, stream, self.handshake_timeout).await?;
                self.upgrade(tls, peer).await
            }
        }
    }

    /// Runs the HTTP upgrade, then serves the WebSocket.
    async fn upgrade<S>(&self, stream: S, peer: SocketAddr) -> Result<(), WsError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let max = self.limits.max_message_size;
        let config = WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER)
            // Each SIP message goes out at once; nothing waits in a write buffer.
            .write_buffer_size(0)
            .max_message_size(Some(max))
            .max_frame_size(Some(max));
        let upgrade =
            tokio_tungstenite::accept_hdr_async_with_config(stream, negotiate, Some(config));
        // Boxed, like the TLS handshake: an idle connection's task does not carry its size.
        let ws = match Box::pin(tokio::time::timeout(self.handshake_timeout, upgrade)).await {
            Ok(ws) => ws?,
            Err(_) => {
                return Err(WsError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "WebSocket upgrade timed out",
                )));
            }
        };
        self.session(ws, peer).await
    }

    /// Moves messages between the WebSocket and the core until either side ends.
    async fn session<S>(&self, mut ws: WebSocketStream<S>, peer: SocketAddr) -> Result<(), WsError>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let transport = self.transport;
        let mut flow = self.flows.register(transport, peer);
        loop {
            tokio::select! {
                read = tokio::time::timeout(self.limits.idle_timeout, ws.next()) => {
                    let message = match read {
                        Err(_) => {
                            debug!(%peer, %transport, "idle timeout");
                            return close(&mut ws, CloseCode::Away).await;
                        }
                        Ok(None) | Ok(Some(Err(WsError::ConnectionClosed))) => return Ok(()),
                        Ok(Some(Err(e @ WsError::Capacity(_)))) => {
                            // RFC 6455 §7.4.1: 1009, the message is too big to process.
                            debug!(%peer, %transport, error = %e, "message too large");
                            return close(&mut ws, CloseCode::Size).await;
                        }
                        Ok(Some(Err(e))) => return Err(e),
                        Ok(Some(Ok(message))) => message,
                    };
                    let bytes = match message {
                        Message::Text(_) | Message::Binary(_) => message.into_data(),
                        // tungstenite has queued the pong (or the closing reply); send it now
                        // rather than with the next outbound message.
                        Message::Ping(_) | Message::Close(_) => {
                            ws.flush().await?;
                            continue;
                        }
                        Message::Pong(_) | Message::Frame(_) => continue,
                    };
                    match keepalive(&bytes) {
                        Some(Keepalive::Ping) => {
                            ws.send(Message::text("\r\n")).await?;
                            continue;
                        }
                        Some(Keepalive::Pong) => continue,
                        None => {}
                    }
                    let msg = Inbound {
                        bytes: Vec::from(bytes),
                        source: peer,
                        transport,
                        via: Arrival::Flow(flow.id),
                        broken: None,
                        queued: std::time::Instant::now(),
                    };
                    if self.core.send(msg).await.is_err() {
                        return close(&mut ws, CloseCode::Away).await;
                    }
                }
                Some(out) = flow.outbound.recv() => ws.send(outbound(out)).await?,
            }
        }
    }
}

/// The upgrade callback: accepts only a client that offers the `sip` subprotocol and names it
/// in the answer (RFC 7118 §4; a client closes a connection whose 101 lacks it). Anything else
/// gets `400 Bad Request`, so a misdirected browser or scanner never reaches the SIP core.
#[expect(
    clippy::result_large_err,
    reason = "the signature is tungstenite's Callback; an error ends the handshake"
)]
fn negotiate(request: &Request, mut response: Response) -> Result<Response, ErrorResponse> {
    let offers_sip = request
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case(SUBPROTOCOL));
    if !offers_sip {
        let mut refusal = ErrorResponse::new(Some(
            "SIP over WebSocket needs Sec-WebSocket-Protocol: sip (RFC 7118)\n".to_owned(),
        ));
        *refusal.status_mut() = StatusCode::BAD_REQUEST;
        return Err(refusal);
    }
    response.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(SUBPROTOCOL),
    );
    Ok(response)
}

/// A SIP message goes out as a text frame when it is UTF-8 (RFC 7118 §5.1 lets either carry
/// it; browsers' SIP stacks handle text most easily), as binary otherwise.
fn outbound(bytes: Vec<u8>) -> Message {
    match String::from_utf8(bytes) {
        Ok(text) => Message::text(text),
        Err(e) => Message::binary(e.into_bytes()),
    }
}

/// The RFC 5626 §4.4.1 double-CRLF keep-alive that SIP.js and other browser stacks send over
/// WebSocket, answered like on TCP instead of reaching the core as an empty message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keepalive {
    /// `CRLF CRLF`: answer with one CRLF.
    Ping,
    /// A lone CRLF (or other whitespace-only message): nothing to do.
    Pong,
}

fn keepalive(bytes: &[u8]) -> Option<Keepalive> {
    if bytes == b"\r\n\r\n" {
        Some(Keepalive::Ping)
    } else if !bytes.is_empty() && bytes.iter().all(|b| matches!(b, b'\r' | b'\n')) {
        Some(Keepalive::Pong)
    } else {
        None
    }
}

/// Sends a close frame and waits briefly for it to go out.
async fn close<S>(ws: &mut WebSocketStream<S>, code: CloseCode) -> Result<(), WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code,
        reason: "".into(),
    };
    match tokio::time::timeout(CLOSE_WAIT, ws.close(Some(frame))).await {
        Ok(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) | Err(_) => Ok(()),
        Ok(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(protocols: &[&str]) -> Request {
        let mut b = Request::builder().uri("/");
        for p in protocols {
            b = b.header(header::SEC_WEBSOCKET_PROTOCOL, *p);
        }
        b.body(()).unwrap()
    }

    #[test]
    fn negotiates_sip_among_offers() {
        for offers in [&["sip"][..], &["chat, sip"], &["chat", " SIP "]] {
            let resp = negotiate(&request(offers), Response::default()).unwrap();
            assert_eq!(
                resp.headers().get(header::SEC_WEBSOCKET_PROTOCOL).unwrap(),
                "sip",
                "{offers:?}"
            );
        }
    }

    #[test]
    fn refuses_without_sip() {
        for offers in [&[][..], &["chat"], &["sips"]] {
            let err = negotiate(&request(offers), Response::default()).unwrap_err();
            assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{offers:?}");
        }
    }

    #[test]
    fn text_for_utf8_binary_otherwise() {
        assert!(outbound(b"SIP/2.0 200 OK\r\n\r\n".to_vec()).is_text());
        assert!(outbound(vec![0xff, 0xfe]).is_binary());
    }

    #[test]
    fn crlf_keepalives() {
        assert_eq!(keepalive(b"\r\n\r\n"), Some(Keepalive::Ping));
        assert_eq!(keepalive(b"\r\n"), Some(Keepalive::Pong));
        assert_eq!(keepalive(b""), None);
        assert_eq!(keepalive(b"OPTIONS sip:x SIP/2.0\r\n\r\n"), None);
    }
}
