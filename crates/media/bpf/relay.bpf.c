// SPDX-License-Identifier: GPL-2.0-or-later
//
// Trunkline's in-kernel RTP fast path: a traffic-control ingress program that forwards the
// RTP packets of settled streams without waking the relay. The relay's userspace data plane
// (crates/media/src/plane.rs) stays in charge: it learns and locks each leg's peer (latching),
// then writes the stream here (which relay address and port it arrives on, the one source it
// is accepted from, its SSRC, where it goes and from which relay address and port). The
// program rewrites the addresses and ports, fixes the checksums and sends the packet on its
// way; it keeps the stream's receive statistics going (RFC 3550 A.1 sequence numbers, A.8
// jitter) from the figures the relay handed over. Anything else it passes up untouched, to
// the relay's socket: other sources (strangers, a NAT rebinding), another SSRC, a large
// sequence jump, RTCP, non-RTP, IPv4 options, IPv6 extension headers, fragments, coalesced
// (GRO) packets. IPv4 and IPv6 alike; a stream leaves on the family it arrived on (bridged
// calls stay in userspace).

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

// The kernel's TCX "next program" verdict: any program after this one on the interface
// sees the packet, then the stack does (with no program after it, this is a plain pass).
// Whatever this program does not forward leaves with it, so other tools' programs still see
// the relay's traffic.
#define NEXT (-1)

#define MAX_DROPOUT 3000
#define MAX_MISORDER 100
#define TTL 64
#define LOOPBACK 1

#define OFF_IP_CSUM (ETH_HLEN + offsetof(struct iphdr, check))
#define OFF_IP_TTL (ETH_HLEN + offsetof(struct iphdr, ttl))
#define OFF_IP_SRC (ETH_HLEN + offsetof(struct iphdr, saddr))
#define OFF_IP_DST (ETH_HLEN + offsetof(struct iphdr, daddr))
#define OFF_IP6_HOPS (ETH_HLEN + offsetof(struct ipv6hdr, hop_limit))
#define OFF_IP6_SRC (ETH_HLEN + offsetof(struct ipv6hdr, saddr))
#define OFF_IP6_DST (ETH_HLEN + offsetof(struct ipv6hdr, daddr))

// A relay address and port, in network byte order; an IPv4 address in addr[0], the rest 0.
struct key {
	__u32 addr[4];
	__u16 port;
	__u8 v6;
	__u8 pad;
};

// One settled stream: written whole by the relay, its statistics then kept here. The layout
// is mirrored by `encode`/`decode` in crates/media/src/kernel.rs. Addresses as in `key`.
struct stream {
	__u64 packets; // forwarded here (carried on from the relay's count when rewritten)
	__u64 bytes; // their RTP bytes (UDP payload)
	__u64 last_ns; // CLOCK_MONOTONIC of the latest one
	__u32 peer_addr[4]; // the latched source: only its packets are forwarded
	__u32 out_addr[4]; // the relay address it leaves from
	__u32 dst_addr[4]; // where the other leg's peer is
	__u16 peer_port;
	__u16 out_port; // the relay port the packet leaves from
	__u16 dst_port;
	__u16 pad;
	__u32 ssrc; // host byte order
	__u32 clock_rate;
	__u32 max_seq; // highest sequence number (A.1 max_seq)
	__u32 cycles; // sequence wraps, shifted left 16
	__u32 jitter16; // A.8 interarrival jitter in timestamp units, times 16
	__s32 transit; // relative transit time of the previous packet
	__u32 has_transit;
	__u32 ifindex; // the interface towards dst, 0 when dst is this host
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768);
	__type(key, struct key);
	__type(value, struct stream);
} streams SEC(".maps");

static __always_inline void track(struct stream *s, __u16 seq, __u32 ts, __u64 now)
{
	__u16 max = (__u16)s->max_seq;
	__u16 delta = seq - max;
	if (delta < MAX_DROPOUT) {
		if (seq < max)
			s->cycles += 1 << 16;
		s->max_seq = seq;
	}
	// Otherwise late or a duplicate (large jumps were passed up): counted, max stays.

	__u64 arrival = (now / 1000) * s->clock_rate / 1000000;
	__s32 transit = (__s32)((__u32)arrival - ts);
	if (s->has_transit) {
		__s32 d = transit - s->transit;
		if (d < 0)
			d = -d;
		__s64 j = (__s64)s->jitter16 + d - (((__s64)s->jitter16 + 8) >> 4);
		s->jitter16 = j < 0 ? 0 : (__u32)j;
	}
	s->transit = transit;
	s->has_transit = 1;
	__sync_fetch_and_add(&s->packets, 1);
	s->last_ns = now;
}

// Replaces the `size` bytes at `off` (`from`, as they are) with `to`, keeping the UDP checksum
// (at `udp_csum`) right; `pseudo` when they are part of its pseudo-header (an address), and
// `ip_csum` the IPv4 header checksum's offset when they are in that header too (else 0).
static __always_inline int rewrite(struct __sk_buff *skb, int off, __u32 from, __u32 to,
				   int size, int pseudo, int udp_csum, int ip_csum)
{
	int flags = size | BPF_F_MARK_MANGLED_0 | (pseudo ? BPF_F_PSEUDO_HDR : 0);
	if (bpf_l4_csum_replace(skb, udp_csum, from, to, flags))
		return -1;
	if (ip_csum && bpf_l3_csum_replace(skb, ip_csum, from, to, size))
		return -1;
	return bpf_skb_store_bytes(skb, off, &to, size, 0);
}

// What the packet carries, read before anything is rewritten (rewriting invalidates the
// pointers into it).
struct seen {
	__u32 saddr[4];
	__u32 daddr[4];
	__u16 sport;
	__u16 dport;
	__u16 udp_len;
	__u16 pad;
	__u8 *rtp;
};

// The RTP checks and the statistics; 0 when the packet is to be forwarded.
static __always_inline int take(struct stream *s, struct seen *p, void *end)
{
	__u8 *rtp = p->rtp;
	if ((void *)(rtp + 12) > end)
		return -1;
	if ((rtp[0] >> 6) != 2 || (rtp[1] >= 192 && rtp[1] <= 223))
		return -1;
	__u32 ssrc = ((__u32)rtp[8] << 24) | ((__u32)rtp[9] << 16) | ((__u32)rtp[10] << 8) | rtp[11];
	if (ssrc != s->ssrc)
		return -1;
	__u16 seq = ((__u16)rtp[2] << 8) | rtp[3];
	__u16 delta = seq - (__u16)s->max_seq;
	if (delta >= MAX_DROPOUT && delta <= 0xffff - MAX_MISORDER)
		return -1;
	__u32 ts = ((__u32)rtp[4] << 24) | ((__u32)rtp[5] << 16) | ((__u32)rtp[6] << 8) | rtp[7];
	if (p->udp_len < sizeof(struct udphdr))
		return -1;
	track(s, seq, ts, bpf_ktime_get_ns());
	__sync_fetch_and_add(&s->bytes, p->udp_len - sizeof(struct udphdr));
	return 0;
}

// Sends the rewritten packet on its way.
static __always_inline int forward(struct __sk_buff *skb, struct stream *s)
{
	if (s->ifindex)
		// Out of the interface towards the peer, its next hop's address resolved as for
		// any packet the host sends.
		return bpf_redirect_neigh(s->ifindex, 0, 0, 0);
	if (skb->ingress_ifindex == LOOPBACK)
		// To a peer on this host, from this host: up the stack to the peer's socket.
		return NEXT;
	// To a peer on this host from outside: through loopback, where a packet from one of
	// the host's own addresses is expected.
	return bpf_redirect(LOOPBACK, 0);
}

static __always_inline int relay4(struct __sk_buff *skb, void *data, void *end)
{
	struct iphdr *ip = data + ETH_HLEN;
	if ((void *)(ip + 1) > end || ip->ihl != 5 || ip->protocol != IPPROTO_UDP ||
	    (ip->frag_off & bpf_htons(0x3fff)))
		return NEXT;
	struct udphdr *udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > end)
		return NEXT;
	struct key k = {.addr = {ip->daddr}, .port = udp->dest};
	struct stream *s = bpf_map_lookup_elem(&streams, &k);
	if (!s)
		return NEXT;
	// Ours, but only the settled case is handled here: the relay decides the rest.
	if (ip->saddr != s->peer_addr[0] || udp->source != s->peer_port)
		return NEXT;
	struct seen p = {
		.saddr = {ip->saddr},
		.daddr = {ip->daddr},
		.sport = udp->source,
		.dport = udp->dest,
		.udp_len = bpf_ntohs(udp->len),
		.rtp = (void *)(udp + 1),
	};
	__u16 old_ttl = *(__u16 *)&ip->ttl; // ttl and protocol: one checksum word
	if (take(s, &p, end))
		return NEXT;

	const int udp_csum = ETH_HLEN + sizeof(struct iphdr) + offsetof(struct udphdr, check);
	const int off_udp = ETH_HLEN + sizeof(struct iphdr);
	__u16 new_ttl = old_ttl;
	((__u8 *)&new_ttl)[0] = TTL;
	if (rewrite(skb, OFF_IP_SRC, p.saddr[0], s->out_addr[0], 4, 1, udp_csum, OFF_IP_CSUM) ||
	    rewrite(skb, OFF_IP_DST, p.daddr[0], s->dst_addr[0], 4, 1, udp_csum, OFF_IP_CSUM) ||
	    rewrite(skb, off_udp + offsetof(struct udphdr, source), p.sport, s->out_port, 2, 0,
		    udp_csum, 0) ||
	    rewrite(skb, off_udp + offsetof(struct udphdr, dest), p.dport, s->dst_port, 2, 0,
		    udp_csum, 0))
		return TC_ACT_SHOT;
	if (bpf_l3_csum_replace(skb, OFF_IP_CSUM, old_ttl, new_ttl, 2) ||
	    bpf_skb_store_bytes(skb, OFF_IP_TTL, &new_ttl, 2, 0))
		return TC_ACT_SHOT;
	return forward(skb, s);
}

static __always_inline int relay6(struct __sk_buff *skb, void *data, void *end)
{
	struct ipv6hdr *ip = data + ETH_HLEN;
	if ((void *)(ip + 1) > end || ip->nexthdr != IPPROTO_UDP)
		return NEXT;
	struct udphdr *udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > end)
		return NEXT;
	struct key k = {.port = udp->dest, .v6 = 1};
	struct seen p = {
		.sport = udp->source,
		.dport = udp->dest,
		.udp_len = bpf_ntohs(udp->len),
		.rtp = (void *)(udp + 1),
	};
#pragma unroll
	for (int i = 0; i < 4; i++) {
		k.addr[i] = ip->daddr.in6_u.u6_addr32[i];
		p.daddr[i] = ip->daddr.in6_u.u6_addr32[i];
		p.saddr[i] = ip->saddr.in6_u.u6_addr32[i];
	}
	struct stream *s = bpf_map_lookup_elem(&streams, &k);
	if (!s)
		return NEXT;
	// Ours, but only the settled case is handled here: the relay decides the rest.
	if (p.saddr[0] != s->peer_addr[0] || p.saddr[1] != s->peer_addr[1] ||
	    p.saddr[2] != s->peer_addr[2] || p.saddr[3] != s->peer_addr[3] ||
	    p.sport != s->peer_port)
		return NEXT;
	if (take(s, &p, end))
		return NEXT;

	const int udp_csum = ETH_HLEN + sizeof(struct ipv6hdr) + offsetof(struct udphdr, check);
	const int off_udp = ETH_HLEN + sizeof(struct ipv6hdr);
#pragma unroll
	for (int i = 0; i < 4; i++) {
		if (rewrite(skb, OFF_IP6_SRC + 4 * i, p.saddr[i], s->out_addr[i], 4, 1, udp_csum, 0) ||
		    rewrite(skb, OFF_IP6_DST + 4 * i, p.daddr[i], s->dst_addr[i], 4, 1, udp_csum, 0))
			return TC_ACT_SHOT;
	}
	if (rewrite(skb, off_udp + offsetof(struct udphdr, source), p.sport, s->out_port, 2, 0,
		    udp_csum, 0) ||
	    rewrite(skb, off_udp + offsetof(struct udphdr, dest), p.dport, s->dst_port, 2, 0,
		    udp_csum, 0))
		return TC_ACT_SHOT;
	__u8 hops = TTL; // the hop limit is in no checksum
	if (bpf_skb_store_bytes(skb, OFF_IP6_HOPS, &hops, 1, 0))
		return TC_ACT_SHOT;
	return forward(skb, s);
}

SEC("classifier")
int relay(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	// A coalesced packet (UDP GRO forwarding) carries several datagrams under one header:
	// the relay takes those apart itself.
	if ((void *)(eth + 1) > end || skb->gso_segs > 1)
		return NEXT;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		return relay4(skb, data, end);
	if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		return relay6(skb, data, end);
	return NEXT;
}

char LICENSE[] SEC("license") = "GPL";
