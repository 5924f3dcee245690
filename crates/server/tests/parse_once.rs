//! A proxied call counts its parses: every message the server receives is parsed once on its
//! way through transport, shard, transaction engine and proxy (the parsed index travels with
//! it). Its own process, so that the global parse counter sees this call alone.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::Ordering;
use std::time::Duration;

use trunkline_server::{Config, Server, Transport};

fn recv(s: &UdpSocket) -> String {
    let mut buf = [0u8; 4096];
    let (n, _) = s.recv_from(&mut buf).expect("a message in time");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Receives until a message starting with `start` arrives (skipping e.g. 100 Trying).
fn recv_starting(s: &UdpSocket, start: &str) -> String {
    loop {
        let m = recv(s);
        if m.starts_with(start) {
            return m;
        }
    }
}

/// The value of header `name` in `msg` (no parser here: it would count).
fn header<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    (msg.split("\r\n"))
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

/// The response `msg`'s echo of the request, answered with `status` by `uas`.
fn answer(uas: &UdpSocket, to: SocketAddr, request: &str, status: &str, tag: &str) {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for v in header(request, "via") {
        out.push_str(&format!("Via: {v}\r\n"));
    }
    for v in header(request, "record-route") {
        out.push_str(&format!("Record-Route: {v}\r\n"));
    }
    let to_value = header(request, "to")[0];
    let to_value = match to_value.contains("tag=") {
        true => to_value.to_owned(),
        false => format!("{to_value};tag={tag}"),
    };
    out.push_str(&format!(
        "From: {}\r\nTo: {to_value}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <sip:uas@{}>\r\nContent-Length: 0\r\n\r\n",
        header(request, "from")[0],
        header(request, "call-id")[0],
        header(request, "cseq")[0],
        uas.local_addr().unwrap(),
    ));
    uas.send_to(out.as_bytes(), to).unwrap();
}

#[test]
fn a_proxied_call_parses_each_received_message_once() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut cfg = Config::default();
    cfg.sip.listen = vec!["udp:127.0.0.1:0".parse().unwrap()];
    cfg.sip.shards = 2;
    // A trusted caller (an SBC) sends the call to an address; no media relay.
    cfg.guard.trusted = vec!["127.0.0.0/8".to_owned()];
    cfg.media.mode = trunkline_server::MediaMode::Off;
    cfg.validate().unwrap();
    let server = rt.block_on(Server::start(&cfg)).unwrap();
    let proxy = server.local_addr(Transport::Udp).unwrap();
    let uac = UdpSocket::bind("127.0.0.1:0").unwrap();
    let uas = UdpSocket::bind("127.0.0.1:0").unwrap();
    for s in [&uac, &uas] {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    let (a, b) = (uac.local_addr().unwrap(), uas.local_addr().unwrap());
    let call = |method: &str, cseq: u32, branch: &str, ruri: &str, to: &str, route: &str| {
        format!(
            "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {a};branch=z9hG4bK{branch};rport\r\n\
Max-Forwards: 70\r\nFrom: <sip:sbc@carrier.example>;tag=c1\r\nTo: {to}\r\n\
Call-ID: parse-once@test\r\nCSeq: {cseq} {method}\r\nContact: <sip:sbc@{a}>\r\n{route}\
Content-Length: 0\r\n\r\n"
        )
    };
    let before = trunkline_sip::PARSES.load(Ordering::Relaxed);
    let ruri = format!("sip:pbx@{b}");
    uac.send_to(
        call("INVITE", 1, "i1", &ruri, &format!("<{ruri}>"), "").as_bytes(),
        proxy,
    )
    .unwrap();
    let invite = recv_starting(&uas, "INVITE");
    answer(&uas, proxy, &invite, "180 Ringing", "u1");
    answer(&uas, proxy, &invite, "200 OK", "u1");
    recv_starting(&uac, "SIP/2.0 180");
    let ok = recv_starting(&uac, "SIP/2.0 200");
    let to = header(&ok, "to")[0].to_owned();
    let mut routes: Vec<&str> = header(&ok, "record-route");
    routes.reverse();
    let route: String = routes.iter().map(|r| format!("Route: {r}\r\n")).collect();
    let contact = format!("sip:uas@{b}");
    uac.send_to(
        call("ACK", 1, "a1", &contact, &to, &route).as_bytes(),
        proxy,
    )
    .unwrap();
    recv_starting(&uas, "ACK");
    uac.send_to(
        call("BYE", 2, "b1", &contact, &to, &route).as_bytes(),
        proxy,
    )
    .unwrap();
    let bye = recv_starting(&uas, "BYE");
    answer(&uas, proxy, &bye, "200 OK", "u1");
    recv_starting(&uac, "SIP/2.0 200");
    let parses = trunkline_sip::PARSES.load(Ordering::Relaxed) - before;
    // Received: INVITE, 180, 200, ACK, BYE, 200. Each is parsed by the engine; the shard,
    // the proxy, the fork and every branch rebuild it from its index, and the requests the
    // proxy sends are keyed by the branch it wrote (`Engine::request_keyed`), not parsed.
    println!("parses for one proxied call: {parses}");
    assert_eq!(parses, 6, "one parse per received message");
    rt.block_on(server.shutdown());
}
