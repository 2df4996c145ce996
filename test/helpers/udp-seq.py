#!/usr/bin/env python3
"""A numbered UDP stream, to count loss exactly (no retransmission can hide a lost datagram).
  recv PORT              bind PORT (16 MiB forced receive buffer), print "ready", count
                         datagrams until stdin closes, then drain for 1 s and print JSON:
                         {"received": n, "distinct": d, "max": m, "missing": [first 50],
                          "rcvbufErrors": UDP receive-buffer drops in this namespace}
  send HOST PORT N PPS   send datagrams 0..N-1 (an 8-byte sequence number each) at PPS
                         per second; prints "started" after the first, JSON {"sent": N} at the end."""
import json
import select
import socket
import struct
import sys
import time


def rcvbuf_errors():
    with open("/proc/net/snmp") as f:
        rows = [l.split() for l in f if l.startswith("Udp:")]
    return int(rows[1][rows[0].index("RcvbufErrors")])


def recv(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE (root): no drop in the socket
    s.bind(("0.0.0.0", port))
    s.setblocking(False)
    errs0 = rcvbuf_errors()
    print("ready", flush=True)
    seen = set()
    n = 0
    stop_at = None
    while stop_at is None or time.monotonic() < stop_at:
        r, _, _ = select.select([s] + ([sys.stdin] if stop_at is None else []), [], [], 0.1)
        if sys.stdin in r and not sys.stdin.readline():
            stop_at = time.monotonic() + 1.0
        if s in r:
            while True:
                try:
                    d = s.recv(2048)
                except BlockingIOError:
                    break
                n += 1
                if len(d) >= 8:
                    seen.add(struct.unpack("!Q", d[:8])[0])
    mx = max(seen) if seen else -1
    missing = [i for i in range(mx + 1) if i not in seen][:50]
    print(json.dumps({"received": n, "distinct": len(seen), "max": mx, "missing": missing,
                      "rcvbufErrors": rcvbuf_errors() - errs0}), flush=True)


def send(host, port, n, pps):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    t0 = time.monotonic()
    pad = b"\0" * 56
    for i in range(n):
        due = t0 + i / pps
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        s.sendto(struct.pack("!Q", i) + pad, (host, port))
        if i == 0:
            print("started", flush=True)
    print(json.dumps({"sent": n}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "recv":
        recv(int(sys.argv[2]))
    else:
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]))
