#!/bin/sh
# l2-memslots.sh on|off -- an L2 Linux guest with one vCPU per box CPU
# (scripts/box/guest/pam-guest.c, kvmfork.verify=1) keeps every vCPU
# writing RAM and checking that each line still holds its previous write,
# while it toggles the i440fx PAM segment at 0xc0000: each toggle is one
# QEMU memory transaction that splits or merges the memslot holding all
# RAM above 1 MiB.  Our QEMU runs it with -accel kvm,atomic-memslots=$1.
# (l2lib.sh's l2_start sets $mode: this script says $atomic.)
#
# Checked (QEMU's counters and the kernel's, from query-stats, over the
# toggling window): the guest's memory lost no write (errors=0) on either
# path; with "on" every commit was one changeset (as many as the kernel
# counts), none held the vCPUs or kicked one, and the vCPUs' page faults
# that waited for a changeset are reported; with "off" the commits took
# upstream's path, held the vCPUs, and the kernel saw no changeset.  The
# kicks are shown, not required: a hold kicks only the vCPUs it finds
# inside KVM_RUN, and here the commit runs on a vCPU thread that holds the
# BQL, which a vCPU kicked by the previous commit needs before it can
# re-enter KVM_RUN -- on a loaded box a whole run can find none inside (a
# CI run saw 0 kicks in 120 holds; idle runs see 9-21).  That kicks are
# counted at all is proven by kvm-memslots-test, whose commits come from
# the main loop while the vCPUs spin in KVM_RUN.
. $BOX/tests/l2lib.sh
atomic=${1:?usage: l2-memslots.sh on|off}
case $atomic in on|off) ;; *) fatal "the argument must be on or off, not '$atomic'" ;; esac
ncpu=$(grep -c ^processor /proc/cpuinfo)
img=$BOXBUILD/pam-guest.cpio.gz
[ -f $img ] || fatal "no $img (scripts/box/build-tools.sh builds it)"
toggles=${L2_TOGGLES:-60}
n=pam_$atomic

d() { eval "echo \$((\${after_$1} - \${before_$1}))"; }

L2_SMP=$ncpu L2_INITRD=$img L2_ACCEL=kvm,atomic-memslots=$atomic \
L2_APPEND="kvmfork.verify=1 kvmfork.toggles=$toggles kvmfork.period_us=5000 kvmfork.window_ms=500" \
	l2_start $n pam 32 -machine pc
l2_wait $n "KVMFORK-PAM-READY" 300
grep KVMFORK-PAM-READY $OUT/$n.serial.log | tr -d '\r'
sleep 1
l2_memslot_snap $n before
l2_send $n t
end=$(($(now_s) + toggles + 300))
until grep -q "KVMFORK-PAM toggled" $OUT/$n.serial.log; do
	[ $(now_s) -lt $end ] || fatal "no 'KVMFORK-PAM toggled' line within $((toggles + 300)) s"
	eval "p=\$L2PID_$n"; kill -0 $p 2>/dev/null || fatal "while the guest toggled: $(l2_exited $n)"
	sleep 0.2
done
l2_memslot_snap $n after
line=$(grep "KVMFORK-PAM toggled" $OUT/$n.serial.log | tail -1 | tr -d '\r')
echo "$line"
l2_send $n q
l2_wait_exit $n 60 || echo "note: $n did not power off after 'q'"
l2_stop_all

errors=$(echo "$line" | tr ' ' '\n' | sed -n 's/^errors=//p')
ntog=$(echo "$line" | tr ' ' '\n' | sed -n 's/^n=//p')
n_atomic=$(d qemu_memslot_commits_atomic) upstream=$(d qemu_memslot_commits_upstream)
fallback=$(d qemu_memslot_commits_fallback) holds=$(d qemu_memslot_vcpu_holds)
kicks=$(d qemu_memslot_vcpu_kicks) kernel=$(d memslot_changesets) retries=$(d retries)
echo "KVMFORK-MEMSLOTS atomic-memslots=$atomic vcpus=$ncpu toggles=$ntog errors=$errors commits_atomic=$n_atomic commits_upstream=$upstream commits_fallback=$fallback holds=$holds kicks=$kicks kernel_changesets=$kernel faults_waited=$retries"
[ "$errors" = 0 ] || fatal "the guest found $errors lines that lost a write"
[ -n "$ntog" ] && [ "$ntog" -ge "$toggles" ] || fatal "the guest did $ntog toggles, asked for $toggles"
[ $fallback = 0 ] || fatal "$fallback commits fell back to upstream's path"
if [ $atomic = on ]; then
	[ $n_atomic -ge $ntog ] || fatal "$n_atomic atomic commits for $ntog toggles"
	[ $upstream = 0 ] && [ $holds = 0 ] && [ $kicks = 0 ] || fatal "atomic path held the vCPUs: upstream=$upstream holds=$holds kicks=$kicks"
	# A commit whose entries all leave the kernel's slots as they are
	# reaches no ioctl: the kernel may count fewer, never more.
	[ $kernel -ge $ntog ] && [ $kernel -le $n_atomic ] || fatal "the kernel counted $kernel changesets, QEMU $n_atomic atomic commits, for $ntog toggles"
else
	[ $n_atomic = 0 ] && [ $kernel = 0 ] || fatal "off made changesets: QEMU $n_atomic, kernel $kernel"
	[ $upstream -ge $ntog ] && [ $holds -ge $ntog ] || fatal "upstream path: $upstream commits, $holds holds for $ntog toggles"
	echo "note: upstream path kicked $kicks vCPUs in $holds holds (shown, not required: see the header)"
fi
echo "PASS"
