#!/usr/bin/env python3
"""Self-test for check-screendump.py, no QEMU needed.

Renders a fake 80x25 VGA text screen with a made-up font into PNG files
(written here with zlib, rows using all five filter types) plus the matching
"xp /2000hx 0xb8000" text dump, then runs the checker on good and broken
variants.  Prints TAP; exits non-zero if any test fails.
"""

import os
import struct
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKER = os.path.join(HERE, "check-screendump.py")
COLS, ROWS, CW, CH = 80, 25, 9, 16

PALETTE = [(0, 0, 0), (0, 0, 170), (0, 170, 0), (0, 170, 170),
           (170, 0, 0), (170, 0, 170), (170, 85, 0), (170, 170, 170),
           (85, 85, 85), (85, 85, 255), (85, 255, 85), (85, 255, 255),
           (255, 85, 85), (255, 85, 255), (255, 255, 85), (255, 255, 255)]

MARKERS = ["KVMFORK-L2 hello from the L2 guest on kvmfork",
           "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789"]
LINES = ["Linux version 6.12.0-kvmfork (kvmfork@kvmfork) #1",
         "Run /init as init process",
         "KVMFORK-L2-READY release=6.12.0-kvmfork mode=screen mem=64"] + MARKERS


def glyph(ch):
    """16 rows of 8 bits; row 1 holds the code itself, so glyphs differ."""
    if ch in (0x00, 0x20):
        return [0] * CH
    rows = [0, ch]
    for y in range(2, 14):
        rows.append(((ch * 0x9E3779B1 + y * 0x85EBCA77) >> 13) & 0xff)
    return rows + [0, 0]


def make_cells():
    cells = [(0x20, 0x07)] * (COLS * ROWS)
    for r, text in enumerate(LINES):
        for c, t in enumerate(text):
            cells[r * COLS + c] = (ord(t), 0x07)
    # Untouched VGA memory reads as zero: make the last row that.
    cells[(ROWS - 1) * COLS:] = [(0, 0)] * COLS
    return cells


def render(cells, shift=0, cursor=(), broken=()):
    """Pixel rows (lists of RGB tuples).  shift moves the text down by rows;
    cursor cells get the underline cursor; broken cells are drawn inverted."""
    img = [[PALETTE[0]] * (COLS * CW) for _ in range(ROWS * CH)]
    for r in range(ROWS):
        for c in range(COLS):
            src = r - shift
            if not 0 <= src < ROWS:
                continue
            ch, attr = cells[src * COLS + c]
            fg, bg = PALETTE[attr & 0xf], PALETTE[(attr >> 4) & 0x7]
            bits = glyph(ch)
            if (r, c) in cursor:
                bits = bits[:14] + [0xff, 0xff]
            for y in range(CH):
                line = bits[y] ^ (0xff if (r, c) in broken else 0)
                for x in range(CW):
                    on = x < 8 and line & (0x80 >> x)
                    img[r * CH + y][c * CW + x] = fg if on else bg
    return img


# Deliberately its own copy, not check-screendump's: an encoder that shared
# the decoder's predictor would round-trip a wrong predictor unnoticed.
def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_row(ftype, row, prev, bpp):
    out = bytearray([ftype])
    for i, v in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        pred = [0, a, b, (a + b) >> 1, paeth(a, b, c)][ftype]
        out.append((v - pred) & 0xff)
    return out


def write_png(path, img, alpha=False, filters=(0,)):
    """Rows use the filter types in turn, so decoding of each is exercised."""
    bpp = 4 if alpha else 3
    height, width = len(img), len(img[0])
    raw, prev = bytearray(), bytes(width * bpp)
    for y, pixels in enumerate(img):
        row = bytes(v for p in pixels for v in (p + (255,) if alpha else p))
        raw += filter_row(filters[y % len(filters)], row, prev, bpp)
        prev = row

    def chunk(ctype, body):
        return (struct.pack(">I", len(body)) + ctype + body
                + struct.pack(">I", zlib.crc32(ctype + body)))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                + chunk(b"IDAT", zlib.compress(bytes(raw)))
                + chunk(b"IEND", b""))


def write_textdump(path, cells):
    with open(path, "w") as f:
        for i in range(0, len(cells), 8):
            vals = " ".join("0x%04x" % (attr << 8 | ch)
                            for ch, attr in cells[i:i + 8])
            f.write("%016x: %s\r\n" % (0xb8000 + 2 * i, vals))


class Tap:
    def __init__(self):
        self.n = self.failed = 0
        self.lines = []

    def ok(self, cond, name, detail=""):
        self.n += 1
        self.lines.append("%sok %d - %s" % ("" if cond else "not ", self.n,
                                            name))
        if not cond:
            self.failed += 1
            self.lines.extend("# " + l for l in detail.splitlines())

    def finish(self):
        print("1..%d" % self.n)
        print("\n".join(self.lines))
        return 1 if self.failed else 0


def run(png, dump, markers=MARKERS):
    p = subprocess.run([sys.executable, CHECKER, png, dump] + list(markers),
                       capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def main():
    tap = Tap()
    cells = make_cells()
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, "text.txt")
        write_textdump(dump, cells)
        good = render(cells)

        def case(name, img, want_rc, want_text, markers=MARKERS, **png):
            path = os.path.join(tmp, "%d.png" % tap.n)
            write_png(path, img, **png)
            rc, out = run(path, dump, markers)
            tap.ok(rc == want_rc and want_text in out, name,
                   "rc=%d (want %d)\n%s" % (rc, want_rc, out))

        case("good RGB screen passes", good, 0, "screendump OK: 720x400")
        case("good RGBA screen, all five filter types, passes", good, 0,
             "markers found", alpha=True, filters=(0, 1, 2, 3, 4))
        case("RGB with Sub/Up/Average/Paeth rows passes", good, 0,
             "screendump OK", filters=(4, 3, 2, 1))
        case("blank image fails", render([(0x20, 0x07)] * 2000), 1,
             "d. ")
        case("text shifted down one row fails", render(cells, shift=1), 1,
             "screendump FAIL")
        case("missing marker fails", good, 1, "b. marker 'KVMFORK-NOPE'",
             markers=MARKERS + ["KVMFORK-NOPE"])
        case("one cursor cell is tolerated", render(cells, cursor={(5, 0)}),
             0, "tolerated 1 inconsistent cell at row 5 col 0")
        # A wrong glyph is only detectable against another copy of the same
        # character (the checker has no font), so break a repeated 'e' and
        # a blank cell.
        case("two broken cells fail",
             render(cells, broken={(3, LINES[3].index("e")), (10, 10)}), 1,
             "c. 1 blank cells are not a single colour")
        case("wrong image size fails", [row[:640] for row in good], 1,
             "a. image is 640x400")

        bad = os.path.join(tmp, "bad.png")
        with open(bad, "wb") as f:
            f.write(b"GIF89a")
        rc, out = run(bad, dump)
        tap.ok(rc == 2 and "not a PNG" in out, "non-PNG input is an error",
               out)

        short = os.path.join(tmp, "short.txt")
        with open(short, "w") as f:
            f.write("00000000000b8000: 0x0741 0x0742\n")
        rc, out = run(os.path.join(tmp, "0.png"), short)
        tap.ok(rc == 2 and "need 2000" in out, "short text dump is an error",
               out)
    return tap.finish()


if __name__ == "__main__":
    sys.exit(main())
