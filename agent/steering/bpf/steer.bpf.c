// SPDX-License-Identifier: Apache-2.0
/*
 * Tollgate TC BPF steering: the same semantics as NeuVector's u32+pedit+mirred rules,
 * for kernels without act_pedit. Three direct-action classifiers, attached with
 * clsact + cls_bpf on ingress of vex, vin and vbr in the enforcer namespace. All
 * per-workload data lives in two maps the agent updates (pinned per lab), so adding a
 * workload or switching its mode is one map update and never reloads a program.
 *
 *   vex ingress  (from the network)  : unicast IP with DA == wl MAC  -> DA := ucmac -> vbr
 *   vin ingress  (from the workload) : unicast IP with SA == wl MAC  -> SA := ucmac -> vbr
 *   everything else on vex/vin (ARP, broadcast, multicast, other MACs) -> peer, unchanged
 *   tap mode: the original goes to the peer first, the rewritten copy to vbr
 *   drain mode (a port on its way from inline to tap): straight to the peer, nothing to
 *                vbr, while the return path below stays inline, so frames the dp still
 *                holds reach the workload before the port becomes tap (no loss)
 *   vbr ingress  (frames the dp sent on vth): DA == ucmac -> DA := wl MAC -> vin,
 *                SA == ucmac -> SA := wl MAC -> vex; tap ports drop them; anything else drops.
 *
 * Fast path (tg_flows): the dp adds an entry for a session it allowed once it is
 * established (dp/fastpath/). A vex/vin frame of such a flow then goes straight to the
 * peer port, exactly as the dp would have returned it (the dp never changes a frame, and
 * the frame still carries the workload MAC here), and is counted in the entry. In tap
 * mode the same hit skips the copy to vbr. TCP SYN/FIN/RST, IP fragments, IPv6 extension
 * headers, VLAN-tagged frames and anything not in the map take the usual path, so the dp
 * still sees every session start and end and decides everything new.
 *
 * The map value layouts are mirrored byte for byte in agent/steering/bpf-maps.ts and
 * dp/fastpath/flow-entry.ts.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ROLE_VEX 0
#define ROLE_VIN 1
#define MODE_TAP 0
#define MODE_INLINE 1
#define MODE_DRAIN 2 /* tg_ports only */

#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8

/* Keyed by the ingress ifindex of vex or vin. 24 bytes. */
struct port_info {
	__u32 peer_ifindex; /* vin for a vex entry, vex for a vin entry */
	__u32 vbr_ifindex;
	__u8 wl_mac[6];
	__u8 uc_mac[6];
	__u8 role; /* ROLE_VEX | ROLE_VIN */
	__u8 mode; /* MODE_TAP | MODE_INLINE | MODE_DRAIN */
	__u8 pad[2];
};

/* Keyed by the unique MAC (6 bytes + 2 zero bytes), for frames back from the dp. */
struct uc_key {
	__u8 mac[6];
	__u8 pad[2];
};

struct uc_info {
	__u32 vin_ifindex;
	__u32 vex_ifindex;
	__u8 wl_mac[6];
	__u8 mode;
	__u8 pad;
};

/* Counters by reason, for `bpftool map dump` when debugging a lab. */
enum {
	CNT_TO_PEER = 0,
	CNT_TO_VBR,
	CNT_TAP_COPY,
	CNT_FROM_DP_TO_VIN,
	CNT_FROM_DP_TO_VEX,
	CNT_FROM_DP_TAP_DROP,
	CNT_FROM_DP_UNKNOWN_DROP,
	CNT_NO_PORT,
	CNT_SHORT,
	CNT_FAST_PATH,
	CNT_DRAIN_TO_PEER,
	CNT_MAX,
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct port_info);
} tg_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2048);
	__type(key, struct uc_key);
	__type(value, struct uc_info);
} tg_ucmacs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} tg_counters SEC(".maps");

/*
 * Fast-path flow key: the workload's port (the low 16 bits of its unique MAC, which the
 * dp knows as the endpoint's ucmac), then the flow as seen from the workload. IPv4
 * addresses are IPv4-mapped IPv6 (::ffff:a.b.c.d); ports in network byte order. 44 bytes.
 */
struct flow_key {
	__u32 port;
	__u8 proto;
	__u8 pad[3];
	__u8 wl_addr[16];
	__u8 peer_addr[16];
	__be16 wl_port;
	__be16 peer_port;
};

/* Counters per direction (in = toward the workload), last hit time (bpf_ktime_get_ns,
 * CLOCK_MONOTONIC) and the dp's own session reference (slot, serial), which the program
 * never reads. 48 bytes. */
struct flow_val {
	__u64 pkts_in;
	__u64 bytes_in;
	__u64 pkts_out;
	__u64 bytes_out;
	__u64 last_ns;
	__u32 slot;
	__u32 serial;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct flow_key);
	__type(value, struct flow_val);
} tg_flows SEC(".maps");

static __always_inline void count(__u32 reason)
{
	__u64 *c = bpf_map_lookup_elem(&tg_counters, &reason);
	if (c)
		*c += 1;
}

static __always_inline int mac_eq(const __u8 *a, const __u8 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] &&
	       a[5] == b[5];
}

/* IPv4 or IPv6, under at most one 802.1Q/802.1ad tag. */
static __always_inline int is_ip(struct __sk_buff *skb, __u16 proto)
{
	if (proto == bpf_htons(ETH_P_8021Q_) || proto == bpf_htons(ETH_P_8021AD_)) {
		if (bpf_skb_load_bytes(skb, 16, &proto, sizeof(proto)) < 0)
			return 0;
	}
	return proto == bpf_htons(ETH_P_IP) || proto == bpf_htons(ETH_P_IPV6);
}

#define IP_MF_ 0x2000
#define IP_OFFSET_ 0x1fff

/*
 * The flow of an untagged IPv4/IPv6 TCP or UDP frame, oriented from the workload
 * (to_wl: the frame travels toward it). 0 when the frame must take the slow path.
 */
static __always_inline int flow_of(struct __sk_buff *skb, __u16 h_proto, int to_wl, struct flow_key *k)
{
	__u32 l4;
	__u8 proto;
	if (h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;
		if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)) < 0)
			return 0;
		if (ip.ihl < 5 || (ip.frag_off & bpf_htons(IP_MF_ | IP_OFFSET_)))
			return 0;
		proto = ip.protocol;
		l4 = ETH_HLEN + ip.ihl * 4;
		k->wl_addr[10] = 0xff;
		k->wl_addr[11] = 0xff;
		k->peer_addr[10] = 0xff;
		k->peer_addr[11] = 0xff;
		__builtin_memcpy(&k->wl_addr[12], to_wl ? &ip.daddr : &ip.saddr, 4);
		__builtin_memcpy(&k->peer_addr[12], to_wl ? &ip.saddr : &ip.daddr, 4);
	} else if (h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;
		if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip6, sizeof(ip6)) < 0)
			return 0;
		/* Extension headers (fragments among them) are the dp's business. */
		proto = ip6.nexthdr;
		l4 = ETH_HLEN + sizeof(ip6);
		__builtin_memcpy(k->wl_addr, to_wl ? &ip6.daddr : &ip6.saddr, 16);
		__builtin_memcpy(k->peer_addr, to_wl ? &ip6.saddr : &ip6.daddr, 16);
	} else {
		return 0;
	}
	__be16 ports[2];
	if (proto == IPPROTO_TCP) {
		struct tcphdr th;
		if (bpf_skb_load_bytes(skb, l4, &th, sizeof(th)) < 0)
			return 0;
		if (th.syn || th.fin || th.rst)
			return 0;
		ports[0] = th.source;
		ports[1] = th.dest;
	} else if (proto == IPPROTO_UDP) {
		if (bpf_skb_load_bytes(skb, l4, ports, sizeof(ports)) < 0)
			return 0;
	} else {
		return 0;
	}
	k->proto = proto;
	k->wl_port = to_wl ? ports[1] : ports[0];
	k->peer_port = to_wl ? ports[0] : ports[1];
	return 1;
}

/* vex and vin share one body; the map entry says which side this is. */
static __always_inline int steer_port(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ingress_ifindex;
	struct port_info *p = bpf_map_lookup_elem(&tg_ports, &ifindex);
	struct ethhdr eth;

	if (!p) {
		count(CNT_NO_PORT);
		return TC_ACT_OK;
	}
	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0) {
		count(CNT_SHORT);
		return bpf_redirect(p->peer_ifindex, 0);
	}
	/* vex matches the DA (toward the workload), vin the SA (from the workload); both
	 * want a unicast DA, so ARP, broadcast and multicast always cross directly. */
	int match = !(eth.h_dest[0] & 1) && is_ip(skb, eth.h_proto) &&
		    mac_eq(p->role == ROLE_VEX ? eth.h_dest : eth.h_source, p->wl_mac);
	if (!match) {
		count(CNT_TO_PEER);
		return bpf_redirect(p->peer_ifindex, 0);
	}
	/* Read the entry once: a concurrent map update (mode switch) then applies to whole
	 * frames, never half of one. */
	__u32 vbr = p->vbr_ifindex;
	__u32 peer = p->peer_ifindex;
	__u8 mode = p->mode;
	__u8 uc[6];
	__builtin_memcpy(uc, p->uc_mac, 6);
	int to_wl = p->role == ROLE_VEX;
	struct flow_key fk = {};
	fk.port = ((__u32)uc[4] << 8) | uc[5];
	if (flow_of(skb, eth.h_proto, to_wl, &fk)) {
		struct flow_val *f = bpf_map_lookup_elem(&tg_flows, &fk);
		if (f) {
			if (to_wl) {
				__sync_fetch_and_add(&f->pkts_in, 1);
				__sync_fetch_and_add(&f->bytes_in, skb->len);
			} else {
				__sync_fetch_and_add(&f->pkts_out, 1);
				__sync_fetch_and_add(&f->bytes_out, skb->len);
			}
			f->last_ns = bpf_ktime_get_ns();
			count(CNT_FAST_PATH);
			return bpf_redirect(peer, 0);
		}
	}
	if (mode == MODE_DRAIN) {
		count(CNT_DRAIN_TO_PEER);
		return bpf_redirect(peer, 0);
	}
	if (mode == MODE_TAP) {
		bpf_clone_redirect(skb, peer, 0);
		count(CNT_TAP_COPY);
	}
	__u32 off = p->role == ROLE_VEX ? 0 : 6;
	bpf_skb_store_bytes(skb, off, uc, 6, 0);
	count(CNT_TO_VBR);
	return bpf_redirect(vbr, 0);
}

SEC("tc")
int tg_vex(struct __sk_buff *skb)
{
	return steer_port(skb);
}

SEC("tc")
int tg_vin(struct __sk_buff *skb)
{
	return steer_port(skb);
}

static __always_inline int restore(struct __sk_buff *skb, struct uc_info *u, __u32 off, __u32 to,
				   __u32 reason)
{
	if (u->mode != MODE_INLINE) {
		count(CNT_FROM_DP_TAP_DROP);
		return TC_ACT_SHOT;
	}
	__u8 wl[6];
	__builtin_memcpy(wl, u->wl_mac, 6);
	bpf_skb_store_bytes(skb, off, wl, 6, 0);
	count(reason);
	return bpf_redirect(to, 0);
}

SEC("tc")
int tg_vbr(struct __sk_buff *skb)
{
	struct ethhdr eth;
	struct uc_key k = {};
	struct uc_info *u;

	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)) < 0) {
		count(CNT_SHORT);
		return TC_ACT_SHOT;
	}
	__builtin_memcpy(k.mac, eth.h_dest, 6);
	u = bpf_map_lookup_elem(&tg_ucmacs, &k);
	if (u)
		return restore(skb, u, 0, u->vin_ifindex, CNT_FROM_DP_TO_VIN);
	__builtin_memcpy(k.mac, eth.h_source, 6);
	u = bpf_map_lookup_elem(&tg_ucmacs, &k);
	if (u)
		return restore(skb, u, 6, u->vex_ifindex, CNT_FROM_DP_TO_VEX);
	/* Nothing else may leave the dp: it would only die in the IP-less enforcer stack. */
	count(CNT_FROM_DP_UNKNOWN_DROP);
	return TC_ACT_SHOT;
}

char LICENSE[] SEC("license") = "GPL";
