//! `trunkline serve` as a media node: the rtpengine-compatible ng control listener answers
//! `ping` and anchors an offer's audio at the relay, over real UDP.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::{Served, free_port};

fn ng(socket: &UdpSocket, request: &str) -> String {
    socket.send(request.as_bytes()).unwrap();
    let mut buf = [0u8; 4096];
    let n = socket.recv(&mut buf).expect("no ng reply");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn the_ng_listener_answers_ping_and_offer() {
    let port = free_port();
    let s = Served::new(
        "media-ng",
        &format!("[media]\nng_listen = \"127.0.0.1:{port}\"\nport_min = 45000\nport_max = 45099\n"),
    );
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.connect(("127.0.0.1", port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!(
        ng(&socket, "k1 d7:command4:pinge"),
        "k1 d6:result4:ponge",
        "{}",
        s.log()
    );

    let sdp = "v=0\r\no=- 1 1 IN IP4 192.168.1.20\r\ns=-\r\nc=IN IP4 192.168.1.20\r\nt=0 0\r\n\
               m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";
    let offer = format!(
        "k2 d7:call-id2:c17:command5:offer8:from-tag2:f13:sdp{}:{sdp}e",
        sdp.len()
    );
    let reply = ng(&socket, &offer);
    assert!(reply.starts_with("k2 d6:result2:ok3:sdp"), "{reply}");
    assert!(reply.contains("c=IN IP4 127.0.0.1\r\n"), "{reply}");
    assert!(
        reply.contains("m=audio 450"),
        "a port of the configured range: {reply}"
    );
    let deleted = ng(&socket, "k3 d7:call-id2:c17:command6:deletee");
    assert!(deleted.contains("6:result2:ok"), "{deleted}");
}
