#!/usr/bin/env python3
"""One TCP connection attempt, for the protect-mode VM test (test/netns/vm-protect.test.ts).

    vm-protect-connect.py --host H --port P [--timeout S] [--payload N]

Connects to H:P with a bounded wait (a dropped SYN would otherwise keep the kernel
retrying for minutes), sends N bytes if connected, and prints one JSON line:
    {"connected": true, "sent": N}  or  {"connected": false, "error": "timed out"}
Exit status is 0 either way: the caller asserts on the JSON, not on the exit code.
Run it inside the wanted namespace (nsenter --net=...).
"""
import argparse
import json
import socket
import sys


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=4.0)
    ap.add_argument("--payload", type=int, default=0)
    a = ap.parse_args()
    try:
        s = socket.create_connection((a.host, a.port), timeout=a.timeout)
    except OSError as e:
        print(json.dumps({"connected": False, "error": str(e) or type(e).__name__}), flush=True)
        return 0
    sent = 0
    if a.payload:
        s.sendall(b"x" * a.payload)
        sent = a.payload
    s.close()
    print(json.dumps({"connected": True, "sent": sent}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
