#!/bin/sh
# When libvirt refuses a domain, the test must show libvirt's own error, not
# a timeout.  Our QEMU is built without SPICE, so it has no qxl device: a
# domain asking for qxl video must be refused at "virsh create", with
# libvirt's message naming the model, and no QEMU left running.
. $BOX/tests/lvlib.sh
LV_CUR=a
lv_daemon a 8a1b0000-0000-4000-8000-00000000000a
lv_xml lvbad screen 8 | sed "s|<model type='vga'/>|<model type='qxl'/>|" > $OUT/lv-lvbad.xml
grep -q "type='qxl'" $OUT/lv-lvbad.xml || lv_fatal a "could not write the qxl domain"
if lv_virsh a create $OUT/lv-lvbad.xml > $L2TMP/bad.out 2>&1; then
	lv_fatal a "libvirt started a qxl domain on a QEMU without qxl: $(cat $L2TMP/bad.out)"
fi
echo "libvirt said: $(cat $L2TMP/bad.out | tr '\n' ' ')"
grep -q "^error:" $L2TMP/bad.out || lv_fatal a "virsh printed no error line"
grep -q "qxl" $L2TMP/bad.out || lv_fatal a "libvirt's error does not name the qxl model"
lv_virsh a list --all > $L2TMP/list 2>&1
grep -qw lvbad $L2TMP/list && lv_fatal a "a refused domain is listed: $(cat $L2TMP/list)"
pgrep -f "guest=lvbad" >/dev/null && lv_fatal a "a QEMU for the refused domain is running"
l2_stop_all
