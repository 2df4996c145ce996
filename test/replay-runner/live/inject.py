#!/usr/bin/env python3
"""Live replay injector/capturer: one process with an AF_PACKET socket in the host-side
namespace (on the workload's host-side veth) and one in the workload namespace (on eth0),
so frames go out in capture order from whichever side sent them, and what arrives on the
far side is recorded.

stdin: JSON {host: {ns, iface}, workload: {ns, iface}, frames: [{side: "host"|"workload",
hex, expect: bool}], addrs: [hex of the two replayed IP addresses], waitMs, gapMs, settleMs}
stdout: JSON {received: {host: [hex...], workload: [hex...]}, missing: [frame index...]}

Pacing, not timing: a frame expected to pass is awaited on the far side (up to waitMs)
before the next is sent, so the dp sees the conversation in capture order (a SYN-ACK
never overtakes its SYN); after a frame expected to be dropped there is nothing to wait
for, so a short gap (gapMs) keeps order; at the end settleMs catches late arrivals.
Only frames whose IP source and destination are the two replayed addresses are recorded
(the namespaces' own traffic, e.g. IPv6 router solicitations, is ignored)."""
import ctypes
import json
import os
import select
import socket
import sys
import time

CLONE_NEWNET = 0x40000000
ETH_P_ALL = 3
PACKET_OUTGOING = 4
libc = ctypes.CDLL(None, use_errno=True)


def enter(ns):
    fd = os.open(ns if ns.startswith('/') else f'/run/netns/{ns}', os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f'setns {ns}')
    finally:
        os.close(fd)


def open_sock(side):
    enter(side['ns'])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((side['iface'], 0))
    s.setblocking(False)
    return s


def replayed(frame, addrs):
    et = int.from_bytes(frame[12:14], 'big')
    if et == 0x0800 and len(frame) >= 34:
        src, dst = frame[26:30], frame[30:34]
    elif et == 0x86DD and len(frame) >= 54:
        src, dst = frame[22:38], frame[38:54]
    else:
        return False
    return src in addrs and dst in addrs and src != dst


def main():
    plan = json.load(sys.stdin)
    own = os.open('/proc/self/ns/net', os.O_RDONLY)
    socks = {'host': open_sock(plan['host']), 'workload': open_sock(plan['workload'])}
    libc.setns(own, CLONE_NEWNET)
    addrs = {bytes.fromhex(a) for a in plan['addrs']}
    received = {'host': [], 'workload': []}
    by_fd = {s.fileno(): side for side, s in socks.items()}

    def drain(timeout):
        r, _, _ = select.select(list(socks.values()), [], [], timeout)
        for s in r:
            side = by_fd[s.fileno()]
            while True:
                try:
                    data, addr = s.recvfrom(65536)
                except BlockingIOError:
                    break
                if addr[2] == PACKET_OUTGOING or not replayed(data, addrs):
                    continue
                received[side].append(data)

    # Let anything already in flight go by before the first frame.
    drain(0.05)
    for side in received:
        received[side].clear()
    missing = []
    for i, f in enumerate(plan['frames']):
        data = bytes.fromhex(f['hex'])
        far = 'workload' if f['side'] == 'host' else 'host'
        seen = received[far].count(data)
        socks[f['side']].send(data)
        if f['expect']:
            deadline = time.monotonic() + plan['waitMs'] / 1000
            while received[far].count(data) <= seen and time.monotonic() < deadline:
                drain(max(0.0, deadline - time.monotonic()))
            if received[far].count(data) <= seen:
                missing.append(i)
        else:
            end = time.monotonic() + plan['gapMs'] / 1000
            while time.monotonic() < end:
                drain(max(0.0, end - time.monotonic()))
    end = time.monotonic() + plan['settleMs'] / 1000
    while time.monotonic() < end:
        drain(max(0.0, end - time.monotonic()))
    json.dump({'received': {k: [d.hex() for d in v] for k, v in received.items()}, 'missing': missing}, sys.stdout)


main()
