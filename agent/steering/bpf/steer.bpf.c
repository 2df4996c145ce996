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
 *   vbr ingress  (frames the dp sent on vth): DA == ucmac -> DA := wl MAC -> vin,
 *                SA == ucmac -> SA := wl MAC -> vex; tap ports drop them; anything else drops.
 *
 * The map value layouts are mirrored byte for byte in agent/steering/bpf-maps.ts.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ROLE_VEX 0
#define ROLE_VIN 1
#define MODE_TAP 0
#define MODE_INLINE 1

#define ETH_P_8021Q_ 0x8100
#define ETH_P_8021AD_ 0x88A8

/* Keyed by the ingress ifindex of vex or vin. 24 bytes. */
struct port_info {
	__u32 peer_ifindex; /* vin for a vex entry, vex for a vin entry */
	__u32 vbr_ifindex;
	__u8 wl_mac[6];
	__u8 uc_mac[6];
	__u8 role; /* ROLE_VEX | ROLE_VIN */
	__u8 mode; /* MODE_TAP | MODE_INLINE */
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
	__u8 uc[6];
	__builtin_memcpy(uc, p->uc_mac, 6);
	if (p->mode == MODE_TAP) {
		bpf_clone_redirect(skb, p->peer_ifindex, 0);
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
