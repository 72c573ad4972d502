#!/usr/bin/env bash
# scripts/demo.sh [libvirt] -- the main job: boot the box (our kernel under
# TCG with nested SVM), start our QEMU inside it on the kernel branch's own
# KVM, boot an L2 Linux guest with -vga std, and take a screendump of it.
# "libvirt" (make demo DEMO=libvirt): the same guest as a libvirt domain,
# libvirtd in the box starting our QEMU, and a "virsh screenshot".
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD:-$top/build}
variant=${1:-}
case "$variant" in
'') suite=demo serial=screen.serial.log png=l2-screen.png how="our QEMU -accel kvm" ;;
libvirt) suite=demo-libvirt serial=lvscreen.serial.log png=lv-screen.png how="libvirtd $(dpkg-query -W -f '${Version}' libvirt-daemon 2>/dev/null) starting our QEMU as the domain's <emulator>" ;;
*) echo "demo: unknown variant '$variant' (none, or libvirt)" >&2; exit 2 ;;
esac
out=$B/box/runs/$suite
echo "demo: booting the box (TCG, EPYC, nested SVM+NPT) with $(cat "$B/linux/include/config/kernel.release" 2>/dev/null)"
echo "demo: inside it: $("$B/qemu/qemu-system-x86_64" -version | head -1); $how, L2 Linux guest, -vga std"
"$top/scripts/box/box" --out "$out" "$suite"
rc=$?
echo
echo "demo: what the L2 guest printed on its serial console:"
grep -a "KVMFORK-L2" "$out/$serial" 2>/dev/null | head -4 | sed 's/^/    /'
if [ $rc = 0 ]; then
  echo "demo: screendump of the L2 guest's VGA console: $out/$png"
else
  echo "demo: FAILED -- see $out/console.log and $out/logs/"
fi
exit $rc
