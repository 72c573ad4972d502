# l2lib.sh -- sourced by the L2 tests inside the box (busybox sh).
# Starts our QEMU with -accel kvm on the box's KVM, an L2 guest running
# scripts/box/guest/l2init.c, serial through FIFOs (guest output logged to
# $OUT/NAME.serial.log, input sent with l2_send), QMP on a unix socket.
# L2_QEMU (default: our $QEMU) is the L2 VMM, L2_SMP (default 1) its vCPUs,
# L2_RAM (default 256) its memory in MiB, L2_ACCEL (default kvm) its -accel
# value (e.g. kvm,dirty-ring-size=4096), L2_INITRD (default l2init's) the
# guest program's initramfs, L2_APPEND more kernel command-line words.
QMPC=$BOXBUILD/qmp
L2TMP=/tmp/l2; mkdir -p $L2TMP
L2PIDS=""

fatal() { echo "FAIL: $*"; l2_stop_all; exit 1; }
# Seconds since the box booted.  Every wait below has a wall-clock deadline:
# on a loaded machine a round of a poll loop takes far longer than its
# sleep, and counting rounds once stretched a 300 s wait to ~800 s.
now_s() { cut -d. -f1 /proc/uptime; }
# l2_exited NAME -- for a fatal() when NAME's QEMU is gone: puts the guest's
# last console lines in the log (from its first Oops/BUG/panic line, if it
# has one: the panic's cause, not just its "Kernel Offset" trailer), then
# prints the one-line summary that fatal() ends the log with.
l2_exited() {
	sl=$OUT/$1.serial.log
	first=$(grep -n -m1 -E 'BUG:|Oops|Kernel panic|general protection|WARNING:|Call Trace' $sl | cut -d: -f1)
	echo "--- $1: the guest's last console lines${first:+ (from its first Oops/panic line, $first)}:" >&2
	if [ -n "$first" ]; then sed -n "$first,\$p" $sl | head -80; else tail -40 $sl; fi | tr -d '\r' | sed 's/^/  guest| /' >&2
	echo "$1: QEMU exited (last guest line: '$(tail -1 $sl | tr -d '\r')'; $1.qemu.log: '$(tail -1 $OUT/$1.qemu.log)')"
}

# l2_start NAME MODE MEM_MB [extra QEMU args...]
l2_start() {
	name=$1 mode=$2 mem=$3; shift 3
	rm -f $L2TMP/$name.ser.in $L2TMP/$name.ser.out $L2TMP/$name.qmp
	mkfifo $L2TMP/$name.ser.in $L2TMP/$name.ser.out
	: > $OUT/$name.serial.log
	cat $L2TMP/$name.ser.out >> $OUT/$name.serial.log &
	L2PIDS="$L2PIDS $!"
	${L2_QEMU:-$QEMU} -accel ${L2_ACCEL:-kvm} -cpu host -m ${L2_RAM:-256} -smp ${L2_SMP:-1} -nodefaults -no-user-config \
		-nic none -vga std -display none -no-reboot \
		-kernel $KERNEL -initrd ${L2_INITRD:-$BOXBUILD/l2.cpio.gz} \
		-append "console=tty0 console=ttyS0 no-scroll panic=-1 loglevel=4 no_timer_check kvmfork.mode=$mode kvmfork.mem=$mem ${L2_APPEND:-}" \
		-serial pipe:$L2TMP/$name.ser \
		-qmp unix:$L2TMP/$name.qmp,server=on,wait=off \
		"$@" > $OUT/$name.qemu.log 2>&1 &
	eval "L2PID_$name=$!"
	L2PIDS="$L2PIDS $!"
	echo "started $name: pid $! mode=$mode mem=${mem}M $*"
}

# l2_wait NAME PATTERN TIMEOUT -- wait for a line on NAME's serial console
l2_wait() {
	end=$(($(now_s) + $3))
	while [ $(now_s) -lt $end ]; do
		grep -q "$2" $OUT/$1.serial.log && return 0
		eval "p=\$L2PID_$1"
		kill -0 $p 2>/dev/null || fatal "while waiting for '$2': $(l2_exited $1)"
		sleep 0.2
	done
	grep -q "$2" $OUT/$1.serial.log && return 0
	l2_stuck $1
	fatal "$1: no '$2' on the serial console within $3 s (see $1.serial.log; the guest's state is in this log)"
}

# l2_stuck NAME -- for a guest that is alive but silent: its run state,
# every vCPU's registers and QEMU's memslot and harvest counters, into the
# log (stderr), each QMP call bounded.  (Seen once in make check, 2026-12-04:
# an L2 on the shadow box with atomic-memslots=on printed nothing in 300 s.)
l2_stuck() {
	{
		echo "--- $1: guest silent; QEMU's view of it"
		$QMPC $L2TMP/$1.qmp --timeout 10 '{"execute":"query-status"}' 2>&1
		$QMPC $L2TMP/$1.qmp --timeout 10 '{"execute":"human-monitor-command","arguments":{"command-line":"info registers -a"}}' 2>&1 \
			| sed 's/\\r\\n/\n/g; s/\\n/\n/g' | head -150
		$QMPC $L2TMP/$1.qmp --timeout 10 '{"execute":"query-stats","arguments":{"target":"vm","providers":[{"provider":"kvm"}]}}' 2>&1 | cut -c1-3000
		$QMPC $L2TMP/$1.qmp --timeout 10 '{"execute":"query-stats","arguments":{"target":"vcpu","providers":[{"provider":"kvm"}]}}' 2>&1 | cut -c1-3000
	} >&2
}

# l2_send NAME TEXT -- to the guest's serial line.  Opening the FIFO blocks
# until QEMU reads it: a QEMU that is gone (a guest that triple-faulted
# under -no-reboot exits silently) made this hang until the test's limit.
l2_send() {
	eval "p=\$L2PID_$1"
	kill -0 $p 2>/dev/null || fatal "cannot send '$2': $(l2_exited $1)"
	timeout 30 sh -c 'printf "%s" "$1" > "$2"' l2_send "$2" $L2TMP/$1.ser.in \
		|| fatal "$1: '$2' not taken by the serial FIFO within 30 s (QEMU $(kill -0 $p 2>/dev/null && echo alive || echo gone))"
}
l2_qmp() { n=$1; shift; $QMPC $L2TMP/$n.qmp --timeout 60 "$@"; }

# l2_kstat NAME vm|vcpu STAT -- one stat of NAME's query-stats (provider
# kvm), summed over the vCPUs for target vcpu; a whole number or fatal.
l2_kstat() {
	l2_qmp $1 "{\"execute\":\"query-stats\",\"arguments\":{\"target\":\"$2\",\"providers\":[{\"provider\":\"kvm\",\"names\":[\"$3\"]}]}}" \
		> $L2TMP/$1.stat.json || fatal "$1: query-stats $2 $3 failed: $(cat $L2TMP/$1.stat.json)"
	kstat_sum $L2TMP/$1.stat.json $3 || fatal "$1: no stat $3 in query-stats ($2)"
}

# kstat_sum FILE STAT -- STAT summed over the entries of the query-stats
# reply in FILE; fails unless the stat is there and a whole number.
kstat_sum() {
	python3 - $1 $2 <<'EOF'
import json, sys
r = json.loads(next(l for l in open(sys.argv[1]) if l.strip()))["return"]
vals = [s["value"] for e in r for s in e["stats"] if s["name"] == sys.argv[2]]
assert vals and all(isinstance(v, int) for v in vals), "missing"
print(sum(vals))
EOF
}

# l2_memslot_snap NAME PREFIX -- QEMU's memslot commit counters and the
# kernel's changeset count of NAME into shell variables PREFIX_STAT, and
# PREFIX_retries: vCPU faults that waited for a changeset.
l2_memslot_snap() {
	for _s in qemu_memslot_commits_atomic qemu_memslot_commits_upstream qemu_memslot_commits_fallback \
		  qemu_memslot_vcpu_holds qemu_memslot_vcpu_kicks memslot_changesets; do
		_v=$(l2_kstat $1 vm $_s) || fatal "$_v"
		eval "${2}_$_s=$_v"
	done
	_v=$(l2_kstat $1 vcpu memslot_changeset_retries) || fatal "$_v"
	eval "${2}_retries=$_v"
}

# l2_verdict NAME -- after a migration, on the destination NAME: let the
# guest write a little more, have it check every page against its hashes
# (the verdict goes to L2_VERDICT), then the negative control: one page
# spoiled behind the hash table must make the same verifier say "corrupt",
# or an "intact" proves nothing (fatal otherwise).  Ends with 'q'.
l2_verdict() {
	l2_wait $1 "KVMFORK-L2 progress" 60
	l2_send $1 v
	l2_wait $1 KVMFORK-VERDICT 300
	L2_VERDICT=$(grep KVMFORK-VERDICT $OUT/$1.serial.log | head -1 | tr -d '\r')
	echo "destination console: $L2_VERDICT"
	l2_send $1 x
	l2_wait $1 "spoiled page" 30
	l2_send $1 v
	_end=$(($(now_s) + 300))
	while [ $(grep -c KVMFORK-VERDICT $OUT/$1.serial.log) -lt 2 ] && [ $(now_s) -lt $_end ]; do sleep 0.5; done
	_control=$(grep KVMFORK-VERDICT $OUT/$1.serial.log | sed -n 2p | tr -d '\r')
	echo "negative control: $_control"
	case "$_control" in *"KVMFORK-VERDICT corrupt"*) ;; *) fatal "the verifier did not notice a spoiled page: '$_control'" ;; esac
	l2_send $1 q
	l2_wait_exit $1 60 || echo "note: $1 did not power off after 'q'"
}

# l2_wait_exit NAME TIMEOUT
l2_wait_exit() {
	eval "p=\$L2PID_$1"
	end=$(($(now_s) + $2))
	while kill -0 $p 2>/dev/null; do
		[ $(now_s) -ge $end ] && return 1
		sleep 0.2
	done
	return 0
}

l2_stop_all() {
	for p in $L2PIDS; do kill -9 $p 2>/dev/null; done
	wait 2>/dev/null
}
