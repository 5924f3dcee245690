//! The in-kernel fast path for settled RTP streams (`bpf/relay.bpf.c`, a traffic-control
//! ingress program): loading it, attaching it to the interfaces the relay's addresses are on,
//! and writing, reading and removing its streams. A stream is keyed by the relay address and
//! port it arrives on; its entry says which source it is accepted from and where it goes, and
//! carries its receive statistics on from where the relay left them.
//!
//! The key's and the entry's layouts mirror `struct key` and `struct stream` in the C
//! program, field by field in native byte order (addresses and ports in network order, as
//! the packet has them; an IPv4 address in the first 4 of an address's 16 bytes).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use trunkline_rtp::Carry;

const KEY: usize = 20;
const ENTRY: usize = 112;

/// One stream for the kernel to forward; its four addresses are of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The relay address and port it arrives on.
    pub at: SocketAddr,
    /// The only source it is accepted from (the latched peer).
    pub from: SocketAddr,
    /// The relay address and port it leaves from.
    pub out: SocketAddr,
    /// Where it goes (the other side's latched peer).
    pub to: SocketAddr,
    /// Where its statistics stand.
    pub carry: Carry,
}

impl Route {
    /// Whether the kernel can forward it: one family throughout (a call bridged between
    /// IPv4 and IPv6 stays in userspace).
    pub fn one_family(&self) -> bool {
        let v6 = self.at.is_ipv6();
        [self.from, self.out, self.to]
            .iter()
            .all(|a| a.is_ipv6() == v6)
    }
}

/// What the kernel has done with a stream since it was handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    pub packets: u64,
    pub bytes: u64,
    pub carry: Carry,
    /// When the latest packet arrived (CLOCK_MONOTONIC), 0 if none.
    pub last_ns: u64,
}

impl Figures {
    /// When the latest packet arrived, as an `Instant`, given what the monotonic clock
    /// reads (`mono_ns`) at `now`.
    pub fn last(&self, now: Instant, mono_ns: u64) -> Option<Instant> {
        if self.last_ns == 0 {
            return None;
        }
        now.checked_sub(Duration::from_nanos(mono_ns.saturating_sub(self.last_ns)))
    }
}

/// The monotonic clock the kernel's packet times are on, in nanoseconds.
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (t.tv_sec as u64).saturating_mul(1_000_000_000) + t.tv_nsec as u64
}

/// An address as the program keeps it: 16 bytes, IPv4 in the first 4.
fn addr16(ip: IpAddr) -> [u8; 16] {
    let mut a = [0u8; 16];
    match ip {
        IpAddr::V4(v4) => a[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => a = v6.octets(),
    }
    a
}

fn key(at: SocketAddr) -> [u8; KEY] {
    let mut k = [0u8; KEY];
    k[..16].copy_from_slice(&addr16(at.ip()));
    k[16..18].copy_from_slice(&at.port().to_be_bytes());
    k[18] = u8::from(at.is_ipv6());
    k
}

fn put(e: &mut [u8; ENTRY], at: usize, bytes: &[u8]) {
    if let Some(dst) = e.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

fn u32_at(e: &[u8; ENTRY], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&e[at..at + 4]);
    u32::from_ne_bytes(b)
}

fn u64_at(e: &[u8; ENTRY], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&e[at..at + 8]);
    u64::from_ne_bytes(b)
}

/// The entry of `r`, sent out of interface `ifindex` (0: to this host), its counters
/// starting at `counted` (packets, bytes).
fn encode(r: &Route, ifindex: u32, counted: (u64, u64)) -> [u8; ENTRY] {
    let mut e = [0u8; ENTRY];
    put(&mut e, 0, &counted.0.to_ne_bytes());
    put(&mut e, 8, &counted.1.to_ne_bytes());
    // The latest packet's time (16) starts at zero: none yet.
    put(&mut e, 24, &addr16(r.from.ip()));
    put(&mut e, 40, &addr16(r.out.ip()));
    put(&mut e, 56, &addr16(r.to.ip()));
    put(&mut e, 72, &r.from.port().to_be_bytes());
    put(&mut e, 74, &r.out.port().to_be_bytes());
    put(&mut e, 76, &r.to.port().to_be_bytes());
    put(&mut e, 80, &r.carry.ssrc.to_ne_bytes());
    put(&mut e, 84, &r.carry.clock_rate.to_ne_bytes());
    put(&mut e, 88, &u32::from(r.carry.max_seq).to_ne_bytes());
    put(&mut e, 92, &r.carry.cycles.to_ne_bytes());
    put(&mut e, 96, &r.carry.jitter16.to_ne_bytes());
    // Transit (100) and its flag (104) start at zero.
    put(&mut e, 108, &ifindex.to_ne_bytes());
    e
}

fn decode(e: &[u8; ENTRY]) -> Figures {
    Figures {
        packets: u64_at(e, 0),
        bytes: u64_at(e, 8),
        carry: Carry {
            ssrc: u32_at(e, 80),
            clock_rate: u32_at(e, 84),
            max_seq: u32_at(e, 88) as u16,
            cycles: u32_at(e, 92),
            jitter16: u32_at(e, 96),
        },
        last_ns: u64_at(e, 16),
    }
}

#[cfg(trunkline_bpf)]
mod loaded {
    use super::*;
    use aya::maps::{HashMap, MapData};
    use aya::programs::{LinkOrder, SchedClassifier, TcAttachType, tc::TcAttachOptions};

    static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/relay.bpf.o"));

    /// The loaded program, attached, and its stream table.
    pub struct FastPath {
        // Holds the program and its links: dropping it detaches them.
        _ebpf: aya::Ebpf,
        streams: HashMap<MapData, [u8; KEY], [u8; ENTRY]>,
        interfaces: Vec<String>,
        /// The host's addresses, as they were last read.
        hosts: Vec<(IpAddr, u32)>,
    }

    fn failed(what: &str, e: impl std::fmt::Display) -> io::Error {
        io::Error::other(format!("{what}: {e}"))
    }

    impl FastPath {
        /// Loads the program and attaches it to the ingress of `interfaces`.
        pub fn load(interfaces: Vec<String>) -> io::Result<FastPath> {
            let mut ebpf = aya::Ebpf::load(OBJECT).map_err(|e| failed("loading", e))?;
            let program: &mut SchedClassifier = (ebpf.program_mut("relay"))
                .ok_or_else(|| io::Error::other("the object has no relay program"))?
                .try_into()
                .map_err(|e| failed("the relay program", e))?;
            program.load().map_err(|e| failed("verifying", e))?;
            for name in &interfaces {
                let order = TcAttachOptions::TcxOrder(LinkOrder::default());
                (program.attach_with_options(name, TcAttachType::Ingress, order))
                    .map_err(|e| failed(&format!("attaching to {name}"), e))?;
            }
            let map = (ebpf.take_map("streams"))
                .ok_or_else(|| io::Error::other("the object has no stream table"))?;
            let streams = HashMap::try_from(map).map_err(|e| failed("the stream table", e))?;
            Ok(FastPath {
                _ebpf: ebpf,
                streams,
                interfaces,
                hosts: host_addresses(),
            })
        }

        /// The interfaces it is attached to.
        pub fn interfaces(&self) -> &[String] {
            &self.interfaces
        }

        /// The interface packets to `to` leave by (0: to this host).
        pub fn egress(&mut self, to: IpAddr) -> io::Result<u32> {
            if let Some(i) = egress(to, &self.hosts) {
                return Ok(i);
            }
            // Addresses may have changed since they were read.
            self.hosts = host_addresses();
            egress(to, &self.hosts)
                .ok_or_else(|| io::Error::other(format!("no interface towards {to}")))
        }

        /// Hands a stream over, or replaces its entry: out of interface `ifindex`, its
        /// counters carrying on from `counted` (packets, bytes).
        pub fn write(
            &mut self,
            route: &Route,
            ifindex: u32,
            counted: (u64, u64),
        ) -> io::Result<()> {
            let entry = encode(route, ifindex, counted);
            (self.streams.insert(key(route.at), entry, 0)).map_err(|e| failed("insert", e))
        }

        /// What the kernel has done with the stream arriving at `at`.
        pub fn figures(&self, at: SocketAddr) -> Option<Figures> {
            self.streams.get(&key(at), 0).ok().map(|e| decode(&e))
        }

        /// Takes the stream back: its final figures, and the kernel forgets it.
        pub fn remove(&mut self, at: SocketAddr) -> Option<Figures> {
            let figures = self.figures(at);
            let _ = self.streams.remove(&key(at));
            figures
        }
    }

    impl std::fmt::Debug for FastPath {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("FastPath")
                .field("interfaces", &self.interfaces)
                .finish()
        }
    }
}

#[cfg(not(trunkline_bpf))]
mod loaded {
    use super::*;

    /// Without the program (built without clang): never loads.
    #[derive(Debug)]
    pub struct FastPath(std::convert::Infallible);

    impl FastPath {
        pub fn load(_interfaces: Vec<String>) -> io::Result<FastPath> {
            Err(io::Error::other(
                "built without the BPF program (clang was not found at build time)",
            ))
        }

        pub fn interfaces(&self) -> &[String] {
            match self.0 {}
        }

        pub fn egress(&mut self, _to: IpAddr) -> io::Result<u32> {
            match self.0 {}
        }

        pub fn write(
            &mut self,
            _route: &Route,
            _ifindex: u32,
            _counted: (u64, u64),
        ) -> io::Result<()> {
            match self.0 {}
        }

        pub fn figures(&self, _at: SocketAddr) -> Option<Figures> {
            match self.0 {}
        }

        pub fn remove(&mut self, _at: SocketAddr) -> Option<Figures> {
            match self.0 {}
        }
    }
}

pub use loaded::FastPath;

/// An interface address as an `IpAddr`, whichever family.
fn ip_of(ifa: &nix::ifaddrs::InterfaceAddress) -> Option<IpAddr> {
    let a = ifa.address.as_ref()?;
    match (a.as_sockaddr_in(), a.as_sockaddr_in6()) {
        (Some(v4), _) => Some(IpAddr::V4(v4.ip())),
        (_, Some(v6)) => Some(IpAddr::V6(v6.ip())),
        _ => None,
    }
}

/// The host's addresses, each with its interface's index.
fn host_addresses() -> Vec<(IpAddr, u32)> {
    let Ok(all) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ifa in all {
        let Some(ip) = ip_of(&ifa) else {
            continue;
        };
        if let Ok(index) = nix::net::if_::if_nametoindex(ifa.interface_name.as_str()) {
            out.push((ip, index));
        }
    }
    out
}

/// Where packets to `to` leave the host: 0 when `to` is the host itself (one of `hosts`),
/// else the index of the interface holding the source address the routing table picks for
/// it (learnt by connecting a UDP socket, which sends nothing).
fn egress(to: IpAddr, hosts: &[(IpAddr, u32)]) -> Option<u32> {
    if to.is_loopback() || hosts.iter().any(|(a, _)| *a == to) {
        return Some(0);
    }
    let any: IpAddr = match to {
        IpAddr::V4(_) => IpAddr::from([0u8; 4]),
        IpAddr::V6(_) => IpAddr::from([0u8; 16]),
    };
    let probe = std::net::UdpSocket::bind((any, 0)).ok()?;
    probe.connect((to, 9)).ok()?;
    let src = probe.local_addr().ok()?.ip();
    hosts.iter().find(|(a, _)| *a == src).map(|(_, i)| *i)
}

/// The interfaces packets to `addrs` arrive on: loopback, where the host's own traffic to any
/// of its addresses comes in, and each interface holding one of the addresses (every
/// interface with an address of that family, for a wildcard).
pub fn interfaces_for(addrs: &[IpAddr]) -> Vec<String> {
    let mut names = vec!["lo".to_owned()];
    let wanted: Vec<IpAddr> = (addrs.iter())
        .filter(|a| !a.is_loopback())
        .copied()
        .collect();
    if wanted.is_empty() {
        return names;
    }
    let Ok(all) = nix::ifaddrs::getifaddrs() else {
        return names;
    };
    for ifa in all {
        let Some(ip) = ip_of(&ifa) else {
            continue;
        };
        let matches = |w: &IpAddr| *w == ip || (w.is_unspecified() && w.is_ipv6() == ip.is_ipv6());
        if wanted.iter().any(matches) && !names.contains(&ifa.interface_name) {
            names.push(ifa.interface_name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The object shipped for machines without clang (see build.rs) must be the one this
    /// source builds: `scripts/build-bpf` refreshes both.
    #[test]
    fn the_shipped_object_is_built_from_this_source() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf");
        let source = std::fs::read(dir.join("relay.bpf.c")).unwrap();
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in source {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        let recorded = std::fs::read_to_string(dir.join("relay.bpf.o.source")).unwrap();
        assert_eq!(
            recorded.trim(),
            format!("{h:016x}"),
            "bpf/relay.bpf.c changed: run scripts/build-bpf"
        );
        assert!(dir.join("relay.bpf.o").is_file());
    }

    #[test]
    fn an_entry_reads_back_what_was_written() {
        let route = Route {
            at: "127.0.0.1:40000".parse().unwrap(),
            from: "127.0.0.2:5004".parse().unwrap(),
            out: "127.0.0.1:40002".parse().unwrap(),
            to: "127.0.0.3:6000".parse().unwrap(),
            carry: Carry {
                ssrc: 0xdead_beef,
                clock_rate: 8000,
                max_seq: 65535,
                cycles: 3 << 16,
                jitter16: 1234,
            },
        };
        let e = encode(&route, 7, (0, 0));
        assert_eq!(
            &e[24..40],
            &[127, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(u32_at(&e, 108), 7);
        assert_eq!(&e[72..74], &5004u16.to_be_bytes());
        let f = decode(&e);
        assert_eq!((f.packets, f.bytes, f.last_ns), (0, 0, 0));
        assert_eq!(f.carry, route.carry);
        let mut k = [0u8; KEY];
        k[..4].copy_from_slice(&[127, 0, 0, 1]);
        k[16..18].copy_from_slice(&[0x9c, 0x40]);
        assert_eq!(key(route.at), k);
        // A rewritten entry carries its counters on.
        let f = decode(&encode(&route, 7, (12, 2064)));
        assert_eq!((f.packets, f.bytes), (12, 2064));
    }

    #[test]
    fn ipv6_keys_and_entries_hold_the_whole_address_and_mixed_families_stay_out() {
        let v6 = |s: &str| s.parse::<SocketAddr>().unwrap();
        let mut route = Route {
            at: v6("[2001:db8::1]:40000"),
            from: v6("[2001:db8::7]:5004"),
            out: v6("[2001:db8::1]:40002"),
            to: v6("[2001:db8::9]:6000"),
            carry: Carry {
                ssrc: 1,
                clock_rate: 8000,
                max_seq: 0,
                cycles: 0,
                jitter16: 0,
            },
        };
        assert!(route.one_family());
        let k = key(route.at);
        assert_eq!(
            &k[..16],
            &"2001:db8::1"
                .parse::<std::net::Ipv6Addr>()
                .unwrap()
                .octets()
        );
        assert_eq!(k[18], 1);
        let e = encode(&route, 0, (0, 0));
        assert_eq!(e[56 + 15], 9);
        route.to = "192.0.2.9:6000".parse().unwrap();
        assert!(!route.one_family());
    }

    #[test]
    fn a_packet_time_becomes_an_instant() {
        let now = Instant::now();
        let f = |last_ns| Figures {
            packets: 1,
            bytes: 1,
            carry: Carry {
                ssrc: 0,
                clock_rate: 8000,
                max_seq: 0,
                cycles: 0,
                jitter16: 0,
            },
            last_ns,
        };
        assert_eq!(f(0).last(now, 5_000_000_000), None);
        let last = f(3_000_000_000).last(now, 5_000_000_000);
        assert_eq!(last, now.checked_sub(Duration::from_secs(2)));
    }
}
