#!/usr/bin/env bash
# scripts/check.sh [quick|full] [GROUP...]
# Runs the test groups in order, each under its own time limit, shows every
# TAP line they print (prefixed by the group), keeps full logs in
# build/check/GROUP.log, and ends with "N passed, N failed, N skipped".
# Exit status is non-zero if any test failed or any group broke its TAP.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD:-$top/build}
mode=${1:-quick}; shift || true
case "$mode" in quick|full) ;; *) echo "check: unknown mode '$mode' (quick or full)" >&2; exit 2 ;; esac
box=$top/scripts/box/box
T=$top/scripts/tests
# group        limit(s)  modes       command
groups=(
"tooling        1200 quick,full  $T/tooling.sh"
"qemu-version   300  quick,full  $T/qemu-version.sh"
"box-checkers   120  quick,full  /usr/bin/python3 $top/scripts/box/test-check-screendump.py"
"host-vga       300  quick,full  $T/qtest.sh display-vga-test"
"host-migration 1200 quick,full  $T/qtest.sh migration-test host"
"host-memslots  900  quick,full  $T/qtest.sh kvm-memslots-test"
"host-vga-harvest 600 quick,full $T/qtest.sh kvm-vga-harvest-test host"
"box-smoke      300  quick,full  $box smoke"
"box-smoke-shadow 300 quick,full $box --npt 0 smoke"
"box-hang-control 1200 quick,full $T/box-hang-control.sh"
"box-triple-control 300 quick,full $T/box-triple-control.sh"
"box-selftests  1500 quick,full  $box selftests"
"box-selftests-shadow 1500 quick,full $box --npt 0 selftests"
"box-ours       1200 quick,full  $box ours"
"box-ours-shadow 1200 quick,full $box --npt 0 ours"
"box-kbench-flake 1200 quick,full $box kbench-flake"
"box-memslots   1200 quick,full  $box memslots"
"box-memslots-shadow 1200 quick,full $box --npt 0 memslots"
"box-vga-harvest 1200 quick,full $box vga-harvest"
"box-vga-harvest-shadow 1200 quick,full $box --npt 0 vga-harvest"
"box-stock-control 600 quick,full $T/box-stock-control.sh"
"box-l2         1200 quick,full  $box l2"
"box-l2-shadow  1500 quick,full  $box --npt 0 l2"
"box-libvirt    1200 quick,full  $box libvirt"
"box-libvirt-shadow 1500 quick,full $box --npt 0 libvirt"
"box-qtest      1800 quick,full  $box qtest"
"bench-smoke    1500 quick,full  $top/scripts/bench/run.sh --smoke --tap"
"box-qtest-full 3600 full        $box qtest-full"
"box-l2-smp4    1500 full        $box --smp 4 l2"
"box-qtest-loaded 5400 full      $box --repeat 10 --load 2 qtest"
)
# run_limited LIMIT CMD: runs CMD in a new session; if it is still running
# after LIMIT seconds (wall clock), TERM then (10 s later) KILL go to every
# process of that session, and the status is 124.  Stdout is CMD's.
run_limited() {
  local limit=$1 cmd=$2 sid end
  setsid bash -c "$cmd" &
  sid=$!
  end=$(( $(date +%s) + limit ))
  while kill -0 "$sid" 2>/dev/null && [ "$(date +%s)" -lt "$end" ]; do sleep 1; done
  if kill -0 "$sid" 2>/dev/null; then
    echo "check: limit ${limit}s reached: killing session $sid: $(pgrep -s "$sid" | tr '\n' ' ')" >&2
    pkill -TERM -s "$sid"
    for _ in 1 2 3 4 5 6 7 8 9 10; do pgrep -s "$sid" >/dev/null || break; sleep 1; done
    pkill -KILL -s "$sid"
    wait "$sid" 2>/dev/null
    return 124
  fi
  wait "$sid"
  local rc=$?
  # Whatever the group left running (it should leave nothing) goes too.
  pgrep -s "$sid" >/dev/null && { echo "check: killing what the group left: $(pgrep -s "$sid" | tr '\n' ' ')" >&2; pkill -KILL -s "$sid"; }
  return $rc
}
want=" $* "
mkdir -p "$B/check"
pass=0 fail=0 skip=0
summary=() failures=()
for g in "${groups[@]}"; do
  read -r name limit modes cmd <<<"$g"
  case ",$modes," in *",$mode,"*) ;; *) continue ;; esac
  [ "$want" = "  " ] || [[ "$want" == *" $name "* ]] || continue
  log=$B/check/$name.log
  echo "# --- $name (limit ${limit}s): $cmd"
  t0=$(date +%s)
  gp=0 gf=0 gs=0
  # The group runs in a session of its own; at its limit everything in that
  # session is killed (timeout(1) alone would kill only the group's shell:
  # the setsid takes its children out of timeout's process group, and one
  # left alive holds the pipe below open -- a 900 s limit once took 2156 s).
  while IFS= read -r line; do
    echo "$line" >> "$log"
    case "$line" in
    "ok "*"# SKIP"*|"ok "*"# skip"*) gs=$((gs+1)); echo "$name: $line" ;;
    "ok "*) gp=$((gp+1)); echo "$name: $line" ;;
    "not ok "*"# TODO"*) gs=$((gs+1)); echo "$name: $line" ;;   # known failure, counted with skips
    "not ok "*) gf=$((gf+1)); echo "$name: $line"; failures+=("$name: $line") ;;
    "# box "*|"Bail out!"*) echo "$name: $line" ;;
    esac
  done < <(: > "$log"; run_limited "$limit" "$cmd" 2>>"$log.stderr"; echo "# exit $?")
  rc=$(tail -1 "$log" | sed -n 's/^# exit //p')
  why=""
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    why="group timed out after ${limit}s and was killed (log: $log)"
  elif [ "$rc" != 0 ] && [ "$gf" = 0 ]; then
    why="exited $rc with no failing test line (log: $log, $log.stderr: $(tail -1 "$log.stderr" 2>/dev/null))"
  elif [ $((gp+gf+gs)) = 0 ]; then
    why="ran no test (log: $log)"
  fi
  if [ -n "$why" ]; then
    gf=$((gf+1)); echo "$name: not ok - $name # $why"; failures+=("$name: not ok - $name # $why")
  fi
  secs=$(( $(date +%s) - t0 ))
  summary+=("$(printf '%-18s %4ds  %3d passed %3d failed %3d skipped' "$name" "$secs" "$gp" "$gf" "$gs")")
  pass=$((pass+gp)) fail=$((fail+gf)) skip=$((skip+gs))
done
echo "# --- summary (seconds are wall time)"
printf '# %s\n' "${summary[@]}"
# The failures again, after the table and just before the closing line:
# whoever reads only the last lines of the output (a CI page shows about
# twenty) still sees which tests failed and where their logs are.
if [ ${#failures[@]} -gt 0 ]; then
  echo "# --- failures"
  printf '# %s\n' "${failures[@]}" | cut -c1-400
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
