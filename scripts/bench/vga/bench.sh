#!/usr/bin/env bash
# vga benchmark: what one VGA refresh's dirty harvest costs upstream, and
# how many vCPU kicks the refreshes cause, with KVM's dirty bitmap (ring
# off) and its dirty ring (ring on).
#
# Our QEMU on the branch's KVM, inside the box, runs an L2 guest with
# -vga std (scripts/box/guest/vga-guest.c) that redraws a 256x256 square of
# a 1024x768x32 linear framebuffer 50 times a second while every vCPU
# writes RAM; vga-box.sh drives the refreshes (one QMP screendump each, 4
# per second) and reads each refresh's harvest time from our QEMU's
# vga_dirty_snapshot trace event (patch 0008) and KVM's signal_exits before
# and after (vga-qmp.py).  Against L2 vCPUs (1, 2, 4) and L2 RAM (256 and
# 2048 MiB by default: the first full run, 256/512/1024/2048, found the
# bitmap harvest independent of RAM, and the benchmark must fit beside the
# others in one make bench).  Each box has as many CPUs as the largest L2 it runs (more L2
# vCPUs than box CPUs does not boot reliably: l2-overcommit), so the counts
# are spread over a 2-CPU and a 4-CPU box; TDP MMU only.  Ratio: ring on
# against ring off, same vCPUs, same RAM, same box run (the two are run
# back to back).
#
# Two CSVs: vga-harvest.csv, one row per refresh (harvest_us), and
# vga-points.csv, one row per point (kicks per second with and without
# refreshes, kicks per refresh, ring flushes, the guest's lost progress):
# kicks are counted over a window, not per refresh, because reading them
# (query-stats) kicks every vCPU itself.
#
# 8 L2 vCPUs are not measured by default: an 8-CPU TCG box on this 2-core
# machine took an 8-vCPU L2 about 5 minutes to boot under load (see the
# memslot benchmark), and this benchmark boots one L2 per point (8 of
# them per vCPU count).  BENCH_VGA_BOXES="8:8" runs them anyway.
#
# Settings (environment): BENCH_VGA_BOXES ("BOXCPUS:VCPU,VCPU ..."),
# BENCH_VGA_RAMS (MiB, comma-separated), BENCH_VGA_BOX_MEM (MiB of each
# box), BENCH_REFRESHES, BENCH_HZ, BENCH_RING_SIZE (passed to vga-box.sh).
. "$TOP/scripts/bench/lib.sh"
rc=0
if [ "$BENCH_SIZE" = smoke ]; then
  boxes="2:1" rams=256 boxmem=2048
else
  boxes=${BENCH_VGA_BOXES:-"2:1,2 4:4"} rams=${BENCH_VGA_RAMS:-256,2048}
  boxmem=${BENCH_VGA_BOX_MEM:-4096}
fi
samples=$BENCH_OUT/vga-harvest.csv points=$BENCH_OUT/vga-points.csv
bench_header vga-harvest > "$samples"
bench_header vga-points > "$points"
for f in "$samples" "$points"; do
  echo "# boxes (CPUs:L2 vCPUs): $boxes, $boxmem MiB each, TDP MMU; L2 RAM MiB: $rams; path=upstream: -accel kvm,dirty-harvest=off (QEMU's own harvest), path=harvest: dirty-harvest=on (KVM_HARVEST_DIRTY_LOG)" >> "$f"
done
[ "$BENCH_SIZE" = smoke ] || [[ " $boxes " = *" 8:"* ]] || \
  echo "# not measured: 8 L2 vCPUs (an 8-CPU TCG box on 2 host cores: an 8-vCPU L2 alone took ~5 min to boot; BENCH_VGA_BOXES=8:8 runs it)" >> "$points"
first=1
for b in $boxes; do
  smp=${b%%:*} vc=${b#*:}
  bench_log "L2 vCPUs ${vc//,/ }, L2 RAM ${rams//,/ } MiB, ring off and on, in a $smp-CPU $boxmem MiB box (TDP)"
  extra=()
  for e in BENCH_REFRESHES BENCH_HZ BENCH_RING_SIZE; do
    [ -z "${!e:-}" ] || extra+=(--env "$e=${!e}")
  done
  box_ok=1
  bench_box "$BENCH_OUT/box-$smp" bench-vga --smp "$smp" --mem "$boxmem" \
       --env BENCH_SIZE=$BENCH_SIZE --env BENCH_VCPUS=$vc --env BENCH_RAMS=$rams "${extra[@]}" || box_ok=0
  # A failed box may still have measured some points: keep them, and its
  # own "# not measured" lines say which it could not.
  for f in vga-harvest vga-points; do
    raw=$BENCH_OUT/box-$smp/$f.csv
    [ -s "$raw" ] || { bench_log "no $raw"; continue; }
    [ $first = 1 ] && grep -v '^#' "$raw" | head -1 >> "$BENCH_OUT/$f.csv"
    tail -n +2 "$raw" >> "$BENCH_OUT/$f.csv"
  done
  [ -s "$BENCH_OUT/box-$smp/vga-points.csv" ] && first=0
  if [ $box_ok = 0 ]; then
    bench_log "the $smp-CPU box run failed: $BENCH_OUT/box-$smp.box.log"
    echo "# not measured (all or part): L2 vCPUs ${vc//,/ } (the $smp-CPU box run failed: $BENCH_OUT/box-$smp.box.log)" >> "$points"
    rc=1
  fi
done
if [ $first = 0 ] && [ "$(grep -vc '^#' "$samples")" -gt 1 ]; then
  bench_plot "$samples" "$BENCH_OUT/vga-harvest.png" --x ram_mb --series path,ring --facet vcpus \
    --y harvest_us="dirty harvest per refresh (us)" --y dump_ms="whole screendump (ms)" \
    --logy --ratio-series path=upstream \
    --title "vga: dirty harvest per refresh (vga_dirty_snapshot), upstream's path vs KVM_HARVEST_DIRTY_LOG" || rc=1
  bench_plot "$points" "$BENCH_OUT/vga-points.png" --x ram_mb --series path,ring --facet vcpus \
    --y kicks_per_s="vCPU kicks/s (signal_exits), refreshing" --y sent_kicks_per_s="kicks/s sent by ring flushes" \
    --y kicks_per_refresh="signal_exits per refresh beyond baseline" --y refresh_draw_us="guest us per frame drawn, refreshing" \
    --ratio-series path=upstream \
    --title "vga: vCPU kicks from refreshes, upstream's path vs KVM_HARVEST_DIRTY_LOG" || rc=1
  grep '^# not measured' "$points" | sed 's/^# /bench vga: /'
else
  bench_log "no harvest samples: nothing to plot"; rc=1
fi
exit $rc
