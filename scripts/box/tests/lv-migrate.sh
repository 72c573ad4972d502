#!/bin/sh
# lv-migrate.sh [plain|p2p|ring] -- "virsh migrate --live" of a
# libvirt-managed L2 guest between two libvirtd instances in the box (their
# own host UUIDs, sockets and directories; migration data over loopback TCP),
# while the guest rewrites its memory and keeps a hash of every page.  Then
# the destination's guest checks every page (the verdict must be intact, and
# a page spoiled on purpose must be caught), the source's domain must be
# gone and the destination's running.
#   plain  virsh drives both daemons (the default, non-peer-to-peer)
#   p2p    --p2p: the source daemon talks to the destination daemon itself,
#          over TCP on loopback
#   ring   plain, with <dirty-ring> in the domain: KVM's dirty ring on both sides
. $BOX/tests/lvlib.sh
how=${1:-plain}
MEM=${L2_MEM:-64}
port=49152
case "$how" in
plain) feat="" flags="" ;;
p2p) feat="" flags="--p2p" ;;
ring) feat="<kvm><dirty-ring state='on' size='4096'/></kvm>" flags="" ;;
*) echo "usage: lv-migrate.sh [plain|p2p|ring]"; exit 2 ;;
esac
LV_CUR=a
lv_daemon a 8a1b0000-0000-4000-8000-00000000000a
if [ "$how" = p2p ]; then
	lv_daemon b 8a1b0000-0000-4000-8000-00000000000b 16510
	dconn=qemu+tcp://127.0.0.1:16510/system
else
	lv_daemon b 8a1b0000-0000-4000-8000-00000000000b
	dconn=$(lv_uri b)
fi
lv_create a lvmig migrate $MEM "$feat"
lv_check_ours a lvmig
if [ "$how" = ring ]; then
	grep -q 'dirty-ring-size=4096' $OUT/lv-lvmig.cmdline || lv_fatal a "libvirt did not ask our QEMU for the dirty ring: $(cat $OUT/lv-lvmig.cmdline)"
fi
l2_wait lvmig KVMFORK-L2-READY $LV_BOOT
l2_wait lvmig "KVMFORK-L2 progress" 60
lv_memslot_paths a lvmig
# The destination's serial console goes to FIFOs of its own: the same
# domain XML, the pipe path changed (libvirt checks the guest ABI, and a
# chardev's host side is not part of it).
lv_fifos lvmigdst
lv_virsh a dumpxml --migratable lvmig > $L2TMP/src.xml || lv_fatal a "virsh dumpxml --migratable failed"
sed "s|$L2TMP/lvmig.ser|$L2TMP/lvmigdst.ser|" $L2TMP/src.xml > $OUT/lv-lvmig-dst.xml
grep -q lvmigdst.ser $OUT/lv-lvmig-dst.xml || lv_fatal a "no serial pipe path to change in the migratable XML"
# As in l2-migrate: emulated hardware, so all the bandwidth precopy can get
# and 2 s for the final stop-and-copy; correctness is what is checked here.
lv_virsh a migrate-setmaxdowntime lvmig 2000 || lv_fatal a "virsh migrate-setmaxdowntime failed"
echo "migrating ($how): virsh migrate --live $flags lvmig $dconn --migrateuri tcp://127.0.0.1:$port"
t0=$(now_s)
LV_VIRSH_TIMEOUT=400 lv_virsh a migrate --live $flags --bandwidth 10240 --xml $OUT/lv-lvmig-dst.xml \
	lvmig "$dconn" --migrateuri tcp://127.0.0.1:$port > $OUT/lv-migrate.virsh.log 2>&1 \
	|| { LV_CUR=b; lv_fatal a "virsh migrate failed after $(($(now_s) - t0)) s: $(tail -3 $OUT/lv-migrate.virsh.log | tr '\n' ' ')"; }
echo "virsh migrate returned after $(($(now_s) - t0)) s"
LV_CUR=b
lv_virsh a list --all > $L2TMP/srclist 2>&1 || lv_fatal a "virsh list on the source failed"
grep -qw lvmig $L2TMP/srclist && lv_fatal a "the source still lists lvmig after the migration: $(cat $L2TMP/srclist)"
st=$(lv_virsh b domstate lvmig 2>&1)
[ "$st" = running ] || lv_fatal b "destination domain state is '$st', not running"
lv_qemu_pid b lvmig
eval "L2PID_lvmigdst=\$L2PID_lvmig"
lv_check_ours b lvmig
lv_memslot_paths b lvmig
lv_virsh b domjobinfo --completed lvmig > $OUT/lv-migrate.jobinfo 2>&1 \
	&& echo "destination job: $(grep -E 'Time elapsed:|Total downtime:|Data processed:|Dirty rate|Iteration' $OUT/lv-migrate.jobinfo | sed 's/  */ /g' | tr '\n' ';')"
# The guest runs on the destination now: its verdict, and the negative control.
l2_verdict lvmigdst
l2_stop_all
case "$L2_VERDICT" in *"KVMFORK-VERDICT intact"*) exit 0 ;; *) echo "FAIL: guest memory not intact after virsh migrate"; exit 1 ;; esac
