#!/bin/sh
# A test that hangs on purpose (suite hang-control): its output so far, and a
# migration that is still "active", must show up in its log after run-suite
# kills it at its timeout.
. $BOX/tests/l2lib.sh
d=/tmp/hangctl; mkdir -p $d
echo "KVMFORK-HANG-CONTROL: output before the hang"
# Two QEMUs on the box's KVM, the source paused (-S, no guest code needed).
# With pause-before-switchover the migration stops short of completing and
# waits for a migrate-continue that never comes: "pre-switchover" forever.
$QEMU -accel kvm -cpu host -m 64 -nodefaults -no-user-config -display none -S \
	-incoming tcp:127.0.0.1:4450 -qmp unix:$d/dst.qmp,server=on,wait=off > $OUT/hang-dst.log 2>&1 &
$QEMU -accel kvm -cpu host -m 64 -nodefaults -no-user-config -display none -S \
	-qmp unix:$d/src.qmp,server=on,wait=off > $OUT/hang-src.log 2>&1 &
# The destination listens once its QMP answers (a loaded box starts it slowly).
$QMPC $d/dst.qmp --timeout 60 '{"execute":"query-status"}' > /dev/null || { echo "FAIL: the destination QEMU never answered"; exit 1; }
$QMPC $d/src.qmp --timeout 60 \
	'{"execute":"migrate-set-capabilities","arguments":{"capabilities":[{"capability":"pause-before-switchover","state":true}]}}' \
	'{"execute":"migrate","arguments":{"uri":"tcp:127.0.0.1:4450"}}' || { echo "FAIL: could not start the migration"; exit 1; }
echo "KVMFORK-HANG-CONTROL: migration started; now sleeping past the timeout"
sleep 1000
echo "KVMFORK-HANG-CONTROL: not reached"
