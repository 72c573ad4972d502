#!/usr/bin/env python3
"""check-screendump.py PNG TEXTDUMP MARKER...

Checks that a QMP screendump (PNG) of a -vga std guest in 80x25 text mode
really shows the text that sits in VGA memory.

PNG       720x400 screendump, 8-bit RGB or RGBA, non-interlaced.
TEXTDUMP  output of the HMP command "xp /2000hx 0xb8000": lines like
          "00000000000b8000: 0x074b 0x0756 ...", one 16-bit cell per value
          (low byte CP437 character, high byte attribute), 80x25 row-major.
MARKER    strings that must appear within one text row.

Checks, each failure printed on its own line:
  a. the image is 720x400 (9x16 pixel cells);
  b. every MARKER appears in a text row;
  c. blank cells (0x00, 0x20) are a single colour;
  d. visible printable cells (0x21..0x7e) hold at least two colours;
  e. on rows holding a marker: equal (char, attr) cells look identical and
     different printable characters with the same attribute look different;
     at least 10 distinct characters must be there to compare.
The blinking text cursor can alter one cell, so a single cell failing c, d
or the identical-looking part of e is tolerated and named in the summary.

Exit status: 0 all checks hold, 1 some check failed, 2 bad usage or input.
"""

import re
import struct
import sys
import zlib

COLS, ROWS = 80, 25
CELL_W, CELL_H = 9, 16
WIDTH, HEIGHT = COLS * CELL_W, ROWS * CELL_H
MIN_DISTINCT = 10


class InputError(Exception):
    pass


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def unfilter(data, width, height, bpp):
    """Undo PNG per-row filtering; returns a list of raw row bytes."""
    stride = width * bpp
    if len(data) != height * (stride + 1):
        raise InputError("image data is %d bytes, expected %d"
                         % (len(data), height * (stride + 1)))
    rows = []
    prev = bytearray(stride)
    for y in range(height):
        ftype = data[y * (stride + 1)]
        row = bytearray(data[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if ftype == 0:
            pass
        elif ftype == 1:
            for i in range(bpp, stride):
                row[i] = (row[i] + row[i - bpp]) & 0xff
        elif ftype == 2:
            row = bytearray((r + p) & 0xff for r, p in zip(row, prev))
        elif ftype == 3:
            for i in range(stride):
                left = row[i - bpp] if i >= bpp else 0
                row[i] = (row[i] + ((left + prev[i]) >> 1)) & 0xff
        elif ftype == 4:
            for i in range(stride):
                if i >= bpp:
                    pred = paeth(row[i - bpp], prev[i], prev[i - bpp])
                else:
                    pred = prev[i]
                row[i] = (row[i] + pred) & 0xff
        else:
            raise InputError("row %d has unknown filter type %d" % (y, ftype))
        rows.append(bytes(row))
        prev = row
    return rows


def read_png(path):
    """Returns (width, height, bytes per pixel, list of raw rows)."""
    with open(path, "rb") as f:
        blob = f.read()
    if blob[:8] != b"\x89PNG\r\n\x1a\n":
        raise InputError("%s is not a PNG file" % path)
    pos, ihdr, idat = 8, None, []
    while True:
        if pos + 8 > len(blob):
            raise InputError("%s is truncated (no IEND chunk)" % path)
        length, ctype = struct.unpack(">I4s", blob[pos:pos + 8])
        body = blob[pos + 8:pos + 8 + length]
        crc = blob[pos + 8 + length:pos + 12 + length]
        if len(body) != length or len(crc) != 4:
            raise InputError("%s is truncated in a %r chunk" % (path, ctype))
        if struct.unpack(">I", crc)[0] != zlib.crc32(ctype + body):
            raise InputError("%s: bad CRC in %r chunk" % (path, ctype))
        pos += 12 + length
        if ctype == b"IHDR":
            if length != 13:
                raise InputError("%s: IHDR is %d bytes, not 13" % (path, length))
            ihdr = struct.unpack(">IIBBBBB", body)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
    if ihdr is None or not idat:
        raise InputError("%s lacks IHDR or IDAT" % path)
    width, height, depth, colour, comp, filt, interlace = ihdr
    if depth != 8 or colour not in (2, 6) or comp or filt or interlace:
        raise InputError("%s: unsupported PNG (bit depth %d, colour type %d, "
                         "interlace %d); need 8-bit RGB/RGBA, non-interlaced"
                         % (path, depth, colour, interlace))
    try:
        data = zlib.decompress(b"".join(idat))
    except zlib.error as e:
        raise InputError("%s: bad image data: %s" % (path, e))
    bpp = 3 if colour == 2 else 4
    return width, height, bpp, unfilter(data, width, height, bpp)


def read_textdump(path):
    """Returns 2000 (char, attr) pairs, row-major."""
    cells = []
    with open(path, encoding="ascii", errors="replace") as f:
        for line in f:
            if ":" not in line:
                continue
            for tok in re.findall(r"0x[0-9a-fA-F]+", line.split(":", 1)[1]):
                value = int(tok, 16)
                if value > 0xffff:
                    raise InputError("%s: %s is not a 16-bit cell" % (path, tok))
                cells.append((value & 0xff, value >> 8))
    if len(cells) < COLS * ROWS:
        raise InputError("%s holds %d cells, need %d (xp /2000hx 0xb8000)"
                         % (path, len(cells), COLS * ROWS))
    return cells[:COLS * ROWS]


def cell_block(rows, bpp, row, col):
    """The cell's pixels as a tuple of bpp-byte colours, row by row."""
    x0 = col * CELL_W * bpp
    pixels = []
    for y in range(row * CELL_H, (row + 1) * CELL_H):
        line = rows[y][x0:x0 + CELL_W * bpp]
        pixels.extend(line[i:i + bpp] for i in range(0, len(line), bpp))
    return tuple(pixels)


def visible(attr):
    """False if the foreground equals the background, i.e. text is hidden.
    The background is 3 bits with blinking enabled, 4 bits without."""
    fg = attr & 0x0f
    return fg != attr >> 4 and fg != (attr >> 4) & 0x07


def row_text(cells, row):
    return "".join(chr(ch) if 0x20 <= ch <= 0x7e else "\ufffd"
                   for ch, _ in cells[row * COLS:(row + 1) * COLS])


def check(png, textdump, markers):
    """Returns (list of failure lines, summary line)."""
    width, height, bpp, rows = read_png(png)
    cells = read_textdump(textdump)
    if (width, height) != (WIDTH, HEIGHT):
        return (["a. image is %dx%d, expected %dx%d (80x25 VGA text mode)"
                 % (width, height, WIDTH, HEIGHT)], None)

    failures = []
    texts = [row_text(cells, r) for r in range(ROWS)]
    marker_rows = set()
    for m in markers:
        found = [r for r in range(ROWS) if m in texts[r]]
        if not found:
            failures.append("b. marker %r not in the text grid" % m)
        marker_rows.update(found)

    blocks = {}
    blank_bad, glyph_bad, checked = [], [], 0
    for r in range(ROWS):
        for c in range(COLS):
            ch, attr = cells[r * COLS + c]
            block = cell_block(rows, bpp, r, c)
            blocks[(r, c)] = block
            if ch in (0x00, 0x20):
                checked += 1
                if len(set(block)) != 1:
                    blank_bad.append((r, c))
            elif 0x21 <= ch <= 0x7e and visible(attr):
                checked += 1
                if len(set(block)) < 2:
                    glyph_bad.append((r, c))

    # e: one reference look per (char, attr), the most common one, so a
    # single cursor-covered cell shows up as the odd one out.
    groups = {}
    for r in sorted(marker_rows):
        for c in range(COLS):
            groups.setdefault(cells[r * COLS + c], []).append((r, c))
    look, mismatch = {}, []
    for key, where in groups.items():
        counts = {}
        for pos in where:
            counts[blocks[pos]] = counts.get(blocks[pos], 0) + 1
        look[key] = max(counts, key=counts.get)
        mismatch.extend(pos for pos in where if blocks[pos] != look[key])
    printable = {k: b for k, b in look.items() if 0x20 <= k[0] <= 0x7e}
    distinct = {ch for ch, _ in printable}
    same_look = {}
    for (ch, attr), block in printable.items():
        same_look.setdefault((attr, block), []).append(ch)
    clashes = sorted(chs for chs in same_look.values() if len(chs) > 1)

    odd = sorted(set(blank_bad) | set(glyph_bad) | set(mismatch))
    if len(odd) > 1:
        if blank_bad:
            failures.append("c. %d blank cells are not a single colour "
                            "(first at row %d col %d)"
                            % ((len(blank_bad),) + blank_bad[0]))
        if glyph_bad:
            failures.append("d. %d character cells show no glyph "
                            "(first at row %d col %d)"
                            % ((len(glyph_bad),) + glyph_bad[0]))
        if mismatch:
            failures.append("e. %d cells look unlike others with the same "
                            "character and attribute (first at row %d col %d)"
                            % ((len(mismatch),) + mismatch[0]))
    if marker_rows and len(distinct) < MIN_DISTINCT:
        failures.append("e. only %d distinct characters on marker rows, "
                        "need %d" % (len(distinct), MIN_DISTINCT))
    if clashes:
        failures.append("e. different characters look identical: %s"
                        % ", ".join(repr("".join(map(chr, chs)))
                                    for chs in clashes[:5]))
    if failures:
        return failures, None

    summary = ("screendump OK: %dx%d, %d text cells checked, markers found: %s"
               % (width, height, checked, ", ".join(map(repr, markers))))
    if odd:
        summary += ("; tolerated 1 inconsistent cell at row %d col %d "
                    "(cursor?)" % odd[0])
    return [], summary


def main(argv):
    if len(argv) < 4:
        print("usage: check-screendump.py PNG TEXTDUMP MARKER...",
              file=sys.stderr)
        return 2
    try:
        failures, summary = check(argv[1], argv[2], argv[3:])
    except (InputError, OSError) as e:
        print("check-screendump: error: %s" % e, file=sys.stderr)
        return 2
    for line in failures:
        print("screendump FAIL: %s" % line)
    if failures:
        return 1
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
