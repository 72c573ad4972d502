#!/usr/bin/env bash
# scripts/tests/qtest.sh TEST [LIST]
# Runs one of QEMU's qtests against our binary and prints its TAP.  With a
# LIST (scripts/tests/TEST-LIST.list) only the test paths named there run;
# lines "skip PATH REASON" print a skip with the reason instead, and
# "skip-on-kvm_pvm PATH REASON" do so only when the host's /dev/kvm is the
# kvm_pvm nested hypervisor (elsewhere the case runs).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$top/build}
t=${1:?usage: qtest.sh TEST [LIST]}; list=${2:-}
bin=$B/qemu/tests/qtest/$t
[ -x "$bin" ] || { echo "not ok 1 - $t # not built: $bin (make qemu)"; exit 1; }
export QTEST_QEMU_BINARY=$B/qemu/qemu-system-x86_64
export QTEST_QEMU_IMG=$B/qemu/qemu-img
export G_TEST_DBUS_DAEMON=/bin/true
args=(--tap -k)
skips=()
if [ -n "$list" ]; then
  lf=$top/scripts/tests/$t-$list.list
  [ -f "$lf" ] || { echo "not ok 1 - $t # no list $lf"; exit 1; }
  while read -r a b c; do
    case "$a" in
    ""|\#*) continue ;;
    skip) skips+=("$b # SKIP $c") ;;
    skip-on-kvm_pvm) if [ -d "${KVMFORK_PVM_SYSFS:-/sys/module/kvm_pvm}" ]; then skips+=("$b # SKIP $c")
      else args+=(-p "$b"); [ "$t" = migration-test ] && args+=(--full); fi ;;   # dirty_ring is registered only with --full
    *) args+=(-p "$a") ;;
    esac
  done < "$lf"
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cd "$tmp" && "$bin" "${args[@]}"
rc=$?
for s in "${skips[@]}"; do echo "ok - $t ${s}"; done
exit $rc
