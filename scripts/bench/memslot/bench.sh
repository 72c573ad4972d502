#!/usr/bin/env bash
# memslot benchmark.  Today: kernel-only (memslot-kbench.c in the box): one
# memory-topology change (a split of the data slot in two, then the merge
# back) done upstream's way, one KVM_SET_USER_MEMORY_REGION2 per slot, with
# 0, 1, all and twice all box CPUs' worth of vCPUs writing to that memory.
# Per transaction: latency, slowest ioctl, holes seen by vCPUs (MMIO exits
# where there was RAM), remote TLB flushes, vCPU exits.  On both MMUs (TDP
# and shadow) at full size; TDP only for the smoke run.  The ratio: each
# vCPU count against no vCPU running, same MMU, same run.
# TODO (issue 8): QEMU-level commit latency and vCPU kicks (i440fx PAM
# toggling) against guest vCPU count.
. "$TOP/scripts/bench/lib.sh"
mmus="tdp shadow"; [ "$BENCH_SIZE" = smoke ] && mmus=tdp
csv=$BENCH_OUT/memslot-kernel.csv
bench_header memslot-kernel > "$csv"
first=1 rc=0
for mmu in $mmus; do
  npt=1; [ $mmu = shadow ] && npt=0
  bench_log "kernel-only, $mmu MMU (box --npt $npt)"
  if ! bench_box "$BENCH_OUT/box-$mmu" bench-memslot --npt $npt --env BENCH_SIZE=$BENCH_SIZE; then
    bench_log "the box run on the $mmu MMU failed: $BENCH_OUT/box-$mmu.box.log"; rc=1; continue
  fi
  raw=$BENCH_OUT/box-$mmu/memslot-kernel.csv
  [ -s "$raw" ] || { bench_log "no $raw"; rc=1; continue; }
  if [ $first = 1 ]; then echo "mmu,$(head -1 "$raw")" >> "$csv"; first=0; fi
  tail -n +2 "$raw" | sed "s/^/$mmu,/" >> "$csv"
done
[ $first = 0 ] || exit 1
bench_plot "$csv" "$BENCH_OUT/memslot-kernel.png" --x vcpus --series variant,op --facet mmu \
  --y latency_us="transaction latency (us)" --y holes="holes seen by vCPUs" \
  --y vcpu_exits="vCPU exits" --logy --ratio-x 0 \
  --title "memslot, kernel only: split/merge of a slot, one ioctl per slot" || rc=1
exit $rc
