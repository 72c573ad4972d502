#!/usr/bin/env bash
# Negative control for QEMU patch 0003 (SVM intercept of MOV from CR3/CR4/CR8):
# the box's "ours" suite on the shadow MMU with Debian's stock QEMU as the
# outer (TCG) QEMU.  Stock 10.0 checks a CR3 read against the CR0-read
# intercept, so kvmfork/cr_readback_test must catch the guest reading KVM's
# shadow root instead of its own CR3.  This proves the test can fail and that
# the patch is what makes box-ours-shadow and box-l2-shadow pass.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$top/build}
stock=${STOCK_QEMU:-/usr/bin/qemu-system-x86_64}
echo "1..1"
name="stock QEMU as the box, shadow MMU: cr_readback_test catches the unintercepted CR3 read"
if [ ! -x "$stock" ]; then
  echo "ok 1 - $name # SKIP no stock QEMU at $stock (Debian's qemu-system-x86 from bookworm-backports; make setup installs it)"
  exit 0
fi
ver=$("$stock" -version | head -1)
out=$B/box/runs/ours-shadow-stock
BOX_QEMU=$stock "$top/scripts/box/box" --npt 0 --out "$out" ours > "$out.tap" 2>&1; rc=$?
sed 's/^/# /' "$out.tap"
log=$(ls "$out"/logs/*cr_readback_test*.log 2>/dev/null | head -1)
if [ $rc = 0 ]; then
  echo "ok 1 - $name # SKIP $ver passes: it no longer has the bug, so there is nothing to control (patch 0003 may be dropped)"
elif [ -n "$log" ] && grep -q "guest read CR3 = .*, KVM has" "$log"; then
  echo "ok 1 - $name ($ver: $(grep -m1 'guest read CR3' "$log" | sed 's/^# //'))"
else
  echo "not ok 1 - $name # $ver failed, but not with a CR3 mismatch (log: ${log:-$out/console.log})"
  exit 1
fi
