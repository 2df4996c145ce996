#!/usr/bin/env bash
# The kernel lane: runs a command (by default the live u32 + pedit + mirred steering
# suites, with u32 steering forced) inside Debian's stock kernel under QEMU, because this
# machine type's own kernel has no act_pedit or act_gact and cannot load modules.
#
#   bash scripts/kernel-lane/lane.sh [-- COMMAND...]      (npm run test:kernel-lane)
#
# The guest: qemu-system-x86 with software emulation (TCG: /dev/kvm here only runs PVM
# guests), 2 vCPUs, no NIC at all (-nic none: it cannot reach any network, the host's
# included), the stock kernel booted uncompressed through qboot, an initramfs of busybox
# and the modules for 9p, virtio, overlay, veth, sch_ingress, cls_u32, act_pedit,
# act_mirred and act_gact (scripts/kernel-lane/init), and the host's root and, as a
# second share, the project tree, both read-only over 9p under tmpfs overlays. The
# command's output streams back over a virtio serial port and ends with an exit marker
# carrying its status; the host then kills QEMU. A time limit (TG_KERNEL_LANE_TIMEOUT,
# seconds, 900) bounds the whole boot and run, and QEMU is torn down on every path out of
# this script.
#
# Cache (build/kernel-lane, gitignored; TG_KERNEL_LANE_CACHE moves it): the unpacked
# kernel package (scripts/setup.sh --kernel-lane), its uncompressed vmlinux and the
# initramfs, named by a hash of what goes into it, so a second run builds nothing.
# A failed run keeps the serial console and the command's output under
# build/kernel-lane/failed-<time>/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
HERE="$ROOT/scripts/kernel-lane"
cd "$ROOT"
TIMEOUT=${TG_KERNEL_LANE_TIMEOUT:-900}
MEM_MB=${TG_KERNEL_LANE_MEM:-2048}
say() { printf '[kernel-lane] %s\n' "$*"; }
die() {
  printf '\n[kernel-lane] FAIL: %s\n' "$*"
  exit 1
}

# The in-guest command. The default runs the live u32 suites from the same test files the
# host runs (where they skip: no act_pedit there); TG_STEERING=u32 makes them fail, not
# skip, when u32 steering turns out unusable. Timeouts are wider: node runs ~11x slower.
# --no-isolate: both files in one vitest worker (one Node start fewer, seconds here).
DEFAULT_CMD=(node node_modules/vitest/vitest.mjs run --reporter=verbose --no-isolate --testTimeout 240000 --hookTimeout 240000
  test/netns/steering-u32.test.ts test/netns/steering-u32-agent.test.ts)
if [[ ${1:-} == -- ]]; then shift; fi
if (($#)); then CMD=("$@"); else CMD=("${DEFAULT_CMD[@]}"); fi

t0=$(date +%s.%N)
elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

# --- packages, build, the kernel package ------------------------------------------
bash "$ROOT/scripts/setup.sh" --kernel-lane >&2 || die "scripts/setup.sh --kernel-lane failed"
CACHE=${TG_KERNEL_LANE_CACHE:-$ROOT/build/kernel-lane}
KDIR=$(readlink -f "$ROOT/build/kernel-lane/kernel")
KVER=${KDIR##*/kernel-}
KROOT=$KDIR/root
MODDIR=$KROOT/lib/modules/$KVER
[[ -d $MODDIR ]] || die "no unpacked kernel under $KDIR (scripts/setup.sh --kernel-lane)"
QEMU=${TG_KERNEL_LANE_QEMU:-$(command -v qemu-system-x86_64)} || die "qemu-system-x86_64 is not installed (Debian qemu-system-x86)"
mkdir -p "$CACHE"

# --- the uncompressed kernel -----------------------------------------------------
# Unpacking the bzImage's XZ payload under TCG costs ~5 s per boot; QEMU boots the ELF
# vmlinux directly through its PVH entry instead (CONFIG_PVH).
VMLINUX=$KDIR/vmlinux
if [[ ! -s $VMLINUX ]]; then
  say "extracting the uncompressed kernel from vmlinuz-$KVER"
  python3 - "$KROOT/boot/vmlinuz-$KVER" "$VMLINUX.tmp" <<'PY'
import lzma, sys
data = open(sys.argv[1], 'rb').read()
at = data.find(b'\xfd7zXZ\x00')
if at < 0:
    sys.exit('no XZ payload in ' + sys.argv[1])
d = lzma.LZMADecompressor()
out = d.decompress(data[at:])
if not out.startswith(b'\x7fELF'):
    sys.exit('the XZ payload is not an ELF kernel')
open(sys.argv[2], 'wb').write(out)
PY
  mv "$VMLINUX.tmp" "$VMLINUX"
fi

# --- the initramfs ---------------------------------------------------------------
MODULES=(virtio_pci virtio_console 9pnet_virtio 9p overlay veth sch_ingress cls_u32 act_pedit act_mirred act_gact)
key=$( { echo "$KVER"; echo "${MODULES[*]}"; sha256sum <"$HERE/init"; sha256sum </bin/busybox; } | sha256sum | cut -c1-16)
INITRD=$CACHE/initramfs-$KVER-$key.cpio
if [[ -s $INITRD ]]; then
  say "initramfs cached: ${INITRD#"$ROOT"/}"
else
  say "building the initramfs (busybox + ${MODULES[*]})"
  stage=$(mktemp -d "$CACHE/initramfs.XXXXXX")
  mkdir -p "$stage"/{bin,etc,proc,sys,dev,lib/modules/"$KVER"}
  cp /bin/busybox "$stage/bin/busybox"
  cp "$HERE/init" "$stage/init"
  chmod 755 "$stage/init"
  # Each module and what it depends on, by the modules.dep setup.sh wrote.
  declare -A want=()
  for m in "${MODULES[@]}"; do
    line=$(grep -E "/$m\.ko:" "$MODDIR/modules.dep") || die "module $m is not in kernel $KVER"
    for f in ${line/:/}; do want[$f]=1; done
  done
  for f in "${!want[@]}"; do
    mkdir -p "$stage/lib/modules/$KVER/$(dirname "$f")"
    cp "$MODDIR/$f" "$stage/lib/modules/$KVER/$f"
  done
  printf '%s\n' "${MODULES[@]}" >"$stage/etc/lane-modules"
  /bin/busybox depmod -b "$stage" "$KVER"
  (cd "$stage" && find . | /bin/busybox cpio -o -H newc 2>/dev/null) >"$INITRD.tmp"
  mv "$INITRD.tmp" "$INITRD"
  rm -rf "$stage"
  # Older images of other inputs are of no further use.
  find "$CACHE" -maxdepth 1 -name 'initramfs-*.cpio' ! -name "${INITRD##*/}" -delete
fi

# --- boot ------------------------------------------------------------------------
# The kernel command line carries paths, so they may hold no white space.
[[ $ROOT != *[[:space:]]* ]] || die "the project path '$ROOT' has white space; the guest cannot be told it"
avail=$(awk '/MemAvailable/ {print int($2/1024)}' /proc/meminfo)
((avail > MEM_MB + 256)) || die "QEMU cannot start: the guest needs ${MEM_MB} MiB and this machine has ${avail} MiB available"
# The run directory is inside the project tree, which the guest mounts wherever it is.
mkdir -p "$ROOT/build/kernel-lane"
RUN=$(mktemp -d "$ROOT/build/kernel-lane/run.XXXXXX")
NONCE=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
q() { printf '%q ' "$@"; }
{
  echo "LANE_NONCE=$NONCE"
  echo "LANE_PROJECT=$(q "$ROOT")"
  echo "LANE_KROOT=$(q "$KROOT")"
  echo "LANE_CMD=$(q "$(q "${CMD[@]}")")"
  # TG_TEST_WAIT_SCALE: the test helpers' reachability waits (a ping reply, a TCP connect)
  # are 5x longer in the guest, where a frame through the emulated dp can take seconds.
  echo "export TG_STEERING=u32 TG_TEST_WAIT_SCALE=5 CI=${CI:-} NODE_OPTIONS=--max-old-space-size=1024"
} >"$RUN/env"
OUT=$RUN/output.log
CONSOLE=$RUN/console.log
: >"$OUT"

say "guest: Debian kernel $KVER, QEMU TCG, 2 vCPUs, ${MEM_MB} MiB, no NIC, host root and project tree read-only over 9p + tmpfs overlays"
say "ran: ${CMD[*]}  (in $ROOT, TG_STEERING=u32, time limit ${TIMEOUT} s)"
qemu_args=(
  -accel tcg,thread=multi -M pc -cpu max -smp 2 -m "$MEM_MB"
  -nodefaults -display none -monitor none -no-reboot -nic none
  -bios /usr/share/qemu/qboot.rom
  -kernel "$VMLINUX" -initrd "$INITRD"
  -append "console=ttyS0 quiet panic=-1 tsc=reliable pci=noacpi cryptomgr.notests rodata=off tg.stage2=$HERE/guest.sh tg.project=$ROOT tg.run=$RUN"
  -chardev "file,id=con,path=$CONSOLE" -serial chardev:con
  -fsdev local,id=hostroot,path=/,readonly=on,security_model=none,multidevs=remap
  -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
  -fsdev "local,id=project,path=$ROOT,readonly=on,security_model=none,multidevs=remap"
  -device virtio-9p-pci,fsdev=project,mount_tag=project
  -device virtio-serial-pci
  -chardev "file,id=out,path=$OUT" -device virtserialport,chardev=out,name=tg.out
)
"$QEMU" "${qemu_args[@]}" </dev/null >"$RUN/qemu.log" 2>&1 &
QPID=$!
teardown() {
  if kill -0 "$QPID" 2>/dev/null; then
    kill "$QPID" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$QPID" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$QPID" 2>/dev/null || true
  fi
  wait "$QPID" 2>/dev/null || true
}
trap teardown EXIT
trap 'teardown; die "interrupted"' INT TERM

# Stream the guest's output while waiting for the exit marker, QEMU's end or the limit.
shown=0
cpu='?'
rc=
why=
deadline=$(( $(date +%s) + TIMEOUT ))
while :; do
  size=$(stat -c %s "$OUT")
  if ((size > shown)); then
    tail -c +$((shown + 1)) "$OUT" | head -c $((size - shown)) | grep -av "^TG-LANE-EXIT-$NONCE " || true
    shown=$size
  fi
  # QEMU's CPU time so far: the emulation work itself, which unlike the wall time hardly
  # depends on what else runs on the machine.
  cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f", ($14 + $15) / hz }' "/proc/$QPID/stat" 2>/dev/null || echo "$cpu")
  if m=$(grep -a "^TG-LANE-EXIT-$NONCE " "$OUT"); then rc=${m##* }; break; fi
  if ! kill -0 "$QPID" 2>/dev/null; then why="QEMU exited before the command finished"; break; fi
  if (($(date +%s) >= deadline)); then why="time limit of ${TIMEOUT} s reached"; break; fi
  sleep 0.5
done
teardown
secs=$(elapsed)

if [[ -n $why || $rc != 0 ]]; then
  keep=$CACHE/failed-$(date -u +%Y%m%dT%H%M%SZ)
  mkdir -p "$CACHE"
  mv "$RUN" "$keep"
  # The five newest failed runs are kept.
  ls -1dt "$CACHE"/failed-* 2>/dev/null | tail -n +6 | xargs -r rm -rf
  [[ -s $keep/qemu.log ]] && { say "QEMU said:"; sed 's/^/  /' "$keep/qemu.log"; }
  if [[ -n $why && ! -s $keep/output.log ]]; then
    if [[ -s $keep/console.log ]]; then
      say "last lines of the serial console:"
      tail -n 30 "$keep/console.log" | sed 's/^/  /' || true
    else
      why="$why: QEMU could not start or boot the guest (no serial console output)"
    fi
  fi
  say "serial console and output kept in ${keep#"$ROOT"/}/"
  die "${why:-the command exited with status $rc} after ${secs} s (QEMU CPU time ${cpu} s; kernel $KVER under QEMU TCG)"
fi
rm -rf "$RUN"
say "PASS in ${secs} s (QEMU CPU time ${cpu} s): ${CMD[*]} inside Debian kernel $KVER under QEMU TCG"
