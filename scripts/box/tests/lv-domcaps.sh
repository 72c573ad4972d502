#!/bin/sh
# libvirt's QMP capability probe accepts our QEMU: virsh domcapabilities
# with our binary as the emulator must name it, offer KVM, and list the
# i440fx machine type that the other libvirt tests boot.
. $BOX/tests/lvlib.sh
LV_CUR=a
lv_daemon a 8a1b0000-0000-4000-8000-00000000000a
lv_virsh a domcapabilities --emulatorbin $QEMU --virttype kvm --arch x86_64 --machine pc \
	> $OUT/lv-domcaps.xml 2> $L2TMP/domcaps.err || lv_fatal a "virsh domcapabilities refused our QEMU: $(cat $L2TMP/domcaps.err)"
grep -q "<path>$QEMU</path>" $OUT/lv-domcaps.xml || lv_fatal a "domcapabilities does not name our emulator $QEMU"
grep -q "<domain>kvm</domain>" $OUT/lv-domcaps.xml || lv_fatal a "domcapabilities does not offer KVM"
machine=$(sed -n 's:.*<machine>\(.*\)</machine>.*:\1:p' $OUT/lv-domcaps.xml | head -1)
case "$machine" in pc-i440fx-*) ;; *) lv_fatal a "machine 'pc' resolved to '$machine', not an i440fx type" ;; esac
grep -q "mode name='host-passthrough' supported='yes'" $OUT/lv-domcaps.xml || lv_fatal a "host-passthrough CPU not supported"
# The probe's own record: the version libvirt parsed from our QMP.
ver=$(lv_virsh a version --daemon 2>/dev/null | tr '\n' ' ')
echo "domcapabilities: emulator $QEMU, machine $machine, kvm; $ver"
l2_stop_all
