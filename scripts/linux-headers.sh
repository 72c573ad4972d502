#!/usr/bin/env bash
# scripts/linux-headers.sh {update|check}
# The KVM uAPI is defined once, in the kernel branch.  "update" runs the
# branch's headers_install and copies the headers listed in
# scripts/linux-headers.list into the repo's linux-headers/ (and into the QEMU
# tree if there is one); "check" says whether the repo's copies are current.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "linux-headers: error: $*" >&2; exit 1; }
BUILD=${BUILD:-$top/build}
linux=$BUILD/src/linux
[ -f "$linux/Makefile" ] || die "no kernel tree at $linux; run 'make trees'"
inst=$(mktemp -d); trap 'rm -rf "$inst"' EXIT
make -s -C "$linux" O="$inst/o" ARCH=x86 headers >"$inst/log" 2>&1 \
  || { tail -5 "$inst/log" >&2; die "make headers failed in $linux"; }
rc=0
while read -r dst hdr; do
  case "$dst" in ""|\#*) continue ;; esac
  f=$inst/o/usr/include/$hdr
  [ -f "$f" ] || die "kernel branch installs no $hdr"
  case "${1:-}" in
  update)
    mkdir -p "$top/$(dirname "$dst")"; cp "$f" "$top/$dst"
    [ -d "$BUILD/src/qemu" ] && cp "$f" "$BUILD/src/qemu/$dst"
    echo "linux-headers: $dst <- $hdr" ;;
  check)
    if ! cmp -s "$f" "$top/$dst"; then echo "linux-headers: $dst differs from the kernel branch's $hdr: run 'make linux-headers'"; rc=1; fi ;;
  *) die "usage: linux-headers.sh update|check" ;;
  esac
done < "$top/scripts/linux-headers.list"
[ "${1:-}" = check ] && [ $rc = 0 ] && echo "linux-headers: in sync with the kernel branch"
exit $rc
