#!/usr/bin/env bash
# harvest benchmark (kernel only): what one dirty sync of one slot costs the
# kernel, against the slot's size, at a fixed number of dirty pages --
# upstream QEMU's sync (KVM_GET_DIRTY_LOG then KVM_CLEAR_DIRTY_LOG of the
# whole slot, manual protect) against the branch's KVM_HARVEST_DIRTY_LOG of
# the whole slot (which reads only the words its dirty summary names),
# alternating in one VM, same run (harvest-kbench.c, in the box).  Every sync
# must report exactly the pages the guest wrote, or the run fails.  Slots of
# 256 MiB to 3 GiB (the guest is 32-bit, so the slot ends below 4 GiB), 16
# and 1024 dirty pages; both MMUs at full size, TDP only at smoke size.
# Ratio: harvest against upstream, same slot size, same dirty count, same MMU.
# BENCH_HARVEST_SIZES, BENCH_HARVEST_DIRTY, BENCH_HARVEST_ROUNDS override.
. "$TOP/scripts/bench/lib.sh"
rc=0
if [ "$BENCH_SIZE" = smoke ]; then
  mmus=tdp sizes=${BENCH_HARVEST_SIZES:-64,256} dirty=${BENCH_HARVEST_DIRTY:-16} rounds=${BENCH_HARVEST_ROUNDS:-3}
else
  mmus="tdp shadow" sizes=${BENCH_HARVEST_SIZES:-256,1024,2048,3072} dirty=${BENCH_HARVEST_DIRTY:-16,1024} rounds=${BENCH_HARVEST_ROUNDS:-20}
fi
csv=$BENCH_OUT/harvest-kernel.csv
bench_header harvest-kernel > "$csv"
first=1
for mmu in $mmus; do
  npt=1; [ $mmu = shadow ] && npt=0
  bench_log "$mmu MMU: slots of ${sizes//,/ } MiB, ${dirty//,/ } dirty pages, $rounds rounds each"
  if ! bench_box "$BENCH_OUT/box-$mmu" bench-harvest --npt $npt \
       --env BENCH_HARVEST_SIZES=$sizes --env BENCH_HARVEST_DIRTY=$dirty --env BENCH_HARVEST_ROUNDS=$rounds; then
    bench_log "the box run on the $mmu MMU failed: $BENCH_OUT/box-$mmu.box.log"; rc=1; continue
  fi
  raw=$BENCH_OUT/box-$mmu/harvest-kernel.csv
  [ -s "$raw" ] || { bench_log "no $raw"; rc=1; continue; }
  if [ $first = 1 ]; then echo "mmu,$(head -1 "$raw")" >> "$csv"; first=0; fi
  tail -n +2 "$raw" | sed "s/^/$mmu,/" >> "$csv"
done
if [ $first = 0 ]; then
  bench_plot "$csv" "$BENCH_OUT/harvest-kernel.png" --x slot_mib --series variant,dirty_pages --facet mmu \
    --y us="one slot's dirty sync (us)" --logy --ratio-series variant=upstream \
    --title "harvest, kernel only: GET+CLEAR_DIRTY_LOG (upstream) vs KVM_HARVEST_DIRTY_LOG with the dirty summary" || rc=1
else rc=1; fi
exit $rc
