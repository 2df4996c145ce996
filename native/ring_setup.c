/* Closing a packet ring, and the fan-out program dp -n N workers share (see packet_ring.c). */
#include "ring.h"

static void free_poll(uv_handle_t *h) { free(h); }

void port_close(ring_port *p) {
  if (p->closed) return;
  p->closed = 1;
  if (p->poll) {
    uv_poll_stop(p->poll);
    p->poll->data = NULL;
    uv_close((uv_handle_t *)p->poll, free_poll);
    p->poll = NULL;
  }
  if (p->map) munmap(p->map, p->map_len);
  p->map = NULL;
  if (p->fd >= 0) close(p->fd);
  p->fd = -1;
}

/*
 * dp -n N fan-out: a classic BPF program that picks the member socket from the packet's
 * IP addresses only (source XOR destination, folded): symmetric, so both directions of a
 * flow go to the same worker, and the same for every fragment of a datagram, whose later
 * pieces carry no ports. Loads are relative to the network header (SKF_NET_OFF), so they
 * do not depend on where skb->data points; skb->protocol is the EtherType after the kernel
 * took a VLAN tag into metadata. Anything else (ARP, QinQ left in band) goes to member 0.
 * The kernel takes the result modulo the number of members.
 */
#define NET(o) ((__u32)(SKF_NET_OFF + (o)))
static struct sock_filter fanout_prog[] = {
  /* 0 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, (__u32)(SKF_AD_OFF + SKF_AD_PROTOCOL)),
  /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 1, 0),
  /* 2 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x86dd, 5, 34),
  /* 3 IPv4 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(12)),
  /* 4 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
  /* 5 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(16)),
  /* 6 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
  /* 7 */ BPF_STMT(BPF_JMP | BPF_JA, 22),
  /* 8 IPv6 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(8)),
  /* 9 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
  /* 10 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(12)),
  /* 11 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
  /* 12 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
  /* 13 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(16)),
  /* 14 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
  /* 15 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
  /* 16 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(20)),
  /* 17 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
  /* 18 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
  /* 19 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(24)),
  /* 20 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
  /* 21 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
  /* 22 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(28)),
  /* 23 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
  /* 24 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
  /* 25 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(32)),
  /* 26 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
  /* 27 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
  /* 28 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, NET(36)),
  /* 29 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
  /* 30 fold */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
  /* 31 */ BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16),
  /* 32 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
  /* 33 */ BPF_STMT(BPF_MISC | BPF_TAX, 0),
  /* 34 */ BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 8),
  /* 35 */ BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
  /* 36 */ BPF_STMT(BPF_RET | BPF_A, 0),
  /* 37 */ BPF_STMT(BPF_RET | BPF_K, 0),
};
struct sock_fprog fanout_by_addresses = { .len = sizeof fanout_prog / sizeof fanout_prog[0], .filter = fanout_prog };
