#!/usr/bin/env python3
"""VMM stand-in for the VM workload tests (test/netns/vm-*.test.ts).

A real VMM (qemu, cloud-hypervisor, firecracker) opens the tap that `agent vm connect`
made with TUNSETIFF(IFF_TAP | IFF_NO_PI [| IFF_MULTI_QUEUE]) and copies frames between
that fd and its virtio-net device. Here the "virtio-net device" is a second tap, the
guest NIC, created inside a separate guest namespace whose real kernel stack then plays
the guest OS: ARP, ICMP and TCP all run for real through the connection.

Usage (start it inside the VM's namespace, e.g. `nsenter --net=/run/netns/VM`):
    vmm.py --tap TAP --guest-netns /run/netns/GUEST [--guest-tap gst0] [--multi-queue]

It prints one line "ready <guest-tap>" on stdout once both taps are open. The guest tap
is not persistent: it disappears when this process exits (SIGTERM/SIGKILL), so nothing
of the guest side is left behind. Configuring the guest NIC (MAC, MTU, address, up) is
the caller's job, done with `ip` inside the guest namespace.

One thread per direction with blocking reads: the GIL is released in read/write, so
both directions run at once, and there is no select loop to get wrong.
"""
import argparse
import ctypes
import fcntl
import os
import signal
import struct
import sys
import threading

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_MULTI_QUEUE = 0x0100
CLONE_NEWNET = 0x40000000


def open_tap(name: str, multi_queue: bool) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    flags = IFF_TAP | IFF_NO_PI | (IFF_MULTI_QUEUE if multi_queue else 0)
    # struct ifreq: 16-byte name + short flags, padded to 40 bytes
    ifr = struct.pack("16sH22x", name.encode(), flags)
    fcntl.ioctl(fd, TUNSETIFF, ifr)
    return fd


def enter_netns(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    nsfd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(nsfd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}): {os.strerror(err)}")
    finally:
        os.close(nsfd)


def pump(src: int, dst: int, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            frame = os.read(src, 65536)
        except OSError:
            break
        if not frame:
            break
        try:
            os.write(dst, frame)
        except OSError:
            # Peer down (e.g. guest NIC not up yet): a real NIC drops the frame too.
            continue
    stop.set()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tap", required=True, help="tap made by agent vm connect (in our netns)")
    ap.add_argument("--guest-netns", required=True, help="path of the guest namespace")
    ap.add_argument("--guest-tap", default="gst0")
    ap.add_argument("--multi-queue", action="store_true")
    args = ap.parse_args()

    host_fd = open_tap(args.tap, args.multi_queue)
    # setns affects only this thread; the pump threads start later and only use fds.
    enter_netns(args.guest_netns)
    guest_fd = open_tap(args.guest_tap, False)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    for src, dst in ((host_fd, guest_fd), (guest_fd, host_fd)):
        threading.Thread(target=pump, args=(src, dst, stop), daemon=True).start()
    print(f"ready {args.guest_tap}", flush=True)
    stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
