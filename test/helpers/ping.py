#!/usr/bin/env python3
"""ICMP echo for tests on machines without iputils-ping: ping.py [-6] TARGET [COUNT].
Sends COUNT echo requests (0.2 s apart, each waits up to 1 s for its reply, times
TG_TEST_WAIT_SCALE when set: the kernel lane's emulated guest is that much slower); prints
"sent N received M" and exits 0 when at least one reply came back, 1 otherwise.
TARGET may carry a scope for IPv6 link-local addresses (fe80::1%br0)."""
import os
import select
import socket
import struct
import sys
import time

args = sys.argv[1:]
v6 = args[0] == "-6"
if v6:
    args = args[1:]
target = args[0]
count = int(args[1]) if len(args) > 1 else 3
ident = os.getpid() & 0xFFFF
wait = 1.0 * float(os.environ.get("TG_TEST_WAIT_SCALE") or 1)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


if v6:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    addr = socket.getaddrinfo(target, None, socket.AF_INET6, socket.SOCK_RAW)[0][4]
else:
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    addr = (target, 0)

received = 0
for seq in range(count):
    payload = b"tollgate" * 7
    if v6:
        pkt = struct.pack("!BBHHH", 128, 0, 0, ident, seq) + payload  # kernel fills the checksum
    else:
        hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        pkt = struct.pack("!BBHHH", 8, 0, csum(hdr + payload), ident, seq) + payload
    sock.sendto(pkt, addr)
    deadline = time.time() + wait
    while True:
        left = deadline - time.time()
        if left <= 0:
            break
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            break
        data = sock.recv(65535)
        icmp = data if v6 else data[(data[0] & 0x0F) * 4:]
        if len(icmp) < 8:
            continue
        t, _, _, rid, rseq = struct.unpack("!BBHHH", icmp[:8])
        if t == (129 if v6 else 0) and rid == ident and rseq == seq:
            received += 1
            break
    if seq + 1 < count:
        time.sleep(0.2)
print(f"sent {count} received {received}", flush=True)
sys.exit(0 if received else 1)
