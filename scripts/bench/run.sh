#!/usr/bin/env bash
# scripts/bench/run.sh [--smoke] [--tap] [NAME...]   (make bench [BENCH=NAME])
# Runs the named benchmarks (default: all; each is scripts/bench/NAME/bench.sh)
# at full size, or with --smoke at their smallest size (make check).  Each
# writes raw CSVs (one row per sample, '#' header naming machine, box,
# versions, series hashes and date) and PNG plots under build/bench/NAME/,
# and prints a table whose ratios compare two things measured in the same
# run.  With --tap, one TAP line per benchmark says whether it ran and left
# a non-empty CSV and a PNG -- that it works, not how fast it is.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$TOP/build}
export TOP B
size=full tap=0 names=()
for a in "$@"; do
  case "$a" in
  --smoke) size=smoke ;;
  --tap) tap=1 ;;
  -*) echo "bench: unknown option $a" >&2; exit 2 ;;
  *) names+=("$a") ;;
  esac
done
all=$(cd "$TOP/scripts/bench" && for d in */; do [ -x "$d/bench.sh" ] && echo "${d%/}"; done)
[ ${#names[@]} -gt 0 ] || names=($all)
for n in "${names[@]}"; do
  echo "$all" | grep -qx "$n" || { echo "bench: no benchmark '$n' (have: $(echo $all))" >&2; exit 2; }
done
[ -x "$B/qemu/qemu-system-x86_64" ] && [ -f "$B/linux/arch/x86/boot/bzImage" ] \
  || { echo "bench: build first (make qemu kernel)" >&2; exit 2; }
/usr/bin/python3 -c 'import matplotlib' 2>/dev/null || { echo "bench: python3-matplotlib missing (make setup)" >&2; exit 2; }
"$TOP/scripts/box/build-tools.sh" "$B/box" || { echo "bench: building the box's tools failed" >&2; exit 2; }

k=0 bad=0
for n in "${names[@]}"; do
  k=$((k+1))
  out=$B/bench/$n
  rm -rf "$out"; mkdir -p "$out"
  echo "=== bench $n ($size) -> $out"
  t0=$(date +%s)
  BENCH_NAME=$n BENCH_OUT=$out BENCH_SIZE=$size bash "$TOP/scripts/bench/$n/bench.sh" 2>&1 | tee "$out/run.log"
  rc=${PIPESTATUS[0]}
  secs=$(( $(date +%s) - t0 ))
  csvs=$(find "$out" -maxdepth 1 -name '*.csv' -size +0 | wc -l)
  pngs=$(find "$out" -maxdepth 1 -name '*.png' -size +0 | wc -l)
  rows=$(cat "$out"/*.csv 2>/dev/null | grep -vc '^#')
  echo "=== bench $n: exit $rc in ${secs}s; $csvs CSV ($rows lines), $pngs PNG in $out"
  if [ $tap = 1 ]; then
    if [ "$rc" = 0 ] && [ "$csvs" -gt 0 ] && [ "$pngs" -ge "$csvs" ] && [ "$rows" -gt "$csvs" ]; then
      echo "ok $k - bench $n ($size): ${secs}s, $csvs CSV, $pngs PNG in $out"
    else
      # The first failure the run printed (a box's "not ok", a FAIL line) says why.
      why=$(grep -m1 -E 'not ok|FAIL|not measured|timed out' "$out/run.log" | sed 's/^ *//' | cut -c1-200)
      echo "not ok $k - bench $n ($size): exit $rc, $csvs CSV ($rows lines), $pngs PNG (log: $out/run.log)${why:+: $why}"; bad=1
    fi
  else
    [ "$rc" = 0 ] || bad=1
  fi
done
[ $tap = 1 ] && echo "1..$k"
exit $bad
