#!/bin/sh
# migration-box.sh -- inside the box (suite bench-migration): the migration
# benchmark's driver.  For every VMM in $BENCH_VMMS, dirty-log mode in
# $BENCH_RINGS and repetition: a source L2 running scripts/box/guest/
# dirty-guest.c (a fixed working set dirtied at a fixed page rate) is
# live-migrated over loopback TCP to a destination QEMU of the same binary,
# with the same max-bandwidth and downtime-limit every time, and the source's
# final query-migrate plus its trace of every dirty sync are written down.
#
#   vmm   ours  = our QEMU ($QEMU) with the migration parameter
#                 x-dirty-harvest=off: upstream's dirty sync
#                 (KVM_GET_DIRTY_LOG), no background harvest;
#         ours_harvest = the same binary with x-dirty-harvest=on (its
#                 default, auto, on the branch's kernel);
#         stock = Debian's QEMU 10.0.2
#                 (/usr/bin/qemu-system-x86_64, the host's /usr shared in)
#   ring  off   = KVM dirty bitmap (KVM_GET_DIRTY_LOG per slot per sync);
#         on    = KVM dirty ring, -accel kvm,dirty-ring-size=$BENCH_RING_SIZE
#
# Repetitions are the outer loop, so a drift of the shared machine's load
# spreads over all configurations alike instead of favouring one.
#
# Writes to $OUT (bench.sh adds the '#' header and plots):
#   migration-runs.csv   one row per migration (parse.py names the columns)
#   migration-syncs.csv  one row per dirty sync of the source: its time from
#                        migration_bitmap_sync_start to _end; final=1 is the
#                        sync taken with the guest stopped (inside the
#                        downtime)
# A configuration that cannot be measured (no stock QEMU, a migration that
# fails or does not complete in time) is a "# not measured: ..." line in
# migration-runs.csv and the script exits 1 at the end, after the others ran.
#
# Settings (box --env): BENCH_SIZE smoke|full; BENCH_VMMS (default
# "ours,stock"), BENCH_RINGS (smoke "off", full "off,on"), BENCH_REPS (smoke
# 1, full 3), BENCH_WSS_MIB (64), BENCH_RATE (guest pages dirtied per second,
# 4096), BENCH_BW_MIB (max-bandwidth, MiB/s, 32), BENCH_DOWNTIME_MS
# (downtime-limit, 100), BENCH_RING_SIZE (4096), BENCH_L2_SMP (1),
# BENCH_L2_RAM (256 MiB), BENCH_MIGRATE_TIMEOUT (seconds per migration:
# smoke 120, full 180), BENCH_BOOT_TIMEOUT (seconds for an L2 to report
# ready: smoke 120, full 300).  Smoke's are smaller so that one hung try and
# its retry fit in the box's limit (an L2 reports ready in about 20 s).
. $BOX/tests/l2lib.sh
here=$REPO/scripts/bench/migration

case "${BENCH_SIZE:-full}" in
smoke) reps=${BENCH_REPS:-1} rings=${BENCH_RINGS:-off} mtimeout=${BENCH_MIGRATE_TIMEOUT:-120} btimeout=${BENCH_BOOT_TIMEOUT:-120} ;;
full)  reps=${BENCH_REPS:-3} rings=${BENCH_RINGS:-off,on} mtimeout=${BENCH_MIGRATE_TIMEOUT:-180} btimeout=${BENCH_BOOT_TIMEOUT:-300} ;;
*) fatal "BENCH_SIZE must be smoke or full, not '$BENCH_SIZE'" ;;
esac
vmms=${BENCH_VMMS:-ours,ours_harvest,stock}
wss=${BENCH_WSS_MIB:-64} rate=${BENCH_RATE:-4096} bw=${BENCH_BW_MIB:-32}
downtime=${BENCH_DOWNTIME_MS:-100} ringsize=${BENCH_RING_SIZE:-4096}
smp=${BENCH_L2_SMP:-1} ram=${BENCH_L2_RAM:-256}

posint() {
	case "$2" in ''|0|*[!0-9]*) fatal "$1 must be a positive whole number, not '$2'" ;; esac
}
posint BENCH_REPS "$reps"; posint BENCH_WSS_MIB "$wss"; posint BENCH_RATE "$rate"
posint BENCH_BW_MIB "$bw"; posint BENCH_DOWNTIME_MS "$downtime"; posint BENCH_RING_SIZE "$ringsize"
posint BENCH_L2_SMP "$smp"; posint BENCH_L2_RAM "$ram"; posint BENCH_MIGRATE_TIMEOUT "$mtimeout"; posint BENCH_BOOT_TIMEOUT "$btimeout"
vmms=$(echo "$vmms" | tr , ' ') rings=$(echo "$rings" | tr , ' ')
for v in $vmms; do
	case $v in ours|ours_harvest|stock) ;; *) fatal "BENCH_VMMS: unknown VMM '$v' (want ours, ours_harvest, stock)" ;; esac
done
for r in $rings; do
	case $r in off|on) ;; *) fatal "BENCH_RINGS: unknown dirty-log mode '$r' (want off, on)" ;; esac
done
# KVM wants a power of two (and at least a page of entries).
case $ringsize in 512|1024|2048|4096|8192|16384|32768|65536) ;;
*) fatal "BENCH_RING_SIZE must be a power of two from 512 to 65536, not '$ringsize'" ;;
esac
ncpu=$(grep -c ^processor /proc/cpuinfo)
[ "$smp" -le "$ncpu" ] || fatal "BENCH_L2_SMP=$smp exceeds the box's $ncpu CPUs (overcommitted L2s do not boot reliably: l2-overcommit); boot the box with --smp $smp"
[ $((wss + 64)) -le "$ram" ] || fatal "BENCH_WSS_MIB=$wss does not fit BENCH_L2_RAM=$ram (leave 64 MiB for the L2 kernel)"
img=$BOXBUILD/dirty-guest.cpio.gz
[ -f $img ] || fatal "no $img (scripts/box/build-tools.sh builds it)"
stock=/usr/bin/qemu-system-x86_64

runs=$OUT/migration-runs.csv syncs=$OUT/migration-syncs.csv
# The constant workload, once, for the reader of the raw file.
echo "# workload: L2 $smp vCPU(s), $ram MiB RAM; guest dirties $rate pages/s of a $wss MiB working set; max-bandwidth $bw MiB/s, downtime-limit $downtime ms, dirty ring $ringsize entries when on; TCP loopback; box kvm_amd.npt=$(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null || echo unknown)" > $runs

not_measured() { echo "# not measured: $*" | tee -a $runs; }

status_of() { sed -n 's/.*"status": *"\([a-z-]*\)".*/\1/p' "$1" | head -1; }

# run_one VMM RING REP PORT
run_one() {
	vmm=$1 ring=$2 rep=$3 port=$4
	s=src_${vmm}_${ring}_$rep d=dst_${vmm}_${ring}_$rep
	bin=$QEMU; [ $vmm = stock ] && bin=$stock
	accel=kvm; [ $ring = on ] && accel=kvm,dirty-ring-size=$ringsize
	mhp=
	case $vmm in ours) mhp="-global migration.x-dirty-harvest=off" ;; ours_harvest) mhp="-global migration.x-dirty-harvest=on" ;; esac
	traces="$mhp -trace migration_bitmap_sync_start -trace migration_bitmap_sync_end"
	[ $ring = on ] && traces="$traces -trace kvm_dirty_ring_reap -trace kvm_dirty_ring_full"
	echo "migration: vmm=$vmm ring=$ring rep=$rep ($bin, -accel $accel $mhp)"
	export L2_QEMU=$bin L2_ACCEL=$accel L2_SMP=$smp L2_RAM=$ram L2_INITRD=$img
	export L2_APPEND="kvmfork.wss=$wss kvmfork.rate=$rate"
	rm -f $OUT/$s.trace
	# shellcheck disable=SC2086
	l2_start $s dirty $wss $traces -msg timestamp=on -D $OUT/$s.trace
	l2_start $d dirty $wss -incoming tcp:127.0.0.1:$port
	l2_wait $s KVMFORK-DIRTY-READY $btimeout
	# Three reports: the guest's pace has settled before migration starts.
	end=$(($(now_s) + 60))
	while [ "$(grep -c 'KVMFORK-DIRTY t_ms' $OUT/$s.serial.log)" -lt 3 ]; do
		[ $(now_s) -lt $end ] || fatal "$s: fewer than 3 rate reports within 60 s of READY"
		sleep 0.2
	done
	grep 'KVMFORK-DIRTY t_ms' $OUT/$s.serial.log | tail -1 | tr -d '\r' | sed 's/^/  before: /'
	l2_qmp $s "{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"max-bandwidth\":$((bw * 1048576)),\"downtime-limit\":$downtime}}" \
		> $L2TMP/$s.params.json || fatal "$s: migrate-set-parameters failed: $(cat $L2TMP/$s.params.json)"
	grep -q '"return"' $L2TMP/$s.params.json || fatal "$s: migrate-set-parameters refused: $(cat $L2TMP/$s.params.json)"
	mark=$(grep -c '' $OUT/$s.serial.log)
	l2_qmp $s "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"tcp:127.0.0.1:$port\"}}" > $L2TMP/$s.migrate.json \
		|| fatal "$s: migrate failed to start: $(cat $L2TMP/$s.migrate.json)"
	qm=$OUT/$s.query-migrate.json
	st="" end=$(($(now_s) + mtimeout))
	while :; do
		l2_qmp $s '{"execute":"query-migrate"}' > $qm 2>/dev/null
		st=$(status_of $qm)
		case "$st" in completed|failed|cancelled) break ;; esac
		[ $(now_s) -lt $end ] || break
		sleep 0.2
	done
	ok=1
	if [ "$st" != completed ]; then
		if [ "$st" != failed ] && [ "$st" != cancelled ]; then
			l2_qmp $s '{"execute":"migrate_cancel"}' >/dev/null 2>&1
			st="still '$st' after ${mtimeout}s (cancelled)"
		fi
		not_measured "vmm=$vmm ring=$ring rep=$rep: migration $st; last query-migrate: $(cut -c1-400 $qm)"
		ok=0
	fi
	if [ $ok = 1 ]; then
		# It really moved: the source is parked, the destination runs the guest,
		# and the guest goes on reporting from there.
		ss=$(l2_qmp $s '{"execute":"query-status"}' | sed -n 's/.*"status": *"\([a-z-]*\)".*/\1/p')
		ds=$(l2_qmp $d '{"execute":"query-status"}' | sed -n 's/.*"status": *"\([a-z-]*\)".*/\1/p')
		if [ "$ss" != postmigrate ] || [ "$ds" != running ]; then
			not_measured "vmm=$vmm ring=$ring rep=$rep: completed, but source is '$ss' (want postmigrate) and destination '$ds' (want running)"
			ok=0
		elif ! l2_wait_report $d 60; then
			not_measured "vmm=$vmm ring=$ring rep=$rep: completed, but the guest printed nothing on the destination within 60 s"
			ok=0
		fi
	fi
	# Quit the source cleanly so its trace log is complete.  Both through
	# QMP, which is bounded: writing the serial FIFO of a QEMU that has
	# exited (a destination whose incoming migration failed) would block.
	l2_qmp $s '{"execute":"quit"}' >/dev/null 2>&1
	l2_wait_exit $s 30 || echo "note: $s did not exit after quit"
	l2_qmp $d '{"execute":"quit"}' >/dev/null 2>&1
	l2_wait_exit $d 30 || echo "note: $d did not exit after quit"
	l2_stop_all
	L2PIDS=""
	[ $ok = 1 ] || return 0
	python3 $here/parse.py --vmm $vmm --ring $ring --rep $rep --vcpus $smp --wss $wss \
		--target $rate --bw $bw --downtime-limit $downtime --query-migrate $qm \
		--trace $OUT/$s.trace --serial $OUT/$s.serial.log --mark $mark \
		--runs $runs --syncs $syncs > $L2TMP/$s.row 2>&1 \
		|| { not_measured "vmm=$vmm ring=$ring rep=$rep: $(cat $L2TMP/$s.row)"; return 0; }
	sed 's/^/  /' $L2TMP/$s.row
}

# l2_wait_report NAME SECS: a dirty-guest report on NAME's serial line.
l2_wait_report() {
	end=$(($(now_s) + $2))
	while ! grep -q 'KVMFORK-DIRTY t_ms' $OUT/$1.serial.log; do
		[ $(now_s) -lt $end ] || return 1
		sleep 0.2
	done
	grep 'KVMFORK-DIRTY t_ms' $OUT/$1.serial.log | head -1 | tr -d '\r' | sed 's/^/  destination: /'
}

if ! [ -x $stock ]; then
	case " $vmms " in *" stock "*)
		for r in $rings; do not_measured "vmm=stock ring=$r: no $stock in the box (the host's /usr lacks Debian's qemu-system-x86)"; done
		vmms=$(echo " $vmms " | sed 's/ stock / /') ;;
	esac
fi
port=4460
rep=1
while [ $rep -le $reps ]; do
	for ring in $rings; do
		for vmm in $vmms; do
			# A subshell, so that a fatal error (a guest that never boots)
			# costs this one migration, not the rest; its FAIL line is the
			# reason written down.  A fresh port each time: no TIME_WAIT
			# leftovers of the last run.
			# A migration that fails is run once more: L2 guests on the
			# TDP box die or hang now and then whatever the VMM (README,
			# "The box").  The first try's reason stays in the CSV as a
			# "# retried:" line and its logs as try1.*; a second failure
			# is a "# not measured" line and fails the run.
			for try in 1 2; do
				before=$(grep -c '^# not measured' $runs)
				( run_one $vmm $ring $rep $port ) > $L2TMP/run.out 2>&1
				rc=$?
				cat $L2TMP/run.out
				if [ $rc != 0 ]; then
					l2_stop_all
					not_measured "vmm=$vmm ring=$ring rep=$rep: $(grep '^FAIL' $L2TMP/run.out | tail -1 | cut -c1-400)"
				fi
				port=$((port + 1))
				[ "$(grep -c '^# not measured' $runs)" = "$before" ] && break
				[ $try = 1 ] || break
				sed -i '$ s/^# not measured: /# retried: first try not measured: /' $runs
				echo "migration: retrying vmm=$vmm ring=$ring rep=$rep once"
				for f in $OUT/src_${vmm}_${ring}_$rep.* $OUT/dst_${vmm}_${ring}_$rep.*; do
					[ -e "$f" ] && mv "$f" "$OUT/try1.${f##*/}"
				done
			done
		done
	done
	rep=$((rep + 1))
done
n=$(($(grep -vc '^#' $runs 2>/dev/null) - 1))
[ $n -ge 0 ] || n=0
notes=$(grep -c '^# not measured' $runs)
echo "migration: $n migrations in $runs, syncs in $syncs; $notes not measured"
[ "$notes" = 0 ]
