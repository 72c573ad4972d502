#!/bin/sh
# Live migration between two of our QEMU processes inside the box, over
# loopback TCP, while the L2 guest rewrites its memory continuously and keeps
# a hash of every page.  After the migration the destination's guest checks
# every page against its hashes and prints the verdict on its console: any
# page whose dirtying was lost in transit shows up as "corrupt".
. $BOX/tests/l2lib.sh
case "${MIG_HARVEST_EXPECT:-on}" in
on|off) ;; *) fatal "MIG_HARVEST_EXPECT must be on or off, not '$MIG_HARVEST_EXPECT'" ;;
esac
MEM=${L2_MEM:-64}
port=4446
l2_start src migrate $MEM
l2_start dst migrate $MEM -incoming tcp:127.0.0.1:$port
l2_wait src KVMFORK-L2-READY 240
l2_wait src "KVMFORK-L2 progress" 60
# Emulated hardware: let precopy use all the bandwidth it can get, and give
# the final stop-and-copy more room than the 300 ms default so it converges
# under TCG; correctness, not speed, is what this test checks.
# MIG_HARVEST_EXPECT=off also sets the migration parameter x-dirty-harvest
# to off, over QMP as libvirt would; =on leaves it at its default, auto.
case "${MIG_HARVEST_EXPECT:-on}" in
on) mh_param= mh_want=auto ;;
off) mh_param=',"x-dirty-harvest":"off"' mh_want=off ;;
*) fatal "MIG_HARVEST_EXPECT must be on or off, not '$MIG_HARVEST_EXPECT'" ;;
esac
l2_qmp src "{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"max-bandwidth\":10737418240,\"downtime-limit\":2000$mh_param}}" >/dev/null \
	|| fatal "migrate-set-parameters failed"
mh_now=$(l2_qmp src '{"execute":"query-migrate-parameters"}' | sed -n 's/.*"x-dirty-harvest": *"\([a-z]*\)".*/\1/p' | head -1)
[ "$mh_now" = "$mh_want" ] || fatal "query-migrate-parameters shows x-dirty-harvest '$mh_now', want '$mh_want'"
l2_qmp src "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"tcp:127.0.0.1:$port\"}}" >/dev/null || fatal "migrate failed to start"
st="" end=$(($(now_s) + 300))
while :; do
	l2_qmp src '{"execute":"query-migrate"}' > $OUT/l2-migrate.query-migrate.json 2>/dev/null
	st=$(sed -n 's/.*"status": *"\([a-z-]*\)".*/\1/p' $OUT/l2-migrate.query-migrate.json | head -1)
	case "$st" in completed|failed|cancelled) break ;; esac
	[ $(now_s) -lt $end ] || break
	sleep 0.2
done
[ "$st" = completed ] || fatal "migration did not complete: status '$st' ($(cat $OUT/l2-migrate.query-migrate.json | cut -c1-300))"
echo "migration completed: $(python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).readline())["return"]; print("total-time=%sms downtime=%sms transferred=%sMiB dirty-sync-count=%s" % (r.get("total-time"), r.get("downtime"), r.get("ram",{}).get("transferred",0)//1048576, r.get("ram",{}).get("dirty-sync-count")))' $OUT/l2-migrate.query-migrate.json)"
# The background migration harvester (accel/kvm/kvm-migration-harvest.c):
# MIG_HARVEST_EXPECT=on (the default, as QEMU's x-dirty-harvest=auto on
# the branch's kernel) wants it to have run, found pages and synced by
# harvest on the source; =off (x-dirty-harvest=off, set above) wants it
# never to have run.
hv_en=$(l2_kstat src vm qemu_migration_harvest_enabled) || fatal "$hv_en"
hv_passes=$(l2_kstat src vm qemu_migration_harvest_passes) || fatal "$hv_passes"
hv_pages=$(l2_kstat src vm qemu_migration_harvest_pages) || fatal "$hv_pages"
hv_avg=$(l2_kstat src vm qemu_migration_harvest_pass_ns_average) || fatal "$hv_avg"
hv_syncs=$(l2_kstat src vm qemu_migration_harvest_syncs) || fatal "$hv_syncs"
hv_final=$(l2_kstat src vm qemu_migration_harvest_final_sync_ns) || fatal "$hv_final"
hv_pending=$(l2_kstat src vm qemu_dirty_harvest_pages_pending) || fatal "$hv_pending"
echo "source's background harvester: enabled=$hv_en passes=$hv_passes pages=$hv_pages average pass ${hv_avg} ns;" \
	"slot syncs by harvest=$hv_syncs, final sync's ${hv_final} ns; re-protected, already fetched: $hv_pending pages"
case "${MIG_HARVEST_EXPECT:-on}" in
on) [ "$hv_en" = 1 ] && [ "$hv_passes" -ge 1 ] && [ "$hv_pages" -ge 1 ] \
	|| fatal "the background harvester did not run on the source (enabled=$hv_en passes=$hv_passes pages=$hv_pages)"
	# every iteration's sync, the final one (guest stopped) included
	[ "$hv_syncs" -ge 2 ] && [ "$hv_final" -ge 1 ] \
	|| fatal "the syncs did not go through the harvest (slot syncs=$hv_syncs, final sync ${hv_final} ns)" ;;
off) [ "$hv_en" = 0 ] && [ "$hv_passes" = 0 ] && [ "$hv_syncs" = 0 ] \
	|| fatal "x-dirty-harvest=off, yet the harvester ran (enabled=$hv_en passes=$hv_passes syncs=$hv_syncs)" ;;
esac
# The guest runs on the destination now: its verdict, and the negative control.
l2_verdict dst
l2_qmp src '{"execute":"quit"}' >/dev/null 2>&1
l2_stop_all
case "$L2_VERDICT" in *"KVMFORK-VERDICT intact"*) exit 0 ;; *) echo "FAIL: guest memory not intact"; exit 1 ;; esac
