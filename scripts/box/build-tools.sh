#!/usr/bin/env bash
# scripts/box/build-tools.sh OUTDIR
# Static helpers the box's suites use, rebuilt when their sources change:
#   OUTDIR/qmp          minimal QMP client (tools/qmp.c)
#   OUTDIR/l2init       PID 1 of the L2 guest (guest/l2init.c)
#   OUTDIR/l2.cpio.gz   the L2 guest's initramfs: just /init = l2init
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build-tools.sh OUTDIR}
mkdir -p "$out"
cc() { # out src
  if [ ! -x "$1" ] || [ "$2" -nt "$1" ]; then
    gcc -static -O2 -Wall -Wextra -Werror -o "$1.tmp" "$2" && mv "$1.tmp" "$1"
  fi
}
cc "$out/qmp" "$here/tools/qmp.c"
cc "$out/l2init" "$here/guest/l2init.c"
if [ ! -f "$out/l2.cpio.gz" ] || [ "$out/l2init" -nt "$out/l2.cpio.gz" ]; then
  BUSYBOX=0 "$here/mkinitramfs.sh" "$out/l2.cpio.gz" "$out/l2init"
fi
