#!/usr/bin/env python3
"""A long-lived TCP client for mode-switch tests (no timing assertions, only outcomes).
  tcp-session.py HOST PORT
Connects, prints "connected", then sends an 8-byte counter every 20 ms and reads the
echo. On a line "check" on stdin it prints {"sent":..,"received":..} once the echo has
caught up (or 5 s passed); on EOF of stdin it half-closes, reads to EOF and prints the
final JSON. Any socket error prints {"error": "<errno name>"} and exits 0. The 5 s waits
(connect, catch-up) are multiplied by TG_TEST_WAIT_SCALE when set (the kernel lane)."""
import errno
import json
import os
import select
import socket
import sys
import threading
import time

host, port = sys.argv[1], int(sys.argv[2])
wait = 5.0 * float(os.environ.get("TG_TEST_WAIT_SCALE") or 1)
try:
    s = socket.create_connection((host, port), timeout=wait)
except OSError as e:
    print(json.dumps({"error": errno.errorcode.get(e.errno or 0, str(e))}), flush=True)
    sys.exit(0)
s.settimeout(None)
print("connected", flush=True)
got = bytearray()
sent = bytearray()
err = []


def reader():
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return
            got.extend(d)
    except OSError as e:
        err.append(errno.errorcode.get(e.errno or 0, str(e)))


t = threading.Thread(target=reader, daemon=True)
t.start()
i = 0
while True:
    r, _, _ = select.select([sys.stdin], [], [], 0.02)
    if r:
        line = sys.stdin.readline()
        if not line:
            break
        if line.strip() == "check":
            deadline = time.time() + wait
            while len(got) < len(sent) and time.time() < deadline and not err:
                time.sleep(0.02)
            print(json.dumps({"sent": len(sent), "received": len(got), "equal": bytes(got) == bytes(sent[: len(got)]), "error": err[0] if err else None}), flush=True)
            continue
    if err:
        print(json.dumps({"error": err[0], "sent": len(sent), "received": len(got)}), flush=True)
        sys.exit(0)
    b = i.to_bytes(8, "big")
    try:
        s.sendall(b)
    except OSError as e:
        print(json.dumps({"error": errno.errorcode.get(e.errno or 0, str(e)), "sent": len(sent), "received": len(got)}), flush=True)
        sys.exit(0)
    sent.extend(b)
    i += 1
try:
    s.shutdown(socket.SHUT_WR)
except OSError:
    pass
t.join(10)
print(json.dumps({"sent": len(sent), "received": len(got), "equal": bytes(got) == bytes(sent), "error": err[0] if err else None}), flush=True)
