//! The relay's in-kernel fast path with real sockets: settled streams on loopback (IPv4 and
//! IPv6) go through the kernel and their figures come back whole, through strangers,
//! losses, sequence restarts and NAT rebinding; and on a real interface, as a relay facing
//! phones elsewhere uses it: two phones in a network namespace of the test's own, linked to
//! the relay by a veth pair, whose streams the kernel forwards out of the interface (to the
//! next hop it resolves).
//!
//! Needs root (namespace, veth, BPF). Without `TRUNKLINE_TEST_BPF` the tests are skipped
//! where that is missing; with it (CI), they fail.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::fs::File;
use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::Duration;

use trunkline_media::{MediaPlane, Side};

/// A network namespace with one end of a veth pair, the other end here; removed on drop.
struct Namespace {
    name: String,
    relay: String,
    phones: String,
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

impl Namespace {
    fn create() -> Result<Namespace, String> {
        let pid = std::process::id();
        let n = pid % 16_384;
        let net = format!("10.232.{}.{}", n / 64, (n % 64) * 4);
        let base = net.rsplit_once('.').map(|(a, _)| a.to_owned()).unwrap();
        let last: u32 = net.rsplit('.').next().unwrap().parse().unwrap();
        let ns = Namespace {
            name: format!("tlfp{pid}"),
            relay: format!("{base}.{}", last + 1),
            phones: format!("{base}.{}", last + 2),
        };
        let (a, b) = (format!("tlfpa{pid}"), format!("tlfpb{pid}"));
        let _ = ip(&["netns", "del", &ns.name]);
        ip(&["netns", "add", &ns.name])?;
        ip(&[
            "link", "add", &a, "type", "veth", "peer", "name", &b, "netns", &ns.name,
        ])?;
        ip(&["addr", "add", &format!("{}/30", ns.relay), "dev", &a])?;
        ip(&["link", "set", &a, "up"])?;
        ip(&[
            "-n",
            &ns.name,
            "addr",
            "add",
            &format!("{}/30", ns.phones),
            "dev",
            &b,
        ])?;
        ip(&["-n", &ns.name, "link", "set", &b, "up"])?;
        Ok(ns)
    }

    /// A UDP socket of the namespace, on the phones' address.
    fn socket(&self) -> UdpSocket {
        let file = File::open(format!("/run/netns/{}", self.name)).unwrap();
        let at: SocketAddr = format!("{}:0", self.phones).parse().unwrap();
        // A thread of its own enters the namespace; the socket stays of it wherever used.
        let socket = std::thread::spawn(move || {
            nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            UdpSocket::bind(at).unwrap()
        });
        let socket = socket.join().unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        socket
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // The veth pair goes with the namespace that holds one of its ends.
        let _ = ip(&["netns", "del", &self.name]);
    }
}

fn rtp(ssrc: u32, seq: u16) -> Vec<u8> {
    trunkline_rtp::Header::pcmu(ssrc, seq)
}

async fn recv(s: &tokio::net::UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 2048];
    let (n, from) = tokio::time::timeout(Duration::from_secs(2), s.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    Some((buf[..n].to_vec(), from))
}

#[test]
fn phones_beyond_an_interface_are_forwarded_by_the_kernel_with_their_figures() {
    let required = std::env::var_os("TRUNKLINE_TEST_BPF").is_some();
    let ns = match Namespace::create() {
        Ok(ns) => ns,
        Err(e) if !required => return eprintln!("skipped: no namespace here ({e})"),
        Err(e) => panic!("TRUNKLINE_TEST_BPF is set but the namespace fails: {e}"),
    };
    let plane = MediaPlane::new(ns.relay.parse().unwrap(), 43000..=43099);
    let plane = match plane.with_fast_path() {
        Ok(p) => p,
        Err(e) if !required => return eprintln!("skipped: no in-kernel fast path ({e})"),
        Err(e) => panic!("TRUNKLINE_TEST_BPF is set but the fast path fails: {e}"),
    };
    let attached = plane.fast_path().unwrap();
    assert!(
        attached.iter().any(|i| i.starts_with("tlfpa")),
        "{attached:?}"
    );

    let (caller, callee) = (ns.socket(), ns.socket());
    let (id, a, b) = plane.create().unwrap();
    plane
        .set_peer(id, Side::Caller, caller.local_addr().unwrap(), None)
        .unwrap();
    plane
        .set_peer(id, Side::Callee, callee.local_addr().unwrap(), None)
        .unwrap();
    let relay_a: SocketAddr = format!("{}:{a}", ns.relay).parse().unwrap();
    let relay_b: SocketAddr = format!("{}:{b}", ns.relay).parse().unwrap();
    let mut buf = [0u8; 512];
    for seq in 0..60u16 {
        for (from, to, peer, out, ssrc) in [
            (&caller, relay_a, &callee, relay_b, 0xa1u32),
            (&callee, relay_b, &caller, relay_a, 0xb0),
        ] {
            from.send_to(&rtp(ssrc, seq), to).unwrap();
            let (n, src) = peer.recv_from(&mut buf).expect("relayed");
            assert_eq!((&buf[..n], src), (&rtp(ssrc, seq)[..], out));
        }
    }
    assert_eq!(plane.handed_over(), 2, "both streams in the kernel");
    let q = plane.qos(id).unwrap();
    // Each stream settles after its first packets; the kernel forwarded the rest.
    assert!(
        plane.kernel_forwarded() >= 80,
        "{}",
        plane.kernel_forwarded()
    );
    assert!(q[0].kernel && q[1].kernel);
    assert_eq!((q[0].received.packets, q[1].received.packets), (60, 60));
    assert_eq!((q[0].received.lost, q[1].received.lost), (0, 0));
    let ended = plane.delete(id).unwrap();
    assert_eq!(ended.qos[0].received.bytes, 60 * 172);
    // The ports are closed and the kernel forgot the streams: nothing goes through.
    caller.send_to(&rtp(0xa1, 60), relay_a).unwrap();
    callee
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    assert!(callee.recv_from(&mut buf).is_err());
}

/// A relay on `ip` with the in-kernel fast path; `None` (the test skipped) where it can't
/// load, unless `TRUNKLINE_TEST_BPF` says it must.
fn with_kernel(ip: &str, ports: std::ops::RangeInclusive<u16>) -> Option<MediaPlane> {
    match MediaPlane::new(ip.parse().unwrap(), ports).with_fast_path() {
        Ok(p) => Some(p),
        Err(e) if std::env::var_os("TRUNKLINE_TEST_BPF").is_none() => {
            eprintln!("skipped: no in-kernel fast path here ({e})");
            None
        }
        Err(e) => panic!("TRUNKLINE_TEST_BPF is set but the fast path fails: {e}"),
    }
}

#[tokio::test]
async fn settled_ipv6_streams_go_through_the_kernel_too() {
    let Some(plane) = with_kernel("::1", 42400..=42499) else {
        return;
    };
    let (id, a, b) = plane.create_for([true, true]).unwrap();
    let caller = tokio::net::UdpSocket::bind("[::1]:0").await.unwrap();
    let callee = tokio::net::UdpSocket::bind("[::1]:0").await.unwrap();
    (plane.set_peer(id, Side::Caller, caller.local_addr().unwrap(), None)).unwrap();
    (plane.set_peer(id, Side::Callee, callee.local_addr().unwrap(), None)).unwrap();
    let relay_a: SocketAddr = format!("[::1]:{a}").parse().unwrap();
    let relay_b: SocketAddr = format!("[::1]:{b}").parse().unwrap();
    for seq in 0..40 {
        caller.send_to(&rtp(1, seq), relay_a).await.unwrap();
        assert_eq!(recv(&callee).await, Some((rtp(1, seq), relay_b)));
        callee.send_to(&rtp(2, seq), relay_b).await.unwrap();
        assert_eq!(recv(&caller).await, Some((rtp(2, seq), relay_a)));
    }
    assert_eq!(plane.handed_over(), 2, "both streams in the kernel");
    let q = plane.delete(id).unwrap().qos;
    assert!(
        plane.kernel_forwarded() >= 40,
        "{}",
        plane.kernel_forwarded()
    );
    assert_eq!((q[0].received.packets, q[1].received.packets), (40, 40));
    assert_eq!((q[0].received.lost, q[1].received.lost), (0, 0));
}

#[tokio::test]
async fn settled_streams_go_through_the_kernel_and_their_figures_come_back() {
    let Some(plane) = with_kernel("127.0.0.1", 42000..=42999) else {
        return;
    };
    let (id, a, b) = plane.create().unwrap();
    let caller = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let callee = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let stranger = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let nat: SocketAddr = "127.0.0.1:9".parse().unwrap();
    plane.set_peer(id, Side::Caller, nat, None).unwrap();
    (plane.set_peer(id, Side::Callee, callee.local_addr().unwrap(), None)).unwrap();
    let relay_a: SocketAddr = format!("127.0.0.1:{a}").parse().unwrap();
    let relay_b: SocketAddr = format!("127.0.0.1:{b}").parse().unwrap();
    let talk = |seqs: std::ops::Range<u16>| {
        let (caller, callee) = (&caller, &callee);
        async move {
            for seq in seqs {
                caller.send_to(&rtp(1, seq), relay_a).await.unwrap();
                let heard = recv(callee).await.expect("the callee hears the caller");
                assert_eq!(heard, (rtp(1, seq), relay_b));
                callee.send_to(&rtp(2, seq), relay_b).await.unwrap();
                let heard = recv(caller).await.expect("the caller hears the callee");
                assert_eq!(heard, (rtp(2, seq), relay_a));
            }
        }
    };
    talk(0..30).await;
    assert_eq!(
        plane.handed_over(),
        2,
        "both latched streams are in the kernel"
    );
    let q = plane.qos(id).unwrap();
    assert_eq!((q[0].received.packets, q[1].received.packets), (30, 30));
    assert_eq!((q[0].received.lost, q[1].received.lost), (0, 0));
    assert!(
        plane.kernel_forwarded() >= 30,
        "most went through the kernel"
    );

    // A stranger's packet is passed up, and the core drops it as before; the streams stay.
    stranger.send_to(&rtp(99, 30), relay_a).await.unwrap();
    assert!(recv(&callee).await.is_none());
    assert_eq!(plane.handed_over(), 2);
    // The caller carries on, with two packets lost on the way.
    talk(32..50).await;
    assert_eq!(plane.handed_over(), 2);
    // Both restart their sequence numbers: the kernel passes the jump up, the core confirms
    // the restart with the next packet (the first is relayed, not counted, as RFC 3550
    // A.1 has it) and the kernel carries on with the new numbering.
    let before = plane.kernel_forwarded();
    talk(20_000..20_020).await;
    assert_eq!(plane.handed_over(), 2);
    plane.qos(id).unwrap();
    assert!(
        plane.kernel_forwarded() >= before + 30,
        "the new numbering in the kernel"
    );
    // The caller's NAT rebinds: the same stream from a new port. The core follows it, and
    // the kernel then forwards both directions to and from there.
    let rebound = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let before = plane.kernel_forwarded();
    for seq in 20_020..20_040 {
        rebound.send_to(&rtp(1, seq), relay_a).await.unwrap();
        assert_eq!(recv(&callee).await, Some((rtp(1, seq), relay_b)));
        callee.send_to(&rtp(2, seq), relay_b).await.unwrap();
        assert_eq!(recv(&rebound).await, Some((rtp(2, seq), relay_a)));
    }
    assert_eq!(plane.handed_over(), 2);
    plane.qos(id).unwrap();
    assert!(
        plane.kernel_forwarded() >= before + 30,
        "the new source in the kernel"
    );
    let q = plane.delete(id).unwrap().qos;
    assert_eq!((q[0].received.packets, q[0].received.lost), (87, 2));
    assert_eq!((q[1].received.packets, q[1].received.lost), (87, 2));
    assert_eq!(q[0].dropped, 1);
    assert_eq!(plane.handed_over(), 0);
}
