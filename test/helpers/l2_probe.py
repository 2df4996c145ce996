#!/usr/bin/env python3
"""Inject Ethernet frames on an interface and collect what comes back (AF_PACKET).

usage: l2_probe.py IFACE < {"frames": ["hex", ...], "marker": "hex", "timeout": 5}
Sends every frame, then the marker frame (one the dp is known to forward), and reads
incoming frames (never our own outgoing ones) until the marker comes back or the timeout.
The dp handles frames in order, so once the marker is back every earlier frame has had
its fate. Prints {"received": ["hex", ...], "marker_seen": bool} (the marker excluded).
"""
import json, socket, sys, time

PACKET_OUTGOING = 4

def main():
    iface = sys.argv[1]
    req = json.load(sys.stdin)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    s.bind((iface, 0))
    s.settimeout(0.2)
    marker = bytes.fromhex(req["marker"])
    for f in req["frames"]:
        s.send(bytes.fromhex(f))
    s.send(marker)
    received, seen = [], False
    deadline = time.time() + req.get("timeout", 5)
    while time.time() < deadline:
        try:
            data, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[2] == PACKET_OUTGOING:
            continue
        if data == marker:
            seen = True
            break
        received.append(data.hex())
    print(json.dumps({"received": received, "marker_seen": seen}))

main()
