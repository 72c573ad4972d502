#!/bin/sh
# qtest.sh PATH -- one migration-test case inside the box, on its KVM only.
# A case that migration-test itself skips (g_test_skip) is reported as a skip
# with its reason, not as a pass.
cd /tmp || exit 1
export QTEST_QEMU_BINARY=$BOX/tests/kvm-only/qemu-system-x86_64 QTEST_QEMU_IMG=$REPO/build/qemu/qemu-img
# --full registers every case (dirty_ring is not in the default set); -p
# then picks the one asked for.
$REPO/build/qemu/tests/qtest/migration-test --full --tap -k -p "$1" > /tmp/qtest.out 2>&1
rc=$?
cat /tmp/qtest.out
if [ $rc = 0 ] && grep -q '^ok .*# SKIP' /tmp/qtest.out && ! grep '^ok ' /tmp/qtest.out | grep -vq '# SKIP'; then
	echo "KVMFORK-SKIP $(grep -m1 '^ok .*# SKIP' /tmp/qtest.out | sed 's/.*# SKIP *//')"
fi
grep -q '^ok \|^not ok ' /tmp/qtest.out || { echo "no test ran for $1"; exit 1; }
exit $rc
