#!/usr/bin/env bash
# One idempotent setup for every entry point (npm test, npm start, npm run bench).
# Each step checks first and does nothing when its output is already current, so a
# second run takes about a second. Run as root (CI and the labs need it anyway).
#   --kernel-lane  also installs what scripts/kernel-lane/lane.sh needs (QEMU, a static
#                  busybox, and Debian's stock kernel package unpacked under build/).
set -euo pipefail
KERNEL_LANE=0
for a in "$@"; do
  case $a in
    --kernel-lane) KERNEL_LANE=1 ;;
    *) printf '[setup] unknown option %s (known: --kernel-lane)\n' "$a" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[setup] %s\n' "$*" >&2; }

# --- 1. Debian packages -------------------------------------------------------
# libpcap-dev: cap's native build; iproute2/ethtool: topology and steering;
# clang/llvm/libbpf-dev/bpftool: the TC BPF steering program; iperf3: benchmarks;
# tcpdump/tshark: captures in tests; util-linux: nsenter (tc in a netns without
# the /sys remount that `ip netns exec` does, which would hide /sys/fs/bpf);
# chromium: the connection-graph page test (headless, driven by puppeteer-core);
# podman/docker.io (+ runc, netavark, aardvark-dns, iptables, which netavark needs here)
# and busybox-static: the real-container tests, the demo and the container image built below.
PKGS=(libpcap-dev iproute2 ethtool clang llvm libbpf-dev bpftool iperf3 tcpdump tshark util-linux iputils-ping python3 make g++ chromium
      podman docker.io runc netavark aardvark-dns iptables busybox-static)
# The kernel lane: qemu-system-x86 boots the stock kernel (with its qboot and pvh ROMs),
# busybox-static is the guest initramfs' only program.
if ((KERNEL_LANE)); then PKGS+=(qemu-system-x86 busybox-static); fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    log "missing Debian packages: ${missing[*]} (run as root to install them)"; exit 1
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; answer it up front.
  echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
  # Package scripts must not start dockerd/containerd in the root namespace (their bridges
  # would put addresses there): policy-rc.d 101 forbids service starts during the install.
  made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made_policy=1; fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if ((made_policy)); then rm -f /usr/sbin/policy-rc.d; fi
fi

# --- 2. npm dependencies --------------------------------------------------------
# Install-script approvals for cap, zeromq, msgpackr-extract and unix-dgram live in
# package.json (allowScripts); without them npm 11 skips cap's native build.
# `npm ci` installs exactly the committed lock and never writes it, so setup leaves a
# fresh clone clean (`npm install` may rewrite package-lock.json on a new machine).
# It runs only when the lock changed (its hash is kept in node_modules) or a native
# addon is missing; editing package.json scripts must not trigger it.
stamp=node_modules/.tollgate-lock-sha
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" \
      || ! -f node_modules/cap/build/Release/cap.node || ! -f node_modules/unix-dgram/build/Release/unix_dgram.node ]]; then
  log "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

# --- 3. TypeScript build ---------------------------------------------------------
if [[ ! -f dist/.tsbuildinfo ]] || [[ -n $(find agent dp shared scripts benchmarks tsconfig.json -newer dist/.tsbuildinfo \( -name '*.ts' -o -name '*.json' \) -print -quit 2>/dev/null) ]]; then
  log "compiling TypeScript"
  npx tsc -p tsconfig.json
  touch dist/.tsbuildinfo
fi

# --- 4. BPF steering object ------------------------------------------------------
BPF_SRC=agent/steering/bpf/steer.bpf.c
BPF_OBJ=build/steer.bpf.o
if [[ -f $BPF_SRC ]] && [[ ! -f $BPF_OBJ || $BPF_SRC -nt $BPF_OBJ ]]; then
  log "building $BPF_OBJ"
  mkdir -p build
  clang -O2 -g -target bpf -I/usr/include/"$(uname -m)"-linux-gnu -Wall -c "$BPF_SRC" -o "$BPF_OBJ"
fi

# --- 4b. native addons: the packet ring (the dp's batched AF_PACKET I/O; without it the
# dp uses cap) and bpf_map (the dp's writes to the fast-path verdict map; without it the
# dp runs without the fast path). One node-gyp project builds both.
# node-gyp ships inside npm; Node's headers are in /usr/include/node (nodedir=/usr).
RING_OBJ=native/build/Release/packet_ring.node
MAP_OBJ=native/build/Release/bpf_map.node
# Rebuilt when any source (C, headers, binding.gyp) is newer than either addon.
native_stale() {
  [[ ! -f $RING_OBJ || ! -f $MAP_OBJ ]] && return 0
  [[ -n $(find native -maxdepth 1 \( -name '*.c' -o -name '*.h' -o -name binding.gyp \) \( -newer "$RING_OBJ" -o -newer "$MAP_OBJ" \) -print -quit) ]]
}
if [[ -f native/packet_ring.c ]] && native_stale; then
  log "building $RING_OBJ and $MAP_OBJ"
  NODE_GYP="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
  [[ -f $NODE_GYP ]] || NODE_GYP=/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js
  node "$NODE_GYP" rebuild --nodedir=/usr -C native --loglevel=error
fi

# --- 5. bpffs, for the pinned steering maps --------------------------------------
if [[ $(id -u) -eq 0 ]] && ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpf /sys/fs/bpf
fi

# --- 5b. the container image for tests and the demo ------------------------------------
# No registry is reachable here: the image is Debian's static busybox (httpd, nc, sleep),
# as a rootfs tarball that `podman import` / `docker import` take. Rebuilt only when the
# busybox package changes.
IMAGE_TAR=build/images/tollgate-busybox.tar
BB=/bin/busybox
if [[ -x $BB ]] && [[ ! -f $IMAGE_TAR || $BB -nt $IMAGE_TAR ]]; then
  log "building $IMAGE_TAR"
  tmp=$(mktemp -d)
  mkdir -p "$tmp"/{bin,sbin,usr/bin,usr/sbin,tmp,proc,sys,dev,etc,www,run}
  cp "$BB" "$tmp/bin/busybox"
  chroot "$tmp" /bin/busybox --install -s
  echo 'tollgate test page' > "$tmp/www/index.html"
  echo 'root:x:0:0:root:/:/bin/sh' > "$tmp/etc/passwd"
  mkdir -p build/images
  tar -C "$tmp" -cf "$IMAGE_TAR.tmp" . && mv "$IMAGE_TAR.tmp" "$IMAGE_TAR"
  rm -rf "$tmp"
fi

# --- 6. dp and agent on PATH -----------------------------------------------------
# Symlinks, so `ip netns exec <agent-ns> dp` finds this checkout's dp.
if [[ $(id -u) -eq 0 ]]; then
  for b in dp agent; do
    want="$ROOT/bin/$b.js"
    if [[ $(readlink /usr/local/bin/$b 2>/dev/null) != "$want" ]]; then
      ln -sfn "$want" /usr/local/bin/$b
      log "linked /usr/local/bin/$b -> $want"
    fi
  done
fi
# --- 7. the kernel lane's guest kernel (--kernel-lane only) ----------------------
# Debian's stock kernel, the one linux-image-amd64 points at, unpacked (never installed:
# nothing goes to /boot or /lib/modules of this machine) into build/kernel-lane/kernel-VER,
# with a modules.dep from busybox depmod (this machine has no kmod). The newest version is
# asked of apt each time; an unpacked one is reused, so only a new kernel downloads.
if ((KERNEL_LANE)); then
  LANE=build/kernel-lane
  mkdir -p "$LANE"
  kpkg() { apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1; }
  pkg=$(kpkg)
  if [[ -z $pkg ]]; then apt-get update -qq; pkg=$(kpkg); fi
  [[ -n $pkg ]] || { log "kernel lane: apt knows no linux-image-amd64 (is Debian's archive reachable?)"; exit 1; }
  kver=${pkg#linux-image-}
  kdir=$LANE/kernel-$kver
  if [[ ! -f $kdir/.unpacked ]]; then
    log "kernel lane: fetching and unpacking $pkg"
    rm -rf "$kdir" && mkdir -p "$kdir/deb"
    (cd "$kdir/deb" && apt-get download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
    deb=$(ls "$kdir"/deb/*.deb 2>/dev/null | head -1)
    [[ -n $deb ]] || { log "kernel lane: apt-get download $pkg failed"; exit 1; }
    dpkg -x "$deb" "$kdir/root"
    rm -rf "$kdir/deb"
    /bin/busybox depmod -b "$kdir/root" "$kver"
    touch "$kdir/.unpacked"
  fi
  ln -sfn "kernel-$kver" "$LANE/kernel"
fi
exit 0
