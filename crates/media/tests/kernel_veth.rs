//! The in-kernel fast path on a real interface, as a relay facing phones elsewhere uses it:
//! two phones in a network namespace of the test's own, linked to the relay by a veth pair,
//! talk through the relay; once their streams settle the kernel forwards them out of the
//! interface (to the next hop it resolves), and the figures come back whole.
//!
//! Needs root (namespace, veth, BPF). Without `TRUNKLINE_TEST_BPF` it is skipped where that
//! is missing; with it (CI), it fails.

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
