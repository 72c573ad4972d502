#!/usr/bin/env bash
# scripts/tests/box-triple-control.sh -- the box's report of a triple fault
# in its own (L1) kernel, proven on one made on purpose
# (scripts/box/suites/triple-control.suite: reboot=t, then sysrq-b).  Such
# a fault leaves no panic and no kernel log; the box must still say what
# happened, in which test, and keep every CPU's state at the fault.  The
# box run itself must fail; this script checks how, and prints TAP.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$top/build}
out=$B/box/runs/triple-control
mkdir -p "$B/box"
"$top/scripts/box/box" triple-control > "$B/box/triple-control.stdout" 2>&1
rc=$?
f=$out/triple-fault.txt
n=0 bad=0
check() { # description, then a command that must succeed
  local what=$1; shift
  n=$((n+1))
  if "$@" >/dev/null 2>&1; then echo "ok $n - triple-control: $what"
  else echo "not ok $n - triple-control: $what (box output: $B/box/triple-control.stdout; dump: $f)"; bad=1; fi
}
check "the box run fails because of the fault (exit $rc)" test "$rc" != 0
check "the test before the fault passed" grep -q '^ok 1 - triple-control: started' "$B/box/triple-control.stdout"
check "the faulting test is reported as a triple fault in L1, naming the dump" \
  grep -qE "^not ok 2 - triple-control: fault # triple fault in the box's kernel \(L1\), no panic; its CPUs' registers and code in $f " "$B/box/triple-control.stdout"
check "the dump has the registers of every box CPU" test "$(grep -c '^CPU#[0-9]' "$f")" = "${BOX_SMP:-2}"
check "the dump shows the empty IDT that made the fault triple" grep -q '^IDT= *0000000000000000 00000000' "$f"
check "the dump has each CPU's stack and code bytes" test "$(grep -cE '^[0-9a-f]{16}: 0x[0-9a-f]{16} ' "$f")" -ge 8
check "the dump names the faulting CPU's RIP: the kernel's triple-fault restart" \
  grep -qE '^CPU [0-9]+ RIP [0-9a-f]+ = native_machine_emergency_restart\+' "$f"
check "QEMU did not outlive the run" bash -c "! pgrep -f '[q]emu-system-x86_64 .*-D $out/qemu-debug.log'"
echo "1..$n"
[ $bad = 0 ]
