#!/usr/bin/env python3
"""Tiny TCP peers for the demo (stdlib only).
  netcat.py serve PORT NAME     answer each connection with "NAME: <what you sent>" and close
  netcat.py ask HOST PORT TEXT  connect (3 s timeout), send TEXT, print the answer; exit 1 on failure"""
import socket
import sys
import threading

if sys.argv[1] == "serve":
    port, name = int(sys.argv[2]), sys.argv[3]
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("0.0.0.0", port))
    ls.listen(16)
    print("ready", flush=True)

    def answer(c):
        with c:
            try:
                c.settimeout(5)
                data = c.recv(4096)
                c.sendall(name.encode() + b": " + data)
            except OSError:
                pass

    while True:
        c, _ = ls.accept()
        threading.Thread(target=answer, args=(c,), daemon=True).start()
else:
    host, port, text = sys.argv[2], int(sys.argv[3]), sys.argv[4]
    try:
        s = socket.create_connection((host, port), timeout=3)
        s.sendall(text.encode())
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            out += d
        print(out.decode(errors="replace"))
    except OSError as e:
        print(f"failed: {e}")
        sys.exit(1)
