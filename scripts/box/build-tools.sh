#!/usr/bin/env bash
# scripts/box/build-tools.sh OUTDIR
# Static helpers the box's suites use, rebuilt when their sources change:
#   OUTDIR/qmp          minimal QMP client (tools/qmp.c)
#   OUTDIR/l2init       PID 1 of the L2 guest (guest/l2init.c)
#   OUTDIR/l2.cpio.gz   the L2 guest's initramfs: just /init = l2init
#   OUTDIR/NAME, OUTDIR/NAME.cpio.gz   every other guest/NAME.c: another L2
#                       guest program (benchmarks), booted with L2_INITRD
#   OUTDIR/memslot-kbench  kernel-only memslot benchmark (scripts/bench/memslot),
#                       against the kernel branch's own uAPI headers
#   OUTDIR/harvest-kbench  kernel-only dirty-log sync benchmark (scripts/bench/harvest)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build-tools.sh OUTDIR}
mkdir -p "$out"
cc() { # out src [dependency...] [-- gcc flags...]
  local o=$1 src=$2 stale=0 flags=(); shift 2
  while [ $# -gt 0 ] && [ "$1" != -- ]; do [ "$1" -nt "$o" ] && stale=1; shift; done
  [ $# -gt 0 ] && { shift; flags=("$@"); }
  if [ ! -x "$o" ] || [ "$src" -nt "$o" ] || [ $stale = 1 ]; then
    gcc -static -O2 -Wall -Wextra -Werror "${flags[@]}" -o "$o.tmp" "$src" && mv "$o.tmp" "$o"
  fi
}
cc "$out/qmp" "$here/tools/qmp.c"
for g in "$here"/guest/*.c; do
  cc "$out/$(basename "$g" .c)" "$g" "$here/guest/guest-lib.h"
done
khdr=${BUILD:-$here/../../build}/linux/usr/include
[ -f "$khdr/linux/kvm.h" ] || { echo "build-tools: no $khdr/linux/kvm.h: run 'make kernel'" >&2; exit 1; }
cc "$out/memslot-kbench" "$here/../bench/memslot/memslot-kbench.c" "$khdr/linux/kvm.h" "$here/../bench/kbench-lib.h" -- \
  -isystem "$khdr" -pthread
cc "$out/harvest-kbench" "$here/../bench/harvest/harvest-kbench.c" "$khdr/linux/kvm.h" "$here/../bench/kbench-lib.h" -- \
  -isystem "$khdr"
for g in "$here"/guest/*.c; do
  n=$(basename "$g" .c) img=$out/$(basename "$g" .c).cpio.gz
  [ "$n" = l2init ] && img=$out/l2.cpio.gz
  if [ ! -f "$img" ] || [ "$out/$n" -nt "$img" ]; then
    BUSYBOX=0 "$here/mkinitramfs.sh" "$img" "$out/$n"
  fi
done
