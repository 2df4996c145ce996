#!/bin/sh
# Stage 2 of the kernel lane guest, run as PID 1 by scripts/kernel-lane/init after it
# switched to the overlay root (the host's root read-only over 9p, writes to tmpfs). Gives
# the guest its own /proc, /sys, /dev, /run and /tmp, mounts the project tree (its own 9p
# share, so a tree under /tmp stays visible) at its host path under a tmpfs overlay, makes
# the stock kernel's modules loadable on demand, runs the lane's command in the project
# tree and writes everything, then the exit marker, to the virtio serial port the host reads.
set -u
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH HOME=/root LANG=C.UTF-8

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t bpf bpf /sys/fs/bpf 2>/dev/null

run_dir=
project=
for arg in $(cat /proc/cmdline); do
  case $arg in
    tg.run=*) run_dir=${arg#tg.run=} ;;
    tg.project=*) project=${arg#tg.project=} ;;
  esac
done

# The host's output channel: the virtio serial port named tg.out (no udev here, so find
# its /dev node through sysfs).
out=/dev/console
for p in /sys/class/virtio-ports/*; do
  [ "$(cat "$p/name" 2>/dev/null)" = tg.out ] && out=/dev/${p##*/}
done
exec >"$out" 2>&1

finish() {
  echo "TG-LANE-EXIT-${LANE_NONCE:-none} $1"
  sync
  /bin/busybox poweroff -f
}

# The project tree: read-only 9p (tag "project"), writes (vitest's cache, say) to tmpfs.
mkdir -p /run/lane/project-ro /run/lane/project-rw/upper /run/lane/project-rw/work
if [ -n "$project" ] && mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro project /run/lane/project-ro \
  && mkdir -p "$project" \
  && mount -t overlay overlay -o lowerdir=/run/lane/project-ro,upperdir=/run/lane/project-rw/upper,workdir=/run/lane/project-rw/work "$project"; then :
else
  echo "kernel-lane guest: cannot mount the project tree (tg.project=$project)"; finish 125
fi
[ -n "$run_dir" ] && [ -f "$run_dir/env" ] || { echo "kernel-lane guest: no run directory (tg.run=$run_dir)"; finish 125; }
# LANE_NONCE, LANE_PROJECT, LANE_KROOT, LANE_CMD and the variables for the command.
. "$run_dir/env"

# Every stock module loads on demand: the unpacked package's tree with busybox as the
# kernel's modprobe (the host has no kmod; the initramfs already loaded the steering ones).
mkdir -p /lib/modules /run/lane
mount --bind "$LANE_KROOT/lib/modules" /lib/modules
ln -s /bin/busybox /run/lane/modprobe
echo /run/lane/modprobe >/proc/sys/kernel/modprobe

hostname kernel-lane
ip link set lo up
# `ip netns exec NS dp` in the agent must find this tree's dp, whatever the host links.
for b in dp agent; do ln -sfn "$LANE_PROJECT/bin/$b.js" "/usr/local/bin/$b"; done

cd "$LANE_PROJECT" || finish 125
echo "kernel-lane guest: $(uname -r), $(nproc) vCPUs, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB, up $(cut -d' ' -f1 /proc/uptime) s"
echo "kernel-lane guest: network interfaces: $(ls /sys/class/net | tr '\n' ' ')"
sh -c "$LANE_CMD" </dev/null
finish $?
