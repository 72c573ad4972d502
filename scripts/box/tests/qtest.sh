#!/bin/sh
# qtest.sh PATH -- one migration-test case inside the box, on its KVM only.
# MIGRATION_TEST names another migration-test binary (reproducers).
# Its output streams to this test's log as it is printed (a case killed at
# its timeout keeps everything it said); a copy in /tmp serves the checks
# below.  A case that migration-test itself skips (g_test_skip) is reported
# as a skip with its reason, not as a pass.
cd /tmp || exit 1
export QTEST_QEMU_BINARY=$BOX/tests/kvm-only/qemu-system-x86_64 QTEST_QEMU_IMG=$REPO/build/qemu/qemu-img
# Each QEMU the test starts gets a second QMP monitor here, for the hang
# snapshot (the test's own QMP connection is QEMU's only client otherwise).
export KVMFORK_QMP_DIR=/tmp/kvmfork-qmp; mkdir -p $KVMFORK_QMP_DIR
rm -f $KVMFORK_QMP_DIR/trace-*.log
out=/tmp/qtest.$$.out
# --full registers every case (dirty_ring is not in the default set); -p
# then picks the one asked for.  glib flushes each line it prints (checked:
# a SIGKILLed run's redirected output keeps every line), so no stdbuf.
{ ${MIGRATION_TEST:-$REPO/build/qemu/tests/qtest/migration-test} --full --tap -k -p "$1" 2>&1; echo "$?" > $out.rc; } | tee $out
rc=$(cat $out.rc 2>/dev/null || echo 1)
if [ "$rc" = 0 ] && grep -q '^ok .*# SKIP' $out && ! grep '^ok ' $out | grep -vq '# SKIP'; then
	echo "KVMFORK-SKIP $(grep -m1 '^ok .*# SKIP' $out | sed 's/.*# SKIP *//')"
fi
grep -q '^ok \|^not ok ' $out || { echo "no test ran for $1"; rm -f $out $out.rc; exit 1; }
# KVMFORK_EXPECT_TRACE=REGEX (with KVMFORK_TRACE_EVENT): some QEMU of the
# case must have traced a line matching REGEX, or the path under test
# (e.g. the background migration harvester) never ran and a pass proves
# nothing about it.
if [ "$rc" = 0 ] && [ -n "$KVMFORK_EXPECT_TRACE" ]; then
	hits=$(cat $KVMFORK_QMP_DIR/trace-*.log 2>/dev/null | grep -c -E "$KVMFORK_EXPECT_TRACE")
	echo "trace lines matching '$KVMFORK_EXPECT_TRACE': $hits"
	[ "$hits" -gt 0 ] || { echo "FAIL: no QEMU traced '$KVMFORK_EXPECT_TRACE': the path under test did not run"; rc=1; }
fi
rm -f $out $out.rc
exit $rc
