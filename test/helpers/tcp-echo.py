#!/usr/bin/env python3
"""TCP helpers for steering tests (no timing assertions: only bytes that arrive).
  server PORT            accept connections, echo everything until EOF; prints "ready".
  send HOST PORT NBYTES  send NBYTES, half-close, read the echo to EOF; prints JSON.
  stream HOST PORT       send an 8-byte counter every 10 ms until stdin closes, then
                         half-close, read the echo to EOF; prints JSON with sent/received
                         and whether the echoed bytes equal the sent bytes."""
import json
import os
import select
import socket
import sys
import threading


def serve(port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(16)
    print("ready", flush=True)

    def echo(c):
        with c:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                c.sendall(d)

    while True:
        c, _ = ls.accept()
        threading.Thread(target=echo, args=(c,), daemon=True).start()


def read_to_eof(s, into):
    while True:
        d = s.recv(65536)
        if not d:
            return
        into.extend(d)


def send(host, port, n):
    s = socket.create_connection((host, port), timeout=30)
    payload = os.urandom(n)
    got = bytearray()
    t = threading.Thread(target=read_to_eof, args=(s, got))
    t.start()
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)
    t.join()
    print(json.dumps({"sent": n, "received": len(got), "equal": bytes(got) == payload}), flush=True)


def stream(host, port):
    s = socket.create_connection((host, port), timeout=60)
    sent = bytearray()
    got = bytearray()
    t = threading.Thread(target=read_to_eof, args=(s, got))
    t.start()
    i = 0
    print("connected", flush=True)
    while True:
        r, _, _ = select.select([sys.stdin], [], [], 0.01)
        if r and not sys.stdin.readline():
            break
        b = i.to_bytes(8, "big")
        s.sendall(b)
        sent.extend(b)
        i += 1
    s.shutdown(socket.SHUT_WR)
    t.join()
    print(json.dumps({"counters": i, "sent": len(sent), "received": len(got), "equal": bytes(got) == bytes(sent)}), flush=True)


mode = sys.argv[1]
if mode == "server":
    serve(int(sys.argv[2]))
elif mode == "send":
    send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
elif mode == "stream":
    stream(sys.argv[2], int(sys.argv[3]))
