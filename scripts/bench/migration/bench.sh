#!/usr/bin/env bash
# migration benchmark (baseline): live migration of a write-heavy L2 guest
# inside the box, over loopback TCP, between two QEMUs of the same kind,
# with the same workload and the same migration parameters every time.
#
# Workload: scripts/box/guest/dirty-guest.c dirties a fixed number of pages
# per second (BENCH_RATE, default 4096 = 16 MiB/s) of a fixed working set
# (BENCH_WSS_MIB, 64) in a 256 MiB, 1-vCPU L2; migration is capped at
# max-bandwidth 32 MiB/s with a 100 ms downtime-limit.  Dirtying at half
# the bandwidth, precopy needs several iterations to get under the limit
# and every configuration still converges.  On a loaded machine the box
# reaches neither number (a 2-core host running other boxes gave the
# migration about 7 MiB/s and the guest a fraction of its rate while dirty
# logging write-protects its pages): the CSV records what was reached.
#
# Measured (migration-box.sh in the box, parse.py): per migration QEMU's
# total time, downtime, setup time, dirty-sync-count, bytes and pages sent,
# the guest's own dirtying rate before and during the migration, and (ring
# on) the dirty-ring reaps and ring-full exits; per dirty sync of the
# source, the time from migration_bitmap_sync_start to _end.
#
# Configurations: vmm = ours (build/qemu with the migration parameter
# x-dirty-harvest=off: upstream's dirty sync), ours_harvest (the same
# binary with x-dirty-harvest=on, its default on the branch's kernel) or
# stock
# (Debian's QEMU 10.0.2 from the host's /usr) on the same box kernel;
# ring = off (dirty bitmap) or on (dirty ring).  Full size: all three, both
# ring modes, 3 repetitions; smoke: all three, ring off, 1 repetition.
# Ratio: each VMM against stock at the same ring mode, same run (ours
# ours_harvest against ours is the harvester's own effect).  TDP MMU box only
# (BENCH_MIGRATION_MMUS="tdp shadow" adds the shadow MMU).
. "$TOP/scripts/bench/lib.sh"
rc=0

if [ "$BENCH_SIZE" = smoke ]; then mmus=tdp; else mmus=${BENCH_MIGRATION_MMUS:-tdp}; fi
envs=(--env BENCH_SIZE="$BENCH_SIZE")
for v in BENCH_VMMS BENCH_RINGS BENCH_REPS BENCH_WSS_MIB BENCH_RATE BENCH_BW_MIB \
         BENCH_DOWNTIME_MS BENCH_RING_SIZE BENCH_L2_SMP BENCH_L2_RAM BENCH_MIGRATE_TIMEOUT; do
  [ -n "${!v:-}" ] && envs+=(--env "$v=${!v}")
done
# An L2 with more vCPUs than the box has CPUs does not boot reliably.
smp=${BOX_SMP:-2}; [ "${BENCH_L2_SMP:-1}" -gt "$smp" ] 2>/dev/null && smp=$BENCH_L2_SMP

runs=$BENCH_OUT/migration-runs.csv syncs=$BENCH_OUT/migration-syncs.csv
bench_header migration-runs > "$runs"
bench_header migration-syncs > "$syncs"
have_runs=0 have_syncs=0
for mmu in $mmus; do
  case $mmu in tdp) npt=1 ;; shadow) npt=0 ;;
  *) bench_log "BENCH_MIGRATION_MMUS: unknown MMU '$mmu' (want tdp, shadow)"; exit 2 ;; esac
  bench_log "migrations on the $mmu MMU (box --npt $npt, --smp $smp)"
  box=$BENCH_OUT/box-$mmu
  bench_box "$box" bench-migration --npt $npt --smp "$smp" "${envs[@]}" \
    || { bench_log "the $mmu box run failed or measured only part: $box.box.log, $box/logs/migration.log"; rc=1; }
  # Whatever the box wrote is kept, including its "# not measured" lines:
  # a partial run still shows what it measured and says what it did not.
  for f in runs syncs; do
    raw=$box/migration-$f.csv out=$BENCH_OUT/migration-$f.csv
    if [ ! -s "$raw" ]; then
      echo "# not measured: $mmu MMU, no $f (no $raw; see $box/logs/migration.log)" >> "$out"
      continue
    fi
    hdr=$(grep -v '^#' "$raw" | head -1)
    [ -n "$hdr" ] || { grep '^#' "$raw" >> "$out"; continue; }
    if [ "$f" = runs ] && [ $have_runs = 0 ]; then echo "mmu,$hdr" >> "$out"; have_runs=1; fi
    if [ "$f" = syncs ] && [ $have_syncs = 0 ]; then echo "mmu,$hdr" >> "$out"; have_syncs=1; fi
    grep -vxF "$hdr" "$raw" | sed "/^#/!s/^/$mmu,/" >> "$out"
  done
done

facet=(); [ "$mmus" = tdp ] || facet=(--facet mmu)
if [ $have_runs = 1 ]; then
  bench_plot "$runs" "$BENCH_OUT/migration-runs.png" --x ring --series vmm "${facet[@]}" \
    --y total_ms="total time (ms)" --y downtime_ms="downtime (ms)" \
    --y iterations="dirty syncs (dirty-sync-count)" --y transferred_mib="sent (MiB)" \
    --y rate_during_pages_s="guest dirty rate during migration (pages/s)" \
    --ratio-series vmm=stock \
    --title "migration of a write-heavy L2, same workload and parameters" || rc=1
  # The same runs again with downtime first, for its ratio in the table.
  bench_plot "$runs" "$BENCH_OUT/migration-downtime.png" --x ring --series vmm "${facet[@]}" \
    --y downtime_ms="downtime (ms)" --y setup_ms="setup time (ms)" \
    --y final_sync_us="final dirty sync, guest stopped (us)" \
    --ratio-series vmm=stock --title "migration: downtime and setup" || rc=1
else
  bench_log "no migration was measured: $BENCH_OUT/box-*/logs/migration.log"; rc=1
fi
# Ring mode is the facet here, so each VMM's ratio is against stock in the
# same mode; with more than one MMU the MMU joins the series and the table
# gives no ratio (plot.py would divide by one stock series for all).
if [ "$mmus" = tdp ]; then sfacet=(--series vmm --ratio-series vmm=stock); else sfacet=(--series vmm,mmu); fi
if [ $have_syncs = 1 ]; then
  bench_plot "$syncs" "$BENCH_OUT/migration-syncs.png" --x iteration --facet ring "${sfacet[@]}" \
    --y sync_us="dirty sync time (us)" --logy \
    --title "migration: each dirty sync of the source (the last one is inside the downtime)" || rc=1
fi
grep -h '^# not measured' "$runs" "$syncs" | sed 's/^# /bench migration: /'
exit $rc
