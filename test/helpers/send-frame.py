#!/usr/bin/env python3
"""Sends raw Ethernet frames out of IFACE: send-frame.py IFACE HEX [HEX...] (one frame per
argument, hex without separators). For frames no local stack will build here, e.g.
802.1Q-tagged ones on a kernel without the 8021q module."""
import socket
import sys

s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for h in sys.argv[2:]:
    s.send(bytes.fromhex(h))
print(f"sent {len(sys.argv) - 2}", flush=True)
