//! Listener behaviour through `Server::start`: IPv6 loopback listeners, UDP shards with and
//! without batched syscalls, and the stream connection caps.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use trunkline_server::{Config, Server, Transport};
use trunkline_sip::{Frame, Message, StreamFramer};

fn options(via_addr: SocketAddr, target: SocketAddr, transport: &str, n: u32) -> Vec<u8> {
    format!(
        "OPTIONS sip:{target} SIP/2.0\r\nVia: SIP/2.0/{transport} {via_addr};branch=z9hG4bKlisten{n}\r\n\
From: <sip:probe@example.test>;tag=p\r\nTo: <sip:{target}>\r\nCall-ID: listen{n}@test\r\n\
CSeq: {n} OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn status(bytes: &[u8]) -> u16 {
    Message::parse(bytes)
        .expect("server replies parse")
        .status_line()
        .expect("a response")
        .code
}

fn start(edit: impl FnOnce(&mut Config)) -> (tokio::runtime::Runtime, Server) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut cfg = Config::default();
    edit(&mut cfg);
    cfg.validate().unwrap();
    let server = rt
        .block_on(Server::start(&cfg))
        .unwrap_or_else(|e| panic!("Server::start({:?}): {e}", cfg.sip.listen));
    (rt, server)
}

/// Sends an OPTIONS from `local` over UDP and returns the status of the reply.
fn udp_options(local: &str, target: SocketAddr, n: u32) -> u16 {
    let sock = UdpSocket::bind(local).unwrap_or_else(|e| panic!("bind {local}: {e}"));
    let me = sock.local_addr().unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    sock.send_to(&options(me, target, "UDP", n), target)
        .unwrap();
    let mut buf = [0u8; 65_535];
    let (len, from) = sock
        .recv_from(&mut buf)
        .unwrap_or_else(|e| panic!("no UDP reply from {target}: {e}"));
    assert_eq!(from, target);
    status(&buf[..len])
}

/// Sends an OPTIONS down `stream` and returns the status of the reply, or `None` when the
/// server closed the connection instead.
fn tcp_options(stream: &mut TcpStream, n: u32) -> Option<u16> {
    let me = stream.local_addr().unwrap();
    let target = stream.peer_addr().unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    if stream.write_all(&options(me, target, "TCP", n)).is_err() {
        return None;
    }
    let mut framer = StreamFramer::new(1 << 20);
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return None,
            Ok(k) => framer.push(&buf[..k]),
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                return None;
            }
            Err(e) => panic!("no TCP reply from {target}: {e}"),
        }
        if let Ok(Some(Frame::Message(m))) = framer.next_frame() {
            return Some(status(&m));
        }
    }
}

#[test]
fn ipv6_loopback_udp_and_tcp() {
    // Fails rather than skips: a host without ::1 cannot run IPv6 listeners at all.
    let (_rt, server) = start(|c| {
        c.sip.listen = vec![
            "udp:[::1]:0".parse().unwrap(),
            "tcp:[::1]:0".parse().unwrap(),
        ];
    });
    let udp = server.local_addr(Transport::Udp).unwrap();
    let tcp = server.local_addr(Transport::Tcp).unwrap();
    assert!(udp.is_ipv6() && tcp.is_ipv6());
    assert_eq!(udp_options("[::1]:0", udp, 1), 200);
    let mut stream = TcpStream::connect(tcp).unwrap_or_else(|e| panic!("connect {tcp}: {e}"));
    assert_eq!(tcp_options(&mut stream, 2), Some(200));
}

#[test]
fn udp_shards_answer_batched_and_plain() {
    for batch in [true, false] {
        let (_rt, server) = start(|c| {
            c.sip.listen = vec!["udp:127.0.0.1:0".parse().unwrap()];
            c.sip.udp_shards = 3;
            c.sip.udp_batch = batch;
        });
        let target = server.local_addr(Transport::Udp).unwrap();
        // Several source ports, so the kernel spreads them over the shards.
        for n in 0..12 {
            assert_eq!(udp_options("127.0.0.1:0", target, n), 200, "batch={batch}");
        }
    }
}

#[test]
fn connections_over_the_per_ip_cap_are_closed() {
    let (_rt, server) = start(|c| {
        c.sip.listen = vec!["tcp:127.0.0.1:0".parse().unwrap()];
        c.sip.max_connections_per_ip = 3;
    });
    let target = server.local_addr(Transport::Tcp).unwrap();
    let mut streams: Vec<TcpStream> = (0..5)
        .map(|_| TcpStream::connect(target).unwrap())
        .collect();
    let answers: Vec<Option<u16>> = (streams.iter_mut().zip(0..))
        .map(|(s, n)| tcp_options(s, n))
        .collect();
    assert_eq!(
        answers.iter().filter(|a| **a == Some(200)).count(),
        3,
        "{answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|a| a.is_none()).count(),
        2,
        "{answers:?}"
    );
    let limits = server.connection_limits();
    assert_eq!(limits.refused_per_ip(), 2);
    assert_eq!(limits.active(), 3);

    // Closing a permitted connection gives its place back.
    let open = answers.iter().position(|a| *a == Some(200)).unwrap();
    drop(streams.remove(open));
    let deadline = Instant::now() + Duration::from_secs(5);
    while limits.active() > 2 {
        assert!(
            Instant::now() < deadline,
            "place not given back: {limits:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut again = TcpStream::connect(target).unwrap();
    assert_eq!(tcp_options(&mut again, 9), Some(200));
}

#[test]
fn connections_over_the_total_cap_are_closed() {
    let (_rt, server) = start(|c| {
        c.sip.listen = vec!["tcp:127.0.0.1:0".parse().unwrap()];
        c.sip.max_connections = 2;
    });
    let target = server.local_addr(Transport::Tcp).unwrap();
    let mut streams: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(target).unwrap())
        .collect();
    let answers: Vec<Option<u16>> = (streams.iter_mut().zip(0..))
        .map(|(s, n)| tcp_options(s, n))
        .collect();
    assert_eq!(
        answers.iter().filter(|a| **a == Some(200)).count(),
        2,
        "{answers:?}"
    );
    assert_eq!(server.connection_limits().refused_total(), 1);
}
