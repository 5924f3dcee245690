//! Memory per idle connection, measured on a real `trunkline serve` process: how much its
//! resident set grows for each idle TCP, TLS or WebSocket connection. Run through
//! `bench/conn-memory`, which builds the binary and raises the descriptor limit.
//!
//! For each transport a fresh server process is started (so memory freed by one phase cannot
//! be reused by the next), `WARM` connections absorb one-time costs, then `N` more connections
//! each send an OPTIONS, read the 200 and stay open, idle. Bytes per connection is the growth of
//! the server's VmRSS over those `N`, divided by `N`. The clients run in this process, so their
//! memory is not counted.
//!
//! Usage: `conn_memory TRUNKLINE_BINARY [N] [tcp|tls|ws|wss]...`

#![allow(clippy::unwrap_used, clippy::expect_used)] // a measurement tool: failing loudly is right

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Connections opened before the baseline is taken.
const WARM: usize = 200;

/// A kept-open client connection of any kind.
type Held = Box<dyn Send>;

struct Served {
    child: Child,
}

impl Drop for Served {
    fn drop(&mut self) {
        // Only our own child, by PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve(binary: &Path, transport: &str, pki: &common::Pki) -> (Served, SocketAddr) {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let config = pki.dir.join(format!("{transport}.toml"));
    std::fs::write(
        &config,
        format!(
            "[sip]\nlisten = [\"{transport}:{addr}\"]\n\n[sip.tls]\ncert = {:?}\nkey = {:?}\n\n\
             [http]\nlisten = \"127.0.0.1:0\"\n\n[data]\ndir = {:?}\n\n[log]\nlevel = \"warn\"\n",
            pki.cert,
            pki.key,
            pki.dir.join("data"),
        ),
    )
    .unwrap();
    let child = Command::new(binary)
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let served = Served { child };
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (served, addr)
}

async fn read_reply<S: AsyncRead + Unpin>(s: &mut S) {
    let mut buf = [0u8; 2048];
    let mut got = Vec::new();
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await.unwrap();
        assert!(n > 0, "server closed");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"SIP/2.0 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    target: SocketAddr,
    via: &str,
    n: u32,
) {
    s.write_all(common::options(target, via, n).as_bytes())
        .await
        .unwrap();
    read_reply(s).await;
}

async fn open(transport: &str, target: SocketAddr, client: &Arc<ClientConfig>, n: u32) -> Held {
    // Spread over loopback source addresses, under any per-address connection cap.
    let k = n as usize / 50;
    let source = std::net::Ipv4Addr::new(127, 1, (k / 250) as u8, (k % 250 + 1) as u8);
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source.into(), 0)).unwrap();
    let tcp = socket.connect(target).await.unwrap();
    let name = ServerName::IpAddress(target.ip().into());
    match transport {
        "tcp" => {
            let mut s = tcp;
            exchange(&mut s, target, "TCP 127.0.0.1:5999", n).await;
            Box::new(s)
        }
        "tls" => {
            let mut s = TlsConnector::from(Arc::clone(client))
                .connect(name, tcp)
                .await
                .unwrap();
            exchange(&mut s, target, "TLS 127.0.0.1:5999", n).await;
            Box::new(s)
        }
        "ws" | "wss" => {
            let mut request = format!("{transport}://{target}/")
                .into_client_request()
                .unwrap();
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", "sip".parse().unwrap());
            let via = format!("{} df7jal23ls0d.invalid", transport.to_ascii_uppercase());
            let msg = Message::text(common::options(target, &via, n));
            if transport == "ws" {
                let (mut ws, _) = tokio_tungstenite::client_async(request, tcp).await.unwrap();
                ws.send(msg).await.unwrap();
                ws.next().await.unwrap().unwrap();
                Box::new(ws)
            } else {
                let tls = TlsConnector::from(Arc::clone(client))
                    .connect(name, tcp)
                    .await
                    .unwrap();
                let (mut ws, _) = tokio_tungstenite::client_async(request, tls).await.unwrap();
                ws.send(msg).await.unwrap();
                ws.next().await.unwrap().unwrap();
                Box::new(ws)
            }
        }
        other => panic!("unknown transport {other}"),
    }
}

async fn measure(binary: &Path, transport: &str, n: usize, pki: &common::Pki) {
    let (served, target) = serve(binary, transport, pki);
    let pid = served.child.id();
    let client = pki.client(None);
    let start_rss = rss_kib(pid);
    let mut held = Vec::with_capacity(WARM + n);
    for i in 0..WARM {
        held.push(open(transport, target, &client, i as u32).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kib(pid);
    for i in 0..n {
        held.push(open(transport, target, &client, (WARM + i) as u32).await);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib(pid);
    let per_conn = (after.saturating_sub(before) * 1024) as f64 / n as f64;
    println!(
        "{transport:>4}: N={n} idle connections: server VmRSS {start_rss} kB at start, {before} kB after {WARM} warm-up, {after} kB after N more: {per_conn:.0} bytes per connection",
    );
    drop(held);
    drop(served);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let binary = args
        .next()
        .expect("usage: conn_memory TRUNKLINE_BINARY [N] [TRANSPORT]...");
    let n: usize = args.next().map_or(2000, |s| s.parse().unwrap());
    let mut transports: Vec<String> = args.collect();
    if transports.is_empty() {
        transports = ["tcp", "tls", "ws", "wss"].map(String::from).to_vec();
    }
    let pki = common::Pki::new("conn-memory");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for t in &transports {
        rt.block_on(measure(Path::new(&binary), t, n, &pki));
    }
}
