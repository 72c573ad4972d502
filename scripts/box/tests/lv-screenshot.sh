#!/bin/sh
# A libvirt-managed L2 guest on our QEMU: libvirtd starts the domain with
# our binary as <emulator>, the guest boots to its marker on the serial
# console (a FIFO pair, as in l2lib), and "virsh screenshot" must give the
# VGA console as an image whose pixels show the text in VGA memory (checked
# cell by cell, like the QMP screendump test).
. $BOX/tests/lvlib.sh
LV_CUR=a
lv_daemon a 8a1b0000-0000-4000-8000-00000000000a
lv_create a lvscreen screen 8
lv_check_ours a lvscreen
l2_wait lvscreen KVMFORK-L2-READY $LV_BOOT
l2_wait lvscreen "ABCDEFGHIJKLMNOPQRSTUVWXYZ" 30
lv_memslot_paths a lvscreen
# Freeze the guest so the picture and the text memory are the same moment.
lv_virsh a suspend lvscreen >/dev/null || lv_fatal a "virsh suspend failed"
# Not quiet: virsh says the MIME type libvirt got.
timeout 180 virsh -k 0 -c "$(lv_uri a)" screenshot lvscreen --file $L2TMP/shot > $L2TMP/shot.msg 2>&1 \
	|| lv_fatal a "virsh screenshot failed: $(cat $L2TMP/shot.msg)"
echo "virsh: $(grep -v '^$' $L2TMP/shot.msg)"
grep -q "image/png" $L2TMP/shot.msg || lv_fatal a "virsh screenshot did not report a PNG: $(cat $L2TMP/shot.msg)"
lv_virsh a qemu-monitor-command lvscreen --hmp 'xp /2000hx 0xb8000' > $OUT/lv-screen.vgatext \
	|| lv_fatal a "reading VGA text memory through virsh qemu-monitor-command failed"
lv_virsh a resume lvscreen >/dev/null || lv_fatal a "virsh resume failed"
# libvirt 11 asks QEMU's screendump for PNG (the checker reads only PNG).
cp $L2TMP/shot $OUT/lv-screen.png
[ "$(head -c 4 $L2TMP/shot | tail -c 3)" = PNG ] || lv_fatal a "virsh screenshot did not give a PNG: $(head -c 16 $L2TMP/shot | od -c | head -1)"
l2_send lvscreen q
l2_wait_exit lvscreen 60 || lv_fatal a "L2 did not power off after 'q'"
lv_virsh a list --all > $L2TMP/list 2>&1
grep -q lvscreen $L2TMP/list && lv_fatal a "domain lvscreen still listed after the guest powered off: $(cat $L2TMP/list)"
l2_stop_all
python3 $BOX/check-screendump.py $OUT/lv-screen.png $OUT/lv-screen.vgatext \
	"KVMFORK-L2-READY release=" "KVMFORK-L2 hello from the L2 guest on kvmfork" \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789"
