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
"box-smoke      300  quick,full  $box smoke"
"box-smoke-shadow 300 quick,full $box --npt 0 smoke"
"box-hang-control 1200 quick,full $T/box-hang-control.sh"
"box-triple-control 300 quick,full $T/box-triple-control.sh"
"box-selftests  1500 quick,full  $box selftests"
"box-selftests-shadow 1500 quick,full $box --npt 0 selftests"
"box-ours       1200 quick,full  $box ours"
"box-ours-shadow 1200 quick,full $box --npt 0 ours"
"box-stock-control 600 quick,full $T/box-stock-control.sh"
"box-l2         1200 quick,full  $box l2"
"box-l2-shadow  1500 quick,full  $box --npt 0 l2"
"box-qtest      1800 quick,full  $box qtest"
"bench-smoke    900  quick,full  $top/scripts/bench/run.sh --smoke --tap"
"box-qtest-full 3600 full        $box qtest-full"
"box-l2-smp4    1500 full        $box --smp 4 l2"
"box-qtest-loaded 5400 full      $box --repeat 10 --load 2 qtest"
)
want=" $* "
mkdir -p "$B/check"
pass=0 fail=0 skip=0
summary=()
for g in "${groups[@]}"; do
  read -r name limit modes cmd <<<"$g"
  case ",$modes," in *",$mode,"*) ;; *) continue ;; esac
  [ "$want" = "  " ] || [[ "$want" == *" $name "* ]] || continue
  log=$B/check/$name.log
  echo "# --- $name (limit ${limit}s): $cmd"
  t0=$(date +%s)
  gp=0 gf=0 gs=0
  # setsid + timeout: a hung group is killed with everything it started.
  while IFS= read -r line; do
    echo "$line" >> "$log"
    case "$line" in
    "ok "*"# SKIP"*|"ok "*"# skip"*) gs=$((gs+1)); echo "$name: $line" ;;
    "ok "*) gp=$((gp+1)); echo "$name: $line" ;;
    "not ok "*"# TODO"*) gs=$((gs+1)); echo "$name: $line" ;;   # known failure, counted with skips
    "not ok "*) gf=$((gf+1)); echo "$name: $line" ;;
    "# box "*|"Bail out!"*) echo "$name: $line" ;;
    esac
  done < <(: > "$log"; timeout -k 10 "$limit" setsid bash -c "$cmd" 2>>"$log.stderr"; echo "# exit $?")
  rc=$(tail -1 "$log" | sed -n 's/^# exit //p')
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    gf=$((gf+1)); echo "$name: not ok - $name # group timed out after ${limit}s and was killed (log: $log)"
  elif [ "$rc" != 0 ] && [ "$gf" = 0 ]; then
    gf=$((gf+1)); echo "$name: not ok - $name # exited $rc with no failing test line (log: $log, $log.stderr: $(tail -1 "$log.stderr" 2>/dev/null))"
  elif [ $((gp+gf+gs)) = 0 ]; then
    gf=$((gf+1)); echo "$name: not ok - $name # ran no test (log: $log)"
  fi
  secs=$(( $(date +%s) - t0 ))
  summary+=("$(printf '%-18s %4ds  %3d passed %3d failed %3d skipped' "$name" "$secs" "$gp" "$gf" "$gs")")
  pass=$((pass+gp)) fail=$((fail+gf)) skip=$((skip+gs))
done
echo "# --- summary (seconds are wall time)"
printf '# %s\n' "${summary[@]}"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
