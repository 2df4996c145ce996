#!/usr/bin/env python3
"""Small network probes for the VM tests (this machine has no ping, nc or socat).

    vm-probe.py ping DST [--count N] [--timeout S]   ICMP echo over a raw socket (root);
                                                     prints {"sent","received"}; exit 0 iff all came back
    vm-probe.py tcp-sink --port P                    accepts one connection, reads to EOF;
                                                     prints "listening", then {"bytes","sha256"}
    vm-probe.py tcp-source --host H --port P --bytes N [--seed S]
                                                     sends N pseudo-random bytes; prints {"bytes","sha256"}
Run each inside the wanted namespace (nsenter --net=...).
"""
import argparse
import hashlib
import json
import os
import random
import select
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def ping(dst: str, count: int, timeout: float) -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    ident = os.getpid() & 0xFFFF
    received = 0
    for seq in range(1, count + 1):
        payload = b"tollgate-vm-probe" + struct.pack("!d", time.time())
        hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        pkt = struct.pack("!BBHHH", 8, 0, checksum(hdr + payload), ident, seq) + payload
        sock.sendto(pkt, (dst, 0))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                break
            data, addr = sock.recvfrom(2048)
            ihl = (data[0] & 0x0F) * 4
            typ, _code, _ck, rid, rseq = struct.unpack("!BBHHH", data[ihl : ihl + 8])
            if typ == 0 and rid == ident and rseq == seq and addr[0] == dst:
                received += 1
                break
    print(json.dumps({"sent": count, "received": received}), flush=True)
    return 0 if received == count else 1


def tcp_sink(port: int) -> int:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(1)
    print("listening", flush=True)
    conn, _ = srv.accept()
    h = hashlib.sha256()
    total = 0
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            break
        h.update(chunk)
        total += len(chunk)
    conn.close()
    print(json.dumps({"bytes": total, "sha256": h.hexdigest()}), flush=True)
    return 0


def tcp_source(host: str, port: int, nbytes: int, seed: int) -> int:
    rnd = random.Random(seed)
    h = hashlib.sha256()
    s = socket.create_connection((host, port), timeout=20)
    sent = 0
    while sent < nbytes:
        chunk = rnd.randbytes(min(65536, nbytes - sent))
        s.sendall(chunk)
        h.update(chunk)
        sent += len(chunk)
    s.shutdown(socket.SHUT_WR)
    s.close()
    print(json.dumps({"bytes": sent, "sha256": h.hexdigest()}), flush=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ping")
    p.add_argument("dst")
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--timeout", type=float, default=2.0)
    k = sub.add_parser("tcp-sink")
    k.add_argument("--port", type=int, required=True)
    c = sub.add_parser("tcp-source")
    c.add_argument("--host", required=True)
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--bytes", type=int, required=True)
    c.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.cmd == "ping":
        return ping(a.dst, a.count, a.timeout)
    if a.cmd == "tcp-sink":
        return tcp_sink(a.port)
    return tcp_source(a.host, a.port, a.bytes, a.seed)


if __name__ == "__main__":
    sys.exit(main())
