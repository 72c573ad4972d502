#!/usr/bin/env bash
# scripts/demo.sh -- the main job, for now: boot the box (our kernel under
# TCG with nested SVM), start our QEMU inside it on the kernel branch's own
# KVM, boot an L2 Linux guest with -vga std, and take a screendump of it.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD:-$top/build}
out=$B/box/runs/demo
echo "demo: booting the box (TCG, EPYC, nested SVM+NPT) with $(cat "$B/linux/include/config/kernel.release" 2>/dev/null)"
echo "demo: inside it: $("$B/qemu/qemu-system-x86_64" -version | head -1) -accel kvm, L2 Linux guest, -vga std"
"$top/scripts/box/box" --out "$out" demo
rc=$?
echo
echo "demo: what the L2 guest printed on its serial console:"
grep -a "KVMFORK-L2" "$out/screen.serial.log" 2>/dev/null | head -4 | sed 's/^/    /'
if [ $rc = 0 ]; then
  echo "demo: screendump of the L2 guest's VGA console: $out/l2-screen.png"
else
  echo "demo: FAILED -- see $out/console.log and $out/logs/"
fi
exit $rc
