#!/bin/sh
# kernel-box.sh -- inside the box (suite bench-memslot): runs memslot-kbench
# for each vCPU count and writes $OUT/memslot-kernel.csv (one row per
# transaction), one ioctl per slot and as one changeset.  BENCH_SIZE=smoke (make check: one small point) or full.
# vCPU counts: 0, 1, every box CPU ("all"), and twice that (overcommitted:
# a trivial guest, unlike an L2 Linux, boots there; labelled as such).
set -e
bin=$BOXBUILD/memslot-kbench
[ -x "$bin" ] || { echo "no $bin: scripts/bench/run.sh builds it"; exit 1; }
ncpu=$(grep -c ^processor /proc/cpuinfo)
case "${BENCH_SIZE:-full}" in
smoke) counts="0 1"; k=4; mib=16 ;;
full)  counts="0 1 $ncpu $((2 * ncpu))"; k=${BENCH_K:-20}; mib=${BENCH_MIB:-64} ;;
*) echo "BENCH_SIZE must be smoke or full, not '$BENCH_SIZE'"; exit 1 ;;
esac
csv=$OUT/memslot-kernel.csv
rm -f $csv
# Both paths for each count, back to back: upstream's one ioctl per slot
# ("legacy") and the branch's KVM_SET_MEMSLOT_CHANGESET ("changeset").
for v in $counts; do
	for m in ${BENCH_MODES:-single changeset}; do
		echo "memslot-kernel: $v vCPUs running, $k transactions, ${mib} MiB region, -m $m"
		# A run whose guest dies (KVM_EXIT_SHUTDOWN or an emulation
		# failure of memslot-kbench's own guest: multi-threaded TCG
		# under the TDP MMU, which bench.sh therefore avoids; see
		# scripts/box/box --help) is run once more, and says so.
		if ! $bin -m $m -v $v -k $k -s $mib > $OUT/memslot-kernel.$v.csv 2> $OUT/kbench.err; then
			cat $OUT/kbench.err
			echo "memslot-kernel: RETRIED $v vCPUs -m $m after: $(grep memslot-kbench: $OUT/kbench.err | tail -1)"
			$bin -m $m -v $v -k $k -s $mib > $OUT/memslot-kernel.$v.csv
		else
			cat $OUT/kbench.err
		fi
		if [ -f $csv ]; then tail -n +2 $OUT/memslot-kernel.$v.csv >> $csv
		else cp $OUT/memslot-kernel.$v.csv $csv; fi
		rm -f $OUT/memslot-kernel.$v.csv
	done
done
# The changeset must leave no hole: a benchmark of a broken path is no result.
h=$(awk -F, 'NR > 1 && $1 == "changeset" { s += $9 } END { print s + 0 }' $csv)
[ "$h" = 0 ] || { echo "FAIL: vCPUs saw $h holes during changesets"; exit 1; }
echo "memslot-kernel: $(($(wc -l < $csv) - 1)) samples in $csv (box CPUs: $ncpu)"
