#!/usr/bin/env python3
"""Plain unixgram client for the dp control socket (what a NeuVector-style agent does).

usage: dp_send.py SOCK [--bind PATH] [--replies N] JSON...
Sends each JSON argument as one datagram. Without --bind the socket is unbound (the dp
cannot reply); with --bind it prints up to N replies per datagram, one per line.
"""
import os, socket, sys

def main():
    args = sys.argv[1:]
    sock_path = args.pop(0)
    bind = None
    replies = 0
    if args and args[0] == '--bind':
        args.pop(0); bind = args.pop(0)
    if args and args[0] == '--replies':
        args.pop(0); replies = int(args.pop(0))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if bind:
        try: os.unlink(bind)
        except FileNotFoundError: pass
        s.bind(bind)
        s.settimeout(5)
    try:
        for msg in args:
            s.sendto(msg.encode(), sock_path)
            for _ in range(replies if bind else 0):
                print(s.recv(65536).decode(), flush=True)
    finally:
        s.close()
        if bind:
            os.unlink(bind)

main()
