#!/usr/bin/python3
"""vga-qmp.py -- inside the box: drive one point of the VGA benchmark.

  vga-qmp.py --headers SAMPLES_CSV POINTS_CSV   (header rows, for new files)
  vga-qmp.py --qmp SOCK --trace FILE --serial-in FIFO --serial-log FILE
             --dump PPM --refreshes N --warmup W --hz R --base-s S
             --prefix P --samples CSV --points CSV

The L2 guest (scripts/box/guest/vga-guest.c) redraws part of a 1024x768x32
linear framebuffer.  With -display none nothing refreshes the display by
itself, so each QMP screendump is one refresh: graphic_hw_update ->
vga_draw_graphic -> memory_region_snapshot_and_clear_dirty, whose cost our
QEMU's vga_dirty_snapshot trace event reports (patch 0008).

1. W warm-up screendumps, R per second: the first after the mode set is a
   full update (no harvest, no event); the first dump's PPM size proves
   QEMU is in the graphics mode (1024x768; text mode would give 720x400).
2. Baseline window of S seconds without refreshes: KVM's signal_exits
   (summed over vCPUs, query-stats) before and after, and the guest's
   progress ('p' on its serial line: frames drawn, RAM pages written).
3. Refresh window: N screendumps at R per second on a fixed schedule, the
   same counters around it.

Appends to --samples one row per harvest of the refresh window (PREFIX,
sample, harvest_us, harvest_kib, dump_ms) and to --points one row for the
point (PREFIX, then the window figures: see POINT_COLS).  PREFIX is the
caller's leading columns (path,ring,vcpus,ram_mb).  Exit status 1 on any
failure, with one line naming it; a CSV row is only written for a point
that was measured.
"""
import argparse
import json
import os
import re
import socket
import sys
import time

SAMPLE_COLS = "sample,harvest_us,harvest_kib,dump_ms"
POINT_COLS = ("refreshes,harvests,refresh_hz,window_s,kicks_per_s,base_kicks_per_s,"
              "refresh_kicks_per_s,kicks_per_refresh,ring_flushes,sent_kicks_per_s,reaped_pages,"
              "exits_per_s,base_exits_per_s,mmio_exits_per_s,base_mmio_exits_per_s,"
              "base_fps,refresh_fps,base_draw_us,refresh_draw_us,"
              "base_pages_per_s,refresh_pages_per_s")
TIMEOUT = 60.0
# signal_exits: the kicks that found their vCPU in KVM_RUN (a kick that finds
# it in QEMU, e.g. handling an MMIO exit, is not counted by KVM: compare
# sent_kicks_per_s, one per vCPU per dirty-ring flush, what
# kvm_cpu_synchronize_kick_all sends); the others say where else the vCPUs
# went.
STATS = ("signal_exits", "exits", "mmio_exits", "io_exits")


def die(msg):
    print(f"vga-qmp: {msg}", flush=True)
    sys.exit(1)


class Qmp:
    def __init__(self, path):
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.connect(path)
                break
            except OSError as e:
                self.s.close()
                if time.monotonic() > deadline:
                    die(f"cannot connect to QMP at {path}: {e}")
                time.sleep(0.2)
        self.s.settimeout(TIMEOUT)
        self.f = self.s.makefile("rb")
        self.line()                              # greeting
        self.cmd("qmp_capabilities")

    def line(self):
        try:
            ln = self.f.readline()
        except socket.timeout:
            die(f"no QMP reply within {TIMEOUT:.0f} s")
        if not ln:
            die("QMP connection closed (QEMU gone?)")
        return json.loads(ln)

    def cmd(self, name, **args):
        msg = {"execute": name}
        if args:
            msg["arguments"] = args
        self.s.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            r = self.line()
            if "return" in r:
                return r["return"]
            if "error" in r:
                die(f"QMP {name} failed: {r['error'].get('desc', r['error'])}")
            # events ({"event": ...}) are skipped

    def exits(self):
        """KVM's per-vCPU exit counters, each summed over the vCPUs."""
        r = self.cmd("query-stats", target="vcpu",
                     providers=[{"provider": "kvm", "names": list(STATS)}])
        sums = {n: 0 for n in STATS}
        nvcpu = len(r)
        for e in r:
            for s in e["stats"]:
                if s["name"] in sums:
                    sums[s["name"]] += s["value"]
        missing = [n for n in STATS if not any(s["name"] == n for e in r for s in e["stats"])]
        if missing or not nvcpu:
            die(f"query-stats has no kvm {', '.join(missing) or 'vCPUs'} (KVM without binary stats?)")
        return sums, nvcpu


class Guest:
    """The guest's 'p' replies: KVMFORK-VGA stat ns=.. frames=.. draw_ns=.. pages=.."""
    PAT = re.compile(r"KVMFORK-VGA stat ns=(\d+) frames=(\d+) draw_ns=(\d+) pages=(\d+)")

    def __init__(self, fifo, log):
        self.fifo, self.log = fifo, log

    def stats(self):
        with open(self.log, errors="replace") as f:
            return self.PAT.findall(f.read())

    def stat(self):
        n = len(self.stats())
        with open(self.fifo, "w") as f:
            f.write("p")
        deadline = time.monotonic() + TIMEOUT
        while True:
            s = self.stats()
            if len(s) > n:
                return [int(v) for v in s[-1]]
            if time.monotonic() > deadline:
                die(f"the guest did not answer 'p' within {TIMEOUT:.0f} s ({self.log})")
            time.sleep(0.05)


def ppm_size(path):
    with open(path, "rb") as f:
        head = f.read(64).split()
    if len(head) < 3 or head[0] != b"P6":
        die(f"{path} is not a binary PPM")
    return int(head[1]), int(head[2])


def rate(g0, g1):
    """The guest's frames/s, microseconds per frame drawn, pages/s between two stats."""
    s = (g1[0] - g0[0]) / 1e9
    frames = g1[1] - g0[1]
    draw = (g1[2] - g0[2]) / 1e3 / frames if frames else float("nan")
    return ((frames / s, draw, (g1[3] - g0[3]) / s) if s > 0 else (0.0, draw, 0.0))


def per_s(e0, e1, secs, name):
    return (e1[name] - e0[name]) / secs


PREFIX_COLS = "path,ring,vcpus,ram_mb"


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--headers":
        for path, cols in zip(sys.argv[2:], (SAMPLE_COLS, POINT_COLS)):
            if not os.path.exists(path) or not os.path.getsize(path):
                with open(path, "w") as f:
                    f.write(f"{PREFIX_COLS},{cols}\n")
        return
    ap = argparse.ArgumentParser()
    for opt in ("qmp", "trace", "serial-in", "serial-log", "dump", "prefix", "samples", "points"):
        ap.add_argument("--" + opt, required=True)
    ap.add_argument("--refreshes", type=int, required=True)
    ap.add_argument("--warmup", type=int, required=True)
    ap.add_argument("--hz", type=float, required=True)
    ap.add_argument("--base-s", type=float, required=True)
    a = ap.parse_args()
    if a.refreshes < 1 or a.warmup < 2 or a.hz <= 0 or a.base_s <= 0:
        die("want --refreshes >= 1, --warmup >= 2 (the first is a full update), --hz > 0, --base-s > 0")

    q = Qmp(a.qmp)
    g = Guest(a.serial_in, a.serial_log)
    period = 1.0 / a.hz

    def dump():
        t = time.monotonic()
        q.cmd("screendump", filename=a.dump)
        return time.monotonic() - t

    for i in range(a.warmup):
        dump()
        if i == 0:
            w, h = ppm_size(a.dump)
            if (w, h) != (1024, 768):
                die(f"screendump is {w}x{h}, not 1024x768: QEMU is not drawing the guest's VBE mode")
        time.sleep(period)

    e0, nvcpu = q.exits()
    t0 = time.monotonic()
    g0 = g.stat()
    time.sleep(a.base_s)
    g1 = g.stat()
    e1, _ = q.exits()
    t1 = time.monotonic()

    mark = os.path.getsize(a.trace)
    lat = []
    e2, _ = q.exits()
    t2 = time.monotonic()
    g2 = g.stat()
    for i in range(a.refreshes):
        delay = t2 + i * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        lat.append(dump())
    g3 = g.stat()
    e3, _ = q.exits()
    t3 = time.monotonic()

    with open(a.trace, errors="replace") as f:
        f.seek(mark)
        tr = f.read()
    snaps = [(int(s, 16), int(ns)) for s, ns in
             re.findall(r"vga_dirty_snapshot start 0x[0-9a-f]+ size 0x([0-9a-f]+) took (-?\d+) ns", tr)]
    flushes = len(re.findall(r"kvm_dirty_ring_flush 1\b", tr))
    reaped = sum(int(n) for n in re.findall(r"kvm_dirty_ring_reap reaped (\d+) pages", tr))
    if not snaps:
        die(f"no vga_dirty_snapshot events in {a.trace} for {a.refreshes} screendumps "
            "(QEMU without patch 0008, or every refresh a full update)")
    if len(snaps) != a.refreshes:
        print(f"vga-qmp: note: {len(snaps)} harvests for {a.refreshes} screendumps", flush=True)

    with open(a.samples, "a") as f:
        for i, (size, ns) in enumerate(snaps):
            d = lat[i] * 1e3 if i < len(lat) else float("nan")
            f.write(f"{a.prefix},{i},{ns / 1e3:.1f},{size // 1024},{d:.1f}\n")
    base_s, win_s = t1 - t0, t3 - t2
    kps, bkps = per_s(e2, e3, win_s, "signal_exits"), per_s(e0, e1, base_s, "signal_exits")
    bfps, bdraw, bpps = rate(g0, g1)
    rfps, rdraw, rpps = rate(g2, g3)
    row = (f"{a.prefix},{a.refreshes},{len(snaps)},{a.refreshes / win_s:.2f},{win_s:.2f},"
           f"{kps:.1f},{bkps:.1f},{kps - bkps:.1f},{(kps - bkps) / (a.refreshes / win_s):.2f},"
           f"{flushes},{flushes * nvcpu / win_s:.1f},{reaped},"
           f"{per_s(e2, e3, win_s, 'exits'):.1f},{per_s(e0, e1, base_s, 'exits'):.1f},"
           f"{per_s(e2, e3, win_s, 'mmio_exits'):.1f},{per_s(e0, e1, base_s, 'mmio_exits'):.1f},"
           f"{bfps:.1f},{rfps:.1f},{bdraw:.0f},{rdraw:.0f},{bpps:.0f},{rpps:.0f}")
    with open(a.points, "a") as f:
        f.write(row + "\n")
    us = sorted(ns / 1e3 for _, ns in snaps)
    print(f"vga-qmp: {a.prefix}: {len(snaps)} harvests, median {us[len(us) // 2]:.1f} us; "
          f"kicks/s {kps:.1f} (base {bkps:.1f}, {nvcpu} vCPUs); ring flushes {flushes}; "
          f"guest fps {bfps:.1f} -> {rfps:.1f}, draw {bdraw:.0f} -> {rdraw:.0f} us/frame; "
          f"exits/s {per_s(e0, e1, base_s, 'exits'):.0f} -> {per_s(e2, e3, win_s, 'exits'):.0f}", flush=True)


if __name__ == "__main__":
    main()
