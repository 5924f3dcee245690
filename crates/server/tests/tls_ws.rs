//! TLS, WebSocket (RFC 7118) and secure WebSocket listeners over real sockets, IPv4 and IPv6:
//! an OPTIONS gets its 200 over each; the WebSocket upgrade insists on the `sip` subprotocol;
//! client certificates are enforced when `sip.tls.client_ca` is set; broken or stalled clients
//! cost the server nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use common::{Pki, options};
use futures_util::{SinkExt, StreamExt};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use trunkline_server::{Config, Server, ServerError, Transport};
use trunkline_sip::{Frame, HeaderName, Message, StreamFramer};

const WAIT: Duration = Duration::from_secs(5);

fn config(listen: &[&str], pki: &Pki) -> Config {
    let mut cfg = Config::default();
    cfg.sip.listen = listen.iter().map(|s| s.parse().unwrap()).collect();
    cfg.sip.tls.cert = Some(pki.cert.clone());
    cfg.sip.tls.key = Some(pki.key.clone());
    cfg
}

async fn start(cfg: &Config) -> Server {
    cfg.validate().unwrap();
    Server::start(cfg).await.unwrap()
}

/// Asserts `bytes` is a 200 to an OPTIONS, with `Allow`.
fn assert_200_with_allow(bytes: &[u8]) {
    let m =
        Message::parse(bytes).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(bytes)));
    assert_eq!(m.status_line().map(|s| s.code), Some(200), "{m:?}");
    assert!(m.header(HeaderName::Allow).is_some(), "{m:?}");
}

/// Reads one SIP message from a byte stream.
async fn read_message<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Vec<u8>> {
    let mut framer = StreamFramer::new(1 << 16);
    let mut buf = [0u8; 4096];
    loop {
        if let Ok(Some(Frame::Message(m))) = framer.next_frame() {
            return Ok(m);
        }
        let n = tokio::time::timeout(WAIT, r.read(&mut buf))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no reply"))??;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        framer.push(&buf[..n]);
    }
}

async fn tls_connect(addr: SocketAddr, client: Arc<ClientConfig>) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::IpAddress(addr.ip().into());
    TlsConnector::from(client).connect(name, tcp).await.unwrap()
}

/// Sends an OPTIONS over an established stream and returns the reply (or why there is none).
async fn options_over<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    target: SocketAddr,
    via: &str,
    n: u32,
) -> std::io::Result<Vec<u8>> {
    s.write_all(options(target, via, n).as_bytes()).await?;
    s.flush().await?;
    read_message(s).await
}

async fn tls_options(target: SocketAddr, client: Arc<ClientConfig>, n: u32) {
    let mut s = tls_connect(target, client).await;
    let local = s.get_ref().0.local_addr().unwrap();
    let reply = options_over(&mut s, target, &format!("TLS {local}"), n)
        .await
        .unwrap();
    assert_200_with_allow(&reply);
}

/// Opens a WebSocket over `stream`, offering `protocol` when given.
async fn ws_connect<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    url: &str,
    protocol: Option<&str>,
) -> Result<(WebSocketStream<S>, Option<HeaderValue>), WsError> {
    let mut request = url.into_client_request().unwrap();
    if let Some(p) = protocol {
        request
            .headers_mut()
            .insert(header::SEC_WEBSOCKET_PROTOCOL, p.parse().unwrap());
    }
    let (ws, response) = tokio_tungstenite::client_async(request, stream).await?;
    let answered = response
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .cloned();
    Ok((ws, answered))
}

/// The next data message on a WebSocket (pings and pongs skipped).
async fn ws_next<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>) -> WsMessage {
    loop {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a WebSocket message in time")
            .expect("the WebSocket is open")
            .expect("a valid WebSocket message");
        if !matches!(m, WsMessage::Ping(_) | WsMessage::Pong(_)) {
            return m;
        }
    }
}

/// An RFC 7118 style OPTIONS: the client's Via names an unresolvable `.invalid` host.
fn ws_options(target: SocketAddr, transport: &str, n: u32) -> String {
    options(target, &format!("{transport} df7jal23ls0d.invalid"), n)
}

async fn ws_exchange<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    target: SocketAddr,
    transport: &str,
) {
    // A text frame and a binary frame: RFC 7118 §5.1 allows either.
    ws.send(WsMessage::text(ws_options(target, transport, 1)))
        .await
        .unwrap();
    let reply = ws_next(ws).await;
    assert!(
        reply.is_text(),
        "UTF-8 replies go in text frames: {reply:?}"
    );
    assert_200_with_allow(&reply.into_data());
    ws.send(WsMessage::binary(
        ws_options(target, transport, 2).into_bytes(),
    ))
    .await
    .unwrap();
    assert_200_with_allow(&ws_next(ws).await.into_data());
}

#[tokio::test]
async fn tls_answers_options_on_ipv4_and_ipv6() {
    let pki = Pki::new("tls");
    let server = start(&config(&["tls:127.0.0.1:0", "tls:[::1]:0"], &pki)).await;
    for (_, addr) in server.local_addrs() {
        tls_options(*addr, pki.client(None), 1).await;
        tls_options(*addr, pki.client_tls12(), 2).await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn tls_carries_large_messages_and_many_in_a_row() {
    let pki = Pki::new("tls-large");
    let mut cfg = config(&["tls:127.0.0.1:0"], &pki);
    cfg.sip.max_message_size = 100_000;
    let server = start(&cfg).await;
    let target = server.local_addr(Transport::Tls).unwrap();
    let mut s = tls_connect(target, pki.client(None)).await;
    let local = s.get_ref().0.local_addr().unwrap();
    // A body spanning several 16 KiB TLS records, then pipelined requests in one write.
    let body = "a=x-padding\r\n".repeat(3000);
    let big = options(target, &format!("TLS {local}"), 1).replace(
        "Content-Length: 0\r\n",
        &format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n",
            body.len()
        ),
    ) + &body;
    s.write_all(big.as_bytes()).await.unwrap();
    let reply = read_message(&mut s).await.unwrap();
    let m = Message::parse(&reply).unwrap();
    assert_eq!(m.cseq().unwrap().seq, 1, "{m:?}");
    let burst: String = (2..12)
        .map(|n| options(target, &format!("TLS {local}"), n))
        .collect();
    s.write_all(burst.as_bytes()).await.unwrap();
    let mut framer = StreamFramer::new(1 << 16);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while seen.len() < 10 {
        let n = tokio::time::timeout(WAIT, s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed after {seen:?}");
        framer.push(&buf[..n]);
        while let Ok(Some(Frame::Message(m))) = framer.next_frame() {
            assert_200_with_allow(&m);
            seen.push(Message::parse(&m).unwrap().cseq().unwrap().seq);
        }
    }
    // Each request is its own call (Call-ID), and calls are spread over the shards: their
    // answers may leave in any order.
    seen.sort_unstable();
    assert_eq!(seen, (2..12).collect::<Vec<u32>>());
    server.shutdown().await;
}

#[tokio::test]
async fn ws_negotiates_sip_and_answers_options() {
    let pki = Pki::new("ws");
    let server = start(&config(&["ws:127.0.0.1:0", "ws:[::1]:0"], &pki)).await;
    for (_, target) in server.local_addrs() {
        let tcp = TcpStream::connect(target).await.unwrap();
        let (mut ws, answered) = ws_connect(tcp, &format!("ws://{target}/"), Some("sip"))
            .await
            .unwrap();
        assert_eq!(answered.unwrap(), "sip");
        ws_exchange(&mut ws, *target, "WS").await;

        // A WebSocket ping gets its pong; the RFC 5626 CRLF keep-alive its CRLF.
        ws.send(WsMessage::Ping("are you there".into()))
            .await
            .unwrap();
        let pong = tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(pong, WsMessage::Pong("are you there".into()));
        ws.send(WsMessage::text("\r\n\r\n")).await.unwrap();
        assert_eq!(ws_next(&mut ws).await, WsMessage::text("\r\n"));
        ws.close(None).await.unwrap();
    }
    server.shutdown().await;
}

#[tokio::test]
async fn wss_answers_options_on_ipv4_and_ipv6() {
    let pki = Pki::new("wss");
    let server = start(&config(&["wss:127.0.0.1:0", "wss:[::1]:0"], &pki)).await;
    for (_, target) in server.local_addrs() {
        let tls = tls_connect(*target, pki.client(None)).await;
        let (mut ws, answered) = ws_connect(tls, &format!("wss://{target}/"), Some("sip"))
            .await
            .unwrap();
        assert_eq!(answered.unwrap(), "sip");
        ws_exchange(&mut ws, *target, "WSS").await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn ws_upgrade_without_sip_subprotocol_is_refused() {
    let pki = Pki::new("ws-refuse");
    let server = start(&config(&["ws:127.0.0.1:0"], &pki)).await;
    let target = server.local_addr(Transport::Ws).unwrap();
    for offer in [None, Some("chat"), Some("xmpp, mqtt")] {
        let tcp = TcpStream::connect(target).await.unwrap();
        match ws_connect(tcp, &format!("ws://{target}/"), offer).await {
            Err(WsError::Http(response)) => {
                assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{offer:?}")
            }
            other => panic!("{offer:?}: expected a 400, got {:?}", other.map(|(_, p)| p)),
        }
    }
    // The listener still serves a proper client.
    let tcp = TcpStream::connect(target).await.unwrap();
    let (mut ws, _) = ws_connect(tcp, &format!("ws://{target}/"), Some("sip"))
        .await
        .unwrap();
    ws_exchange(&mut ws, target, "WS").await;
    server.shutdown().await;
}

#[tokio::test]
async fn ws_message_over_the_size_cap_closes_with_1009() {
    let pki = Pki::new("ws-big");
    let mut cfg = config(&["ws:127.0.0.1:0"], &pki);
    cfg.sip.max_message_size = 2048;
    let server = start(&cfg).await;
    let target = server.local_addr(Transport::Ws).unwrap();
    let tcp = TcpStream::connect(target).await.unwrap();
    let (mut ws, _) = ws_connect(tcp, &format!("ws://{target}/"), Some("sip"))
        .await
        .unwrap();
    ws.send(WsMessage::binary(vec![b'x'; 4096])).await.unwrap();
    match ws_next(&mut ws).await {
        WsMessage::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Size),
        other => panic!("expected a close frame, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn ws_idle_connection_is_closed() {
    let pki = Pki::new("ws-idle");
    let mut cfg = config(&["ws:127.0.0.1:0"], &pki);
    cfg.sip.tcp_idle_timeout_secs = 1;
    let server = start(&cfg).await;
    let target = server.local_addr(Transport::Ws).unwrap();
    let tcp = TcpStream::connect(target).await.unwrap();
    let (mut ws, _) = ws_connect(tcp, &format!("ws://{target}/"), Some("sip"))
        .await
        .unwrap();
    match ws_next(&mut ws).await {
        WsMessage::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected a close frame, got {other:?}"),
    }
    server.shutdown().await;
}

#[tokio::test]
async fn garbage_and_stalled_handshakes_do_not_hurt() {
    let pki = Pki::new("garbage");
    let mut cfg = config(&["tls:127.0.0.1:0", "wss:127.0.0.1:0"], &pki);
    cfg.sip.tls.handshake_timeout_secs = 1;
    let server = start(&cfg).await;
    for (_, target) in server.local_addrs() {
        // Plain SIP (and binary noise) where a ClientHello belongs: the server hangs up.
        let mut tcp = TcpStream::connect(target).await.unwrap();
        let me = tcp.local_addr().unwrap();
        tcp.write_all(options(*target, &format!("TCP {me}"), 1).as_bytes())
            .await
            .unwrap();
        let mut sink = Vec::new();
        let read = tokio::time::timeout(WAIT, tcp.read_to_end(&mut sink)).await;
        assert!(
            read.is_ok(),
            "{target}: the server should close a garbage handshake"
        );
        let mut noise = TcpStream::connect(target).await.unwrap();
        noise
            .write_all(&[0x16, 0x03, 0x01, 0xff, 0xff, 0, 1, 2])
            .await
            .unwrap();
        drop(noise);

        // A client that connects and says nothing is dropped after the handshake timeout.
        let mut stalled = TcpStream::connect(target).await.unwrap();
        let read = tokio::time::timeout(WAIT, stalled.read_to_end(&mut sink)).await;
        assert!(
            read.is_ok(),
            "{target}: a stalled handshake should time out"
        );
    }
    let tls = server.local_addr(Transport::Tls).unwrap();
    tls_options(tls, pki.client(None), 2).await;
    server.shutdown().await;
}

#[tokio::test]
async fn client_certificate_required_when_client_ca_is_set() {
    let pki = Pki::new("mtls");
    let mut cfg = config(&["tls:127.0.0.1:0", "wss:[::1]:0"], &pki);
    cfg.sip.tls.client_ca = Some(pki.ca.clone());
    let server = start(&cfg).await;
    let target = server.local_addr(Transport::Tls).unwrap();

    // No certificate, or one from another CA: the handshake (in TLS 1.3 the first read
    // after it) fails and no SIP gets through.
    for identity in [None, Some(pki.client_identity(false))] {
        let strange = identity.is_some();
        let tcp = TcpStream::connect(target).await.unwrap();
        let name = ServerName::IpAddress(target.ip().into());
        let refused = match TlsConnector::from(pki.client(identity))
            .connect(name, tcp)
            .await
        {
            Err(_) => true,
            Ok(mut s) => options_over(&mut s, target, "TLS 127.0.0.1:5999", 1)
                .await
                .is_err(),
        };
        assert!(refused, "client with a stranger's cert: {strange}");
    }

    // A certificate signed by the configured CA is welcome, over TLS and WSS.
    tls_options(target, pki.client(Some(pki.client_identity(true))), 2).await;
    let wss = server.local_addr(Transport::Wss).unwrap();
    let tls = tls_connect(wss, pki.client(Some(pki.client_identity(true)))).await;
    let (mut ws, _) = ws_connect(tls, &format!("wss://{wss}/"), Some("sip"))
        .await
        .unwrap();
    ws_exchange(&mut ws, wss, "WSS").await;
    server.shutdown().await;
}

#[tokio::test]
async fn bad_certificate_files_stop_the_start() {
    let pki = Pki::new("badfiles");
    let listen = ["tls:127.0.0.1:0"];
    let missing = pki.dir.join("missing.pem");
    let not_pem = pki.dir.join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();

    let mut cfg = config(&listen, &pki);
    cfg.sip.tls.cert = Some(missing.clone());
    let err = Server::start(&cfg).await.unwrap_err();
    assert!(matches!(err, ServerError::Tls(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("config: sip.tls.cert: {missing:?}: No such file or directory (os error 2)")
    );

    let mut cfg = config(&listen, &pki);
    cfg.sip.tls.key = Some(not_pem.clone());
    assert_eq!(
        Server::start(&cfg).await.unwrap_err().to_string(),
        format!(
            "config: sip.tls.key: {not_pem:?}: no PEM \"PRIVATE KEY\", \"RSA PRIVATE KEY\" or \"EC PRIVATE KEY\" block found"
        )
    );

    // The CA file as the server key's certificate: the key does not match it.
    let mut cfg = config(&listen, &pki);
    cfg.sip.tls.cert = Some(pki.ca.clone());
    let err = Server::start(&cfg).await.unwrap_err().to_string();
    assert!(err.starts_with("config: sip.tls.key: "), "{err}");
}
