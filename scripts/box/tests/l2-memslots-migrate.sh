#!/bin/sh
# l2-memslots-migrate.sh -- the guest of l2-memslots.sh (pam-guest,
# kvmfork.verify=1: every vCPU rewrites its share of a 32 MiB buffer and
# checks, line by line, that each line still holds its previous write)
# live-migrated, with our QEMU on both ends at -accel
# kvm,atomic-memslots=on, while it toggles the i440fx PAM segment at
# 0xc0000: each toggle splits or merges the memslot of all RAM above 1 MiB,
# which is dirty-logged during the migration.
#
# Checked: the migration completed while the guest was toggling (the
# toggling started on the source and its end is reported by the
# destination); the guest, now on the destination, found no line that lost
# a write (a dirty page that a changeset dropped, or that migration did not
# resend, would show there as errors>0); on the source, before the
# migration every commit was a changeset that held no vCPU, and during it
# only commits whose old slot's dirty bits no new slot carries (QEMU traces
# kvm_memslot_changeset_harvest for them) fell back to the slot-by-slot
# path, which harvests inside a vCPU hold; every other commit was a
# changeset; on the destination every commit was a changeset.
# MEMSLOTS_MIG_HARVEST=on (the default, as QEMU's) runs both ends with
# the migration parameter x-dirty-harvest=on (the background harvester
# and the syncs by harvest, kvm-migration-harvest.c) and requires the
# source to have synced by harvest; =off, upstream's KVM_GET_DIRTY_LOG,
# requires it not to have.
. $BOX/tests/l2lib.sh
ncpu=$(grep -c ^processor /proc/cpuinfo)
img=$BOXBUILD/pam-guest.cpio.gz
[ -f $img ] || fatal "no $img (scripts/box/build-tools.sh builds it)"
toggles=${L2_TOGGLES:-1500}
port=${L2_PORT:-4480}
s=pamm_src d=pamm_dst

mh=${MEMSLOTS_MIG_HARVEST:-on}
case $mh in on|off) ;; *) fatal "MEMSLOTS_MIG_HARVEST must be on or off, not '$mh'" ;; esac
export L2_SMP=$ncpu L2_INITRD=$img L2_ACCEL=kvm,atomic-memslots=on
export L2_APPEND="kvmfork.verify=1 kvmfork.toggles=$toggles kvmfork.period_us=5000 kvmfork.window_ms=500"
l2_start $s pam 32 -machine pc -global migration.x-dirty-harvest=$mh -trace kvm_memslot_changeset_harvest -D $OUT/$s.trace
l2_start $d pam 32 -machine pc -global migration.x-dirty-harvest=$mh -incoming tcp:127.0.0.1:$port
l2_wait $s "KVMFORK-PAM-READY" 300
grep KVMFORK-PAM-READY $OUT/$s.serial.log | tr -d '\r'
l2_memslot_snap $s src0
l2_send $s t
# Let the toggling get going on the source first.
end=$(($(now_s) + 60))
while :; do
	l2_memslot_snap $s src1
	[ $((src1_qemu_memslot_commits_atomic - src0_qemu_memslot_commits_atomic)) -ge 10 ] && break
	[ $(now_s) -lt $end ] || fatal "the source made fewer than 10 changeset commits within 60 s of 't'"
	sleep 0.5
done
l2_qmp $s '{"execute":"migrate-set-parameters","arguments":{"max-bandwidth":10737418240,"downtime-limit":2000}}' \
	> $L2TMP/$s.params.json && grep -q '"return"' $L2TMP/$s.params.json \
	|| fatal "migrate-set-parameters: $(cat $L2TMP/$s.params.json)"
l2_qmp $s "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"tcp:127.0.0.1:$port\"}}" > $L2TMP/$s.migrate.json \
	&& grep -q '"return"' $L2TMP/$s.migrate.json || fatal "migrate: $(cat $L2TMP/$s.migrate.json)"
qm=$OUT/$s.query-migrate.json
end=$(($(now_s) + 240))
while :; do
	l2_qmp $s '{"execute":"query-migrate"}' > $qm 2>/dev/null
	st=$(sed -n 's/.*"status": *"\([a-z-]*\)".*/\1/p' $qm | head -1)
	case "$st" in completed) break ;; failed|cancelled) fatal "migration $st: $(cut -c1-400 $qm)" ;; esac
	[ $(now_s) -lt $end ] || fatal "migration still '$st' after 240 s: $(cut -c1-400 $qm)"
	sleep 0.2
done
grep -q "KVMFORK-PAM toggled" $OUT/$s.serial.log \
	&& fatal "the guest finished toggling on the source before the migration completed (raise L2_TOGGLES above $toggles)"
echo "migration: completed while toggling; $(python3 -c '
import json, sys
r = json.loads(open(sys.argv[1]).readline())["return"]
ram = r.get("ram", {})
print("total_time_ms=%s downtime_ms=%s dirty_sync_count=%s transferred=%s" % (r.get("total-time"), r.get("downtime"), ram.get("dirty-sync-count"), ram.get("transferred")))
' $qm)"
l2_memslot_snap $s src2
mh_syncs=$(l2_kstat $s vm qemu_migration_harvest_syncs) || fatal "$mh_syncs"
mh_passes=$(l2_kstat $s vm qemu_migration_harvest_passes) || fatal "$mh_passes"
echo "source's migration harvest ($mh): slot syncs by harvest=$mh_syncs, background passes=$mh_passes"
if [ $mh = on ]; then
	[ "$mh_syncs" -ge 2 ] || fatal "x-dirty-harvest=on, yet the source made $mh_syncs slot syncs by harvest"
else
	[ "$mh_syncs" = 0 ] && [ "$mh_passes" = 0 ] || fatal "x-dirty-harvest=off, yet the source harvested"
fi
end=$(($(now_s) + toggles + 300))
until grep -q "KVMFORK-PAM toggled" $OUT/$d.serial.log; do
	[ $(now_s) -lt $end ] || fatal "no 'KVMFORK-PAM toggled' line from the destination within $((toggles + 300)) s"
	eval "p=\$L2PID_$d"; kill -0 $p 2>/dev/null || fatal "the destination: $(l2_exited $d)"
	sleep 0.2
done
l2_memslot_snap $d dst
line=$(grep "KVMFORK-PAM toggled" $OUT/$d.serial.log | tail -1 | tr -d '\r')
echo "destination: $line"
l2_qmp $s '{"execute":"quit"}' >/dev/null 2>&1
l2_send $d q
l2_wait_exit $d 60 || echo "note: $d did not power off after 'q'"
l2_stop_all

errors=$(echo "$line" | tr ' ' '\n' | sed -n 's/^errors=//p')
ntog=$(echo "$line" | tr ' ' '\n' | sed -n 's/^n=//p')
delta() { eval "echo \$((\${src2_$1} - \${src0_$1}))"; }
echo "KVMFORK-MEMSLOTS-MIGRATE vcpus=$ncpu toggles=$ntog errors=$errors" \
	"src: commits_atomic=$(delta qemu_memslot_commits_atomic) commits_upstream=$(delta qemu_memslot_commits_upstream)" \
	"commits_fallback=$(delta qemu_memslot_commits_fallback) holds=$(delta qemu_memslot_vcpu_holds) kicks=$(delta qemu_memslot_vcpu_kicks)" \
	"kernel_changesets=$(delta memslot_changesets) faults_waited=$(delta retries)" \
	"dst: commits_atomic=$dst_qemu_memslot_commits_atomic commits_upstream=$dst_qemu_memslot_commits_upstream" \
	"commits_fallback=$dst_qemu_memslot_commits_fallback holds=$dst_qemu_memslot_vcpu_holds kicks=$dst_qemu_memslot_vcpu_kicks" \
	"kernel_changesets=$dst_memslot_changesets"
[ -n "$errors" ] || fatal "no errors= in the destination's line"
[ "$errors" = 0 ] || fatal "the guest found $errors lines that lost a write across the migration"
[ -n "$ntog" ] && [ "$ntog" -ge "$toggles" ] || fatal "the guest did $ntog toggles, asked for $toggles"
# Source, before the migration: changesets only.
before() { eval "echo \$((\${src1_$1} - \${src0_$1}))"; }
[ $(before qemu_memslot_commits_fallback) = 0 ] && [ $(before qemu_memslot_commits_upstream) = 0 ] \
	&& [ $(before qemu_memslot_vcpu_holds) = 0 ] && [ $(before qemu_memslot_vcpu_kicks) = 0 ] \
	|| fatal "before the migration the source left the atomic path or held its vCPUs"
# Source, during it: a fallback only where QEMU said the kernel could not
# carry the dirty bits, and each fallback one hold.
harvests=$(grep -c 'kvm_memslot_changeset_harvest' $OUT/$s.trace)
fb=$(delta qemu_memslot_commits_fallback)
echo "source: $fb of $(($(delta qemu_memslot_commits_atomic) + fb)) commits fell back, $harvests harvest trace lines: $(grep kvm_memslot_changeset_harvest $OUT/$s.trace | sed 's/.*kvm_memslot_changeset_harvest //' | sort | uniq -c | tr -s ' \n' ' ')"
[ $(delta qemu_memslot_commits_upstream) = 0 ] || fatal "the source took upstream's path"
[ $fb -le $harvests ] || fatal "$fb fallbacks but only $harvests commits that the kernel could not carry"
[ $(delta qemu_memslot_vcpu_holds) = $fb ] || fatal "the source held its vCPUs $(delta qemu_memslot_vcpu_holds) times for $fb fallbacks"
[ $(delta memslot_changesets) -ge 10 ] || fatal "the source's kernel counted $(delta memslot_changesets) changesets"
# Destination: the rest of the toggles.  Its counters start at its own
# start-up, whose commits are changesets too.
[ $dst_qemu_memslot_commits_atomic -ge 1 ] && [ $dst_memslot_changesets -ge 1 ] \
	|| fatal "the destination made no changeset after the migration"
[ $dst_qemu_memslot_commits_fallback = 0 ] && [ $dst_qemu_memslot_vcpu_holds = 0 ] && [ $dst_qemu_memslot_vcpu_kicks = 0 ] \
	|| fatal "the destination fell back, held or kicked"
echo "PASS"
