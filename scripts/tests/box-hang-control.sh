#!/usr/bin/env bash
# scripts/tests/box-hang-control.sh -- the box runner's hang handling, proven
# on a test that hangs on purpose (scripts/box/suites/hang-control.suite).
# The box run itself must fail (its first test times out); this script
# checks that the failure is reported the way a real hang must be, and
# prints TAP of its own.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$top/build}
out=$B/box/runs/hang-control
mkdir -p "$B/box"
"$top/scripts/box/box" hang-control > "$B/box/hang-control.stdout" 2>&1
rc=$?
tap=$(cat "$B/box/hang-control.stdout")
log=$out/logs/hang.log
n=0 bad=0
check() { # description, then a command that must succeed
  local what=$1; shift
  n=$((n+1))
  if "$@" >/dev/null 2>&1; then echo "ok $n - hang-control: $what"
  else echo "not ok $n - hang-control: $what (box output: $B/box/hang-control.stdout; log: $log)"; bad=1; fi
}
has() { grep -q -- "$1" "$log"; }
check "the box run fails because of the hang (exit $rc)" test "$rc" != 0
check "the hung test is reported as timed out, naming its log with a host path" \
  grep -qE "^not ok 1 - hang-control: hang # timed out after 40s, killed; output and hang snapshot in log: $log\$" "$B/box/hang-control.stdout"
check "the hung test's log keeps what it printed before the hang" has "KVMFORK-HANG-CONTROL: migration started"
check "the snapshot lists the hung test's QEMU processes" grep -q '^[0-9]* [0-9]* [A-Z] .*: .*qemu-system-x86_64 -accel kvm' "$log"
check "the snapshot has kernel stacks of the threads" grep -qE '^ +\[<[0-9a-f]+>\] ' "$log"
check "the snapshot shows which threads use CPU" grep -qE ' cpu\+[0-9]+$' "$log"
check "the snapshot has the VMs' KVM exit counters" grep -qE '^[0-9]+-[0-9]+/exits [0-9]+ -> [0-9]+$' "$log"
check "the snapshot has KVM trace events" has "--- KVM trace events in 1 s"
check "the snapshot has query-migrate of the source, still waiting to switch over" grep -q '"status": "pre-switchover"' "$log"
check "the snapshot has the kernel log tail" has "--- blocked tasks (sysrq-w) and kernel log tail"
check "the whole session was killed, QEMUs included" grep -qE '^KVMFORK-TIMEOUT: killed .*qemu-system' "$log"
check "the runner waited until everything it killed was gone (reaped), before the next test" \
  grep -qE '^KVMFORK-TIMEOUT: killed .*qemu-system.*\(all gone after [0-9.]+ s\)$' "$log"
check "the suite went on after the hang, with nothing of it left running" \
  grep -qE '^ok 2 - hang-control: after-the-hang' "$B/box/hang-control.stdout"
echo "1..$n"
[ $bad = 0 ]
