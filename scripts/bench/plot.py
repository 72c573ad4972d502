#!/usr/bin/python3
"""plot.py -- plot and tabulate one benchmark's raw CSV (make bench).

  plot.py CSV PNG --x COL --y COL[=LABEL] [--y ...] --series COL[,COL...]
          [--facet COL] [--ratio-x VALUE | --ratio-series COL=VALUE]
          [--title TEXT] [--logy]   (--logy: the first y metric only)

CSV: the harness's file: '#' header lines (machine, versions, date), then
a header row, then one row per sample.  For every facet (one column of
subplots each), every y metric (one row of subplots each) and every series
(one line each), the median over the samples at each x is plotted, with a
bar from the 25th to the 75th percentile.

The table printed on stdout gives, per facet, series and x: the number of
samples, the median of each y, and a ratio measured inside this same run:
with --ratio-x V, the first y's median divided by the same series' median
at x = V (e.g. latency with N vCPUs running against none); with
--ratio-series COL=VALUE, divided by the median of the series whose COL is
VALUE at the same x (e.g. our path against upstream's).  Exit status 2 on
bad arguments or a CSV without the named columns, naming them.
"""
import argparse
import textwrap
import csv
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def die(msg):
    print("plot.py: " + msg, file=sys.stderr)
    sys.exit(2)


def num(v):
    try:
        return float(v)
    except ValueError:
        return None


def quantile(vals, q):
    s = sorted(vals)
    if len(s) == 1:
        return s[0]
    pos = q * (len(s) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def load(path):
    comments, rows = [], []
    with open(path, newline="") as f:
        lines = [ln for ln in f]
    body = []
    for ln in lines:
        if ln.startswith("#"):
            comments.append(ln[1:].strip())
        elif ln.strip():
            body.append(ln)
    if not body:
        die(f"{path}: no header row and no samples")
    rows = list(csv.DictReader(body))
    if not rows:
        die(f"{path}: a header row but no samples")
    return comments, rows


def fmt(v):
    """A median for the table: one decimal, or three digits below 10."""
    return f"{v:.1f}" if abs(v) >= 10 or v == 0 else f"{v:.3g}"


def xkey(v):
    n = num(v)
    return (0, n, "") if n is not None else (1, 0, v)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv")
    ap.add_argument("png")
    ap.add_argument("--x", required=True)
    ap.add_argument("--y", action="append", required=True)
    ap.add_argument("--series", required=True)
    ap.add_argument("--facet")
    ap.add_argument("--ratio-x")
    ap.add_argument("--ratio-series")
    ap.add_argument("--title", default="")
    ap.add_argument("--logy", action="store_true")
    a = ap.parse_args()
    if a.ratio_x is not None and a.ratio_series:
        die("--ratio-x and --ratio-series exclude each other")

    comments, rows = load(a.csv)
    ys = []
    for spec in a.y:
        col, _, label = spec.partition("=")
        ys.append((col, label or col))
    scols = a.series.split(",")
    need = [a.x] + [c for c, _ in ys] + scols + ([a.facet] if a.facet else [])
    rs_col = rs_val = None
    if a.ratio_series:
        rs_col, sep, rs_val = a.ratio_series.partition("=")
        if not sep:
            die(f"--ratio-series wants COL=VALUE, not '{a.ratio_series}'")
        need.append(rs_col)
    missing = [c for c in need if c not in rows[0]]
    if missing:
        die(f"{a.csv}: no column(s) {', '.join(missing)}; it has {', '.join(rows[0].keys())}")

    # data[facet][series][x][ycol] -> list of values
    data = {}
    for r in rows:
        fac = r[a.facet] if a.facet else ""
        ser = "/".join(r[c] for c in scols)
        d = data.setdefault(fac, {}).setdefault(ser, {}).setdefault(r[a.x], {})
        for col, _ in ys:
            v = num(r[col])
            if v is not None:
                d.setdefault(col, []).append(v)

    facets = sorted(data, key=xkey)
    fig, axes = plt.subplots(len(ys), len(facets), squeeze=False,
                             figsize=(5.5 * len(facets), 3.4 * len(ys)))
    for j, fac in enumerate(facets):
        for i, (col, label) in enumerate(ys):
            ax = axes[i][j]
            for ser in sorted(data[fac]):
                xs = sorted((x for x in data[fac][ser] if data[fac][ser][x].get(col)), key=xkey)
                if not xs:
                    continue
                med = [statistics.median(data[fac][ser][x][col]) for x in xs]
                lo = [m - quantile(data[fac][ser][x][col], 0.25) for m, x in zip(med, xs)]
                hi = [quantile(data[fac][ser][x][col], 0.75) - m for m, x in zip(med, xs)]
                px = [num(x) if num(x) is not None else x for x in xs]
                ax.errorbar(px, med, yerr=[lo, hi], marker="o", capsize=3, label=ser)
            ax.set_xlabel(a.x)
            ax.set_ylabel(label)
            if a.logy and i == 0:
                ax.set_yscale("log")
            ax.grid(True, alpha=0.3)
            if i == 0:
                # Wrapped: a long title ran off the figure's edge.
                ax.set_title(f"{a.facet}={fac}" if a.facet else textwrap.fill(a.title, 60),
                             fontsize=10)
            ax.legend(fontsize=8)
    if a.facet and a.title:
        fig.suptitle(textwrap.fill(a.title, 90))
    stamp = next((c for c in comments if c.startswith("date=") or " date=" in c), "")
    fig.text(0.01, 0.005, stamp[:160], fontsize=6, alpha=0.7)
    fig.tight_layout(rect=(0, 0.02, 1, 0.97 if a.facet and a.title else 1))
    fig.savefig(a.png, dpi=100)

    # The table: medians, and ratios measured within this run.
    y0 = ys[0][0]
    head = [a.facet] if a.facet else []
    head += ["series", a.x, "n"] + [f"median {c}" for c, _ in ys]
    if a.ratio_x is not None:
        head.append(f"{y0} / {y0}@{a.x}={a.ratio_x}")
    elif rs_col:
        head.append(f"{y0} / {y0}@{rs_col}={rs_val}")
    out = [head]
    for fac in facets:
        for ser in sorted(data[fac]):
            # The base of a series: the one that differs from it only in
            # rs_col, which is rs_val there (same op, same ring, ...).
            base_ser = None
            if rs_col:
                if rs_col in scols:
                    parts = ser.split("/")
                    parts[scols.index(rs_col)] = rs_val
                    base_ser = "/".join(parts)
                else:
                    cands = [s for s in data[fac]
                             if any(r[rs_col] == rs_val and "/".join(r[c] for c in scols) == s for r in rows)]
                    base_ser = cands[0] if cands else None
                if base_ser not in data[fac]:
                    base_ser = None
            for x in sorted(data[fac][ser], key=xkey):
                cell = data[fac][ser][x]
                n = len(cell.get(y0, []))
                row = ([fac] if a.facet else []) + [ser, x, str(n)]
                for col, _ in ys:
                    row.append(fmt(statistics.median(cell[col])) if cell.get(col) else "-")
                ratio = "-"
                base = None
                if a.ratio_x is not None:
                    base = data[fac][ser].get(a.ratio_x, {}).get(y0)
                elif base_ser:
                    base = data[fac][base_ser].get(x, {}).get(y0)
                if base and cell.get(y0) and statistics.median(base) != 0:
                    ratio = f"{statistics.median(cell[y0]) / statistics.median(base):.2f}x"
                if a.ratio_x is not None or rs_col:
                    row.append(ratio)
                out.append(row)
    widths = [max(len(r[k]) for r in out) for k in range(len(head))]
    for r in out:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))


if __name__ == "__main__":
    main()
