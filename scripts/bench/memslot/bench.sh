#!/usr/bin/env bash
# memslot benchmark, two halves:
#
# kernel only (memslot-kbench.c in the box): one memory-topology change (a
# split of the data slot in two, then the merge back) done upstream's way,
# one KVM_SET_USER_MEMORY_REGION2 per slot (variant "legacy"), and as one
# KVM_SET_MEMSLOT_CHANGESET (variant "changeset", the branch's), back to
# back, with 0, 1, all and twice all box CPUs' worth of vCPUs writing to
# that memory.  Per transaction: latency, slowest ioctl, holes seen by
# vCPUs (MMIO exits where there was RAM; the changeset must have none),
# remote TLB flushes, vCPU exits.  On both MMUs (TDP and shadow) at full
# size; TDP only for the smoke run.  Ratio: changeset against legacy, same
# vCPU count, same MMU, same run.
#
# QEMU (qemu-box.sh in the box): our QEMU on the branch's KVM, an L2 guest
# whose vCPUs all write RAM while it toggles the i440fx PAM segment at
# 0xc0000 (each toggle splits or merges the slot of all RAM above 1 MiB):
# commit latency (kvm_region_commit), vCPU kicks per commit and the guest's
# lost progress, against the L2 vCPU count.  Each box has as many CPUs as
# the largest L2 it runs (more L2 vCPUs than box CPUs does not boot
# reliably: l2-overcommit), so the counts are spread over boxes of 2, 4 and
# 8 CPUs.  Ratio: each vCPU count against 1 vCPU, same run.  TDP MMU.
# 16 L2 vCPUs are not measured: a 16-CPU box on this 2-core machine took
# an 8-vCPU L2 about 5 minutes to boot under load, so 16 would not fit the
# benchmark's time (the line saying so goes into the points CSV).
# BENCH_MEMSLOT_PARTS (default "kernel qemu") runs one half alone;
# BENCH_MEMSLOT_PATHS (comma-separated: upstream, changeset,
# changeset-spin; default upstream,changeset) picks the QEMU half's paths.
. "$TOP/scripts/bench/lib.sh"
rc=0
parts=${BENCH_MEMSLOT_PARTS:-kernel qemu}
for p in $parts; do
  case $p in kernel|qemu) ;; *) bench_log "BENCH_MEMSLOT_PARTS: no part '$p' (kernel, qemu)"; exit 2 ;; esac
done

# --- kernel only
if [[ " $parts " == *" kernel "* ]]; then
mmus="tdp shadow"; [ "$BENCH_SIZE" = smoke ] && mmus=tdp
csv=$BENCH_OUT/memslot-kernel.csv
bench_header memslot-kernel > "$csv"
first=1
for mmu in $mmus; do
  npt=1; [ $mmu = shadow ] && npt=0
  tcg=multi
  bench_log "kernel-only, $mmu MMU (box --npt $npt --tcg-thread $tcg)"
  if ! bench_box "$BENCH_OUT/box-$mmu" bench-memslot --npt $npt --tcg-thread $tcg --env BENCH_SIZE=$BENCH_SIZE; then
    bench_log "the box run on the $mmu MMU failed: $BENCH_OUT/box-$mmu.box.log"; rc=1; continue
  fi
  raw=$BENCH_OUT/box-$mmu/memslot-kernel.csv
  [ -s "$raw" ] || { bench_log "no $raw"; rc=1; continue; }
  if [ $first = 1 ]; then echo "mmu,$(head -1 "$raw")" >> "$csv"; first=0; fi
  tail -n +2 "$raw" | sed "s/^/$mmu,/" >> "$csv"
done
if [ $first = 0 ]; then
  bench_plot "$csv" "$BENCH_OUT/memslot-kernel.png" --x vcpus --series variant,op --facet mmu \
    --y latency_us="transaction latency (us)" --y holes="holes seen by vCPUs" \
    --y vcpu_exits="vCPU exits" --y tlb_flushes="remote TLB flushes" --logy --ratio-series variant=legacy \
    --title "memslot, kernel only: split/merge of a slot, one ioctl per slot (legacy) vs one changeset" || rc=1
else rc=1; fi
fi

[[ " $parts " == *" qemu "* ]] || exit $rc

# --- QEMU: PAM toggling, commit latency and kicks against L2 vCPUs
# "BOXCPUS:VCPU VCPU..." per box run.
if [ "$BENCH_SIZE" = smoke ]; then boxes="2:1"; else boxes=${BENCH_MEMSLOT_BOXES:-"2:1,2 4:4 8:8"}; fi
commits=$BENCH_OUT/memslot-qemu-commits.csv points=$BENCH_OUT/memslot-qemu-points.csv
bench_header memslot-qemu-commits > "$commits"
bench_header memslot-qemu-points > "$points"
[ "$BENCH_SIZE" = smoke ] || echo "# not measured: 16 L2 vCPUs (a 16-CPU TCG box on 2 host cores: an 8-vCPU L2 alone took ~5 min to boot)" >> "$points"
cfirst=1
for b in $boxes; do
  smp=${b%%:*} vc=${b#*:}
  bench_log "QEMU commits, L2 vCPUs ${vc//,/ } in a $smp-CPU box (TDP)"
  if ! bench_box "$BENCH_OUT/box-qemu-$smp" bench-memslot-qemu --smp "$smp" \
       --env BENCH_SIZE=$BENCH_SIZE --env BENCH_VCPUS=$vc ${BENCH_TOGGLES:+--env BENCH_TOGGLES=$BENCH_TOGGLES} \
       ${BENCH_MEMSLOT_PATHS:+--env BENCH_PATHS=$BENCH_MEMSLOT_PATHS}; then
    bench_log "the $smp-CPU box run failed: $BENCH_OUT/box-qemu-$smp.box.log"
    echo "# not measured: L2 vCPUs ${vc//,/ } (the $smp-CPU box run failed: $BENCH_OUT/box-qemu-$smp.box.log)" >> "$points"
    rc=1; continue
  fi
  for f in memslot-qemu-commits memslot-qemu-points; do
    raw=$BENCH_OUT/box-qemu-$smp/$f.csv
    [ -s "$raw" ] || { bench_log "no $raw"; rc=1; continue; }
    [ $cfirst = 1 ] && head -1 "$raw" >> "$BENCH_OUT/$f.csv"
    tail -n +2 "$raw" >> "$BENCH_OUT/$f.csv"
  done
  cfirst=0
done
if [ $cfirst = 0 ]; then
  bench_plot "$commits" "$BENCH_OUT/memslot-qemu.png" --x vcpus --series path,as \
    --y latency_us="commit latency (us)" --logy --ratio-x 1 \
    --title "memslot, QEMU: one PAM toggle's commit, upstream path vs one changeset" || rc=1
  bench_plot "$points" "$BENCH_OUT/memslot-qemu-points.png" --x vcpus --series path \
    --y kicks_per_commit="vCPU kicks per commit" --y progress="guest progress while toggling (1 = none lost)" \
    --y retries_per_commit="page faults retried per commit (changeset in progress)" \
    --ratio-series path=upstream --title "memslot, QEMU: kicks and lost guest progress, upstream path vs changeset" || rc=1
  grep '^# not measured' "$points" | sed 's/^# /bench memslot: /'
else rc=1; fi
exit $rc
