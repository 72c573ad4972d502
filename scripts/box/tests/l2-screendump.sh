#!/bin/sh
# Our QEMU on the box's KVM boots an L2 Linux guest with -vga std; the guest
# writes known text on its VGA console; a QMP screendump must be a PNG whose
# pixels show that text (checked cell by cell against the VGA text memory).
. $BOX/tests/l2lib.sh
png=$OUT/l2-screen.png
l2_start screen screen 8
l2_wait screen KVMFORK-L2-READY 240
l2_wait screen "ABCDEFGHIJKLMNOPQRSTUVWXYZ" 30
# Freeze the guest so the picture and the text memory are the same moment.
l2_qmp screen '{"execute":"stop"}' >/dev/null || fatal "QMP stop failed"
l2_qmp screen "{\"execute\":\"screendump\",\"arguments\":{\"filename\":\"$png\",\"format\":\"png\"}}" \
	|| fatal "QMP screendump failed"
l2_qmp screen '{"execute":"human-monitor-command","arguments":{"command-line":"xp /2000hx 0xb8000"}}' \
	> $L2TMP/xp.json || fatal "reading VGA text memory failed"
python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["return"])' $L2TMP/xp.json > $OUT/l2-screen.vgatext \
	|| fatal "cannot parse the xp reply"
l2_qmp screen '{"execute":"cont"}' >/dev/null
l2_send screen q
l2_wait_exit screen 60 || fatal "L2 did not power off after 'q'"
l2_stop_all
echo "screendump: $png"
python3 $BOX/check-screendump.py $png $OUT/l2-screen.vgatext \
	"KVMFORK-L2-READY release=" "KVMFORK-L2 hello from the L2 guest on kvmfork" \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789"
