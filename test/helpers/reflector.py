#!/usr/bin/env python3
"""Minimal frame reflector for steering tests: every frame received on IFACE is sent back
out of IFACE unchanged (what an inline dp that allows everything does). Frames this
socket itself sent are skipped (PACKET_IGNORE_OUTGOING, and the pkttype check for older
kernels). Prints "ready" once bound; exits on SIGTERM/SIGINT printing the frame count."""
import signal
import socket
import sys

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23

iface = sys.argv[1]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
s.bind((iface, 0))
try:
    s.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
except OSError:
    pass
count = 0


def stop(*_):
    print(f"reflected {count}", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
print("ready", flush=True)
while True:
    data, addr = s.recvfrom(65535)
    if addr[2] == socket.PACKET_OUTGOING:
        continue
    try:
        s.send(data)
        count += 1
    except OSError:
        pass  # e.g. a frame over the MTU: drop it like a dp would
