#!/usr/bin/env bash
# scripts/box/mkinitramfs.sh OUT.cpio.gz INIT [SRC=DEST ...]
# Packs a tiny initramfs: busybox-static (applets as symlinks) unless INIT is
# a static binary that needs nothing, INIT as /init, extra files as given.
# Written to a temp file and renamed, so a failed run leaves nothing behind.
set -euo pipefail
die() { echo "mkinitramfs: error: $*" >&2; exit 1; }
out=${1:?usage: mkinitramfs.sh OUT INIT [SRC=DEST...]}; init=${2:?}; shift 2
stage=$(mktemp -d); trap 'rm -rf "$stage" "$out.tmp"' EXIT
mkdir -p "$stage"/{bin,sbin,dev,proc,sys,tmp,usr,out,etc,root}
if [ "${BUSYBOX:-1}" = 1 ]; then
  bb=/bin/busybox
  [ -x "$bb" ] && "$bb" --list >/dev/null 2>&1 || die "$bb missing: install busybox-static (scripts/setup-apt.sh)"
  ! readelf -l "$bb" 2>/dev/null | grep -q "program interpreter" \
    || die "$bb is dynamically linked: install busybox-static, not busybox"
  cp "$bb" "$stage/bin/busybox"
  # "busybox --list" names busybox itself: linking that would overwrite it.
  for a in $("$stage/bin/busybox" --list); do
    [ "$a" = busybox ] || ln -sf busybox "$stage/bin/$a"
  done
fi
cp "$init" "$stage/init"; chmod 755 "$stage/init"
for pair in "$@"; do
  s=${pair%%=*} d=${pair#*=}
  [ -e "$s" ] || die "$s missing"
  mkdir -p "$stage/$(dirname "$d")"; cp -L "$s" "$stage/$d"
done
(cd "$stage" && find . | LC_ALL=C sort | cpio -o -H newc --quiet --reproducible 2>/dev/null || find . | LC_ALL=C sort | cpio -o -H newc --quiet) | gzip -9n > "$out.tmp"
mv "$out.tmp" "$out"
