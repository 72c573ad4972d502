# scripts/bench/lib.sh -- sourced by every benchmark's bench.sh (bash).
# Set by run.sh: BENCH_NAME, BENCH_OUT (build/bench/NAME), BENCH_SIZE
# (smoke|full), TOP, B (build dir).
PY=/usr/bin/python3          # Debian's python3, which has python3-matplotlib
BOX=$TOP/scripts/box/box

bench_log() { echo "bench $BENCH_NAME: $*"; }

# bench_header CSV_NAME: the '#' lines every raw CSV starts with.
bench_header() {
  local kseries qseries
  qseries=$("$TOP/scripts/tree.sh" version qemu 2>/dev/null)
  kseries=$("$TOP/scripts/tree.sh" version linux 2>/dev/null)
  cat <<HDR
# kvmfork benchmark $BENCH_NAME/$1, size=$BENCH_SIZE
# date=$(date -u +%FT%TZ) repo=$(git -C "$TOP" describe --always --dirty 2>/dev/null || echo unknown)
# machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), host kernel $(uname -r)
# box: outer QEMU TCG -cpu EPYC, ${BOX_SMP:-2} CPUs, ${BOX_MEM:-3072} MiB; box kernel $(cat "$B/linux/include/config/kernel.release" 2>/dev/null) (branch $kseries)
# qemu: our build $qseries; stock $(/usr/bin/qemu-system-x86_64 -version 2>/dev/null | head -1 | sed 's/QEMU emulator version //')
HDR
}

# bench_box OUTDIR SUITE [box options...]: one box run, its tests' progress
# lines shown as they are written; fails (status 1) unless the suite passed.
# At smoke size (make check) the box and its tests get short limits: a
# hung smoke benchmark must fail within its check group's limit, with the
# box's hang snapshot in its log, not run on to the full-size limits.
bench_box() {
  local out=$1 suite=$2; shift 2
  local seen=0 pid rc limits=()
  [ "$BENCH_SIZE" = smoke ] && limits=(--timeout 600 --env KVMFORK_TEST_TIMEOUT=540)
  "$BOX" --out "$out" "${limits[@]}" "$@" "$suite" > "$out.box.log" 2>&1 &
  pid=$!
  while kill -0 $pid 2>/dev/null; do
    sleep 2
    [ -d "$out/logs" ] || continue
    local n
    n=$(cat "$out"/logs/*.log 2>/dev/null | wc -l)
    if [ "$n" -gt "$seen" ]; then
      cat "$out"/logs/*.log 2>/dev/null | sed -n "$((seen + 1)),${n}p" | sed "s/^/  | /"
      seen=$n
    fi
  done
  wait $pid; rc=$?
  grep -E '^(not )?ok|^# box' "$out.box.log" | sed 's/^/  /'
  return $rc
}

# bench_plot CSV PNG plot.py-options...: plot and print the ratio table.
bench_plot() {
  local csv=$1 png=$2; shift 2
  "$PY" "$TOP/scripts/bench/plot.py" "$csv" "$png" "$@" || return 1
  bench_log "raw: $csv"
  bench_log "plot: $png"
}
