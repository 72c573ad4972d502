#!/usr/bin/python3
"""parse.py -- one migration of the migration benchmark into CSV rows.

  parse.py --vmm V --ring R --rep N --vcpus N --wss MiB --target PAGES_S
           --bw MIB_S --downtime-limit MS --query-migrate JSON --trace FILE
           --serial LOG --mark LINES --runs CSV --syncs CSV

Run by migration-box.sh inside the box after a migration completed.  Reads
the source's final query-migrate reply (one JSON line, as the box's qmp
client prints it), its trace log (QEMU's "log" trace backend with
-msg timestamp=on: "PID@SEC.USEC:event args"), and the source guest's
serial log (dirty-guest.c's cumulative "KVMFORK-DIRTY t_ms=.. pages=.."
reports; --mark is the number of serial lines before the migrate command).
Appends one row to --runs and one row per dirty sync to --syncs; prints the
run's row.  Exit status 1, naming what is missing, if the inputs do not
describe a completed migration.
"""
import argparse
import json
import re
import statistics
import sys

RUN_COLS = [
    "vmm", "ring", "rep", "vcpus", "wss_mib", "target_pages_s",
    "rate_before_pages_s", "rate_during_pages_s", "dropped_during",
    "max_bw_mib_s", "downtime_limit_ms",
    "total_ms", "downtime_ms", "setup_ms", "iterations",
    "transferred_mib", "precopy_mib", "downtime_mib",
    "normal_pages", "duplicate_pages", "mbps", "pages_per_s", "dirty_pages_rate",
    "syncs_traced", "sync_us_median", "sync_us_max", "final_sync_us",
    "reaps", "reaped_pages", "reap_us", "ring_full_exits",
]
# dirty_pages_period is what migration_bitmap_sync_end prints: QEMU's
# num_dirty_pages_period, the pages found dirty since the start of its
# current dirty-rate period (reset after a sync that ends over 1 s after the
# last reset), so not the pages of this one sync.
SYNC_COLS = ["vmm", "ring", "rep", "iteration", "final", "sync_us", "dirty_pages_period"]

EVENT = re.compile(r"^\d+@(\d+)\.(\d+):(\w+)(?: (.*))?$")
REPORT = re.compile(r"KVMFORK-DIRTY t_ms=(\d+) pages=(\d+) dropped=(\d+) pages_per_s=(\d+)")
REAP = re.compile(r"reaped (\d+) pages \(took (-?\d+) us\)")


def die(msg):
    print("parse.py: " + msg, file=sys.stderr)
    sys.exit(1)


def append(path, cols, rows):
    """Append rows, writing the header row first if the file has none yet
    (it may already hold '#' lines: the workload, points not measured)."""
    try:
        new = all(ln.startswith("#") or not ln.strip() for ln in open(path))
    except FileNotFoundError:
        new = True
    with open(path, "a") as f:
        if new:
            f.write(",".join(cols) + "\n")
        for r in rows:
            f.write(",".join(str(r.get(c, "")) for c in cols) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    for opt in ("vmm", "ring", "rep", "vcpus", "wss", "target", "bw", "downtime-limit",
                "query-migrate", "trace", "serial", "runs", "syncs"):
        ap.add_argument("--" + opt, required=True)
    ap.add_argument("--mark", type=int, required=True)
    a = ap.parse_args()

    try:
        reply = json.loads(open(a.query_migrate).readline())
    except (OSError, ValueError) as e:
        die(f"{a.query_migrate}: not a query-migrate reply: {e}")
    qm = reply.get("return")
    if not isinstance(qm, dict) or qm.get("status") != "completed":
        die(f"{a.query_migrate}: migration status is "
            f"'{qm.get('status') if isinstance(qm, dict) else reply}', not 'completed'")
    ram = qm.get("ram")
    if not ram:
        die(f"{a.query_migrate}: no 'ram' statistics in the reply")

    # Dirty syncs: pair each start with the next end.
    syncs, start = [], None
    reaps = reaped = reap_us = full = 0
    with open(a.trace, errors="replace") as f:
        for ln in f:
            m = EVENT.match(ln.strip())
            if not m:
                continue
            t = int(m.group(1)) * 1000000 + int(m.group(2))
            ev, args = m.group(3), m.group(4) or ""
            if ev == "migration_bitmap_sync_start":
                start = t
            elif ev == "migration_bitmap_sync_end" and start is not None:
                dp = re.search(r"dirty_pages (\d+)", args)
                syncs.append((t - start, int(dp.group(1)) if dp else ""))
                start = None
            elif ev == "kvm_dirty_ring_reap":
                r = REAP.search(args)
                if r:
                    reaps += 1
                    reaped += int(r.group(1))
                    reap_us += int(r.group(2))
            elif ev == "kvm_dirty_ring_full":
                full += 1
    if not syncs:
        die(f"{a.trace}: no migration_bitmap_sync_start/end pair (was the source "
            "started with -trace migration_bitmap_sync_start -trace migration_bitmap_sync_end?)")

    # The guest's own view: its last report before the migrate command and its
    # last report on the source (it stops at the switchover).
    with open(a.serial, errors="replace") as f:
        lines = f.read().splitlines()
    before = [REPORT.search(ln) for ln in lines[:a.mark]]
    before = [m for m in before if m]
    after = [REPORT.search(ln) for ln in lines[a.mark:]]
    after = [m for m in after if m]
    if not before:
        die(f"{a.serial}: no KVMFORK-DIRTY report before the migration started")
    b = before[-1]
    rate_during = dropped_during = ""
    if after:
        e = after[-1]
        dt = int(e.group(1)) - int(b.group(1))
        if dt > 0:
            rate_during = round((int(e.group(2)) - int(b.group(2))) * 1000 / dt)
            dropped_during = int(e.group(3)) - int(b.group(3))

    mib = 1 << 20
    sync_us = [s for s, _ in syncs]
    run = {
        "vmm": a.vmm, "ring": a.ring, "rep": a.rep, "vcpus": a.vcpus,
        "wss_mib": a.wss, "target_pages_s": a.target,
        "rate_before_pages_s": b.group(4),
        "rate_during_pages_s": rate_during, "dropped_during": dropped_during,
        "max_bw_mib_s": a.bw, "downtime_limit_ms": a.downtime_limit,
        "total_ms": qm.get("total-time", ""), "downtime_ms": qm.get("downtime", ""),
        "setup_ms": qm.get("setup-time", ""), "iterations": ram.get("dirty-sync-count", ""),
        "transferred_mib": f"{ram.get('transferred', 0) / mib:.1f}",
        "precopy_mib": f"{ram.get('precopy-bytes', 0) / mib:.1f}",
        "downtime_mib": f"{ram.get('downtime-bytes', 0) / mib:.2f}",
        "normal_pages": ram.get("normal", ""), "duplicate_pages": ram.get("duplicate", ""),
        "mbps": f"{ram.get('mbps', 0):.0f}", "pages_per_s": ram.get("pages-per-second", ""),
        "dirty_pages_rate": ram.get("dirty-pages-rate", ""),
        "syncs_traced": len(syncs), "sync_us_median": f"{statistics.median(sync_us):.0f}",
        "sync_us_max": max(sync_us), "final_sync_us": sync_us[-1],
        "reaps": reaps, "reaped_pages": reaped, "reap_us": reap_us, "ring_full_exits": full,
    }
    append(a.runs, RUN_COLS, [run])
    # The last sync is migration's final one, taken with the guest stopped:
    # its time is part of the downtime.
    append(a.syncs, SYNC_COLS, [
        {"vmm": a.vmm, "ring": a.ring, "rep": a.rep, "iteration": i + 1,
         "final": int(i == len(syncs) - 1), "sync_us": s, "dirty_pages_period": dp}
        for i, (s, dp) in enumerate(syncs)])
    print(" ".join(f"{c}={run[c]}" for c in RUN_COLS))


if __name__ == "__main__":
    main()
