#!/usr/bin/env bash
# scripts/build-qemu.sh SRC BUILDDIR [ninja targets...]
# Configures (once, or when the flags change) and builds our QEMU:
# x86_64-softmmu with KVM and TCG.  Firmware comes from Debian's seabios and
# ipxe-qemu packages through --firmwarepath (the +ds tarball has no blobs).
set -euo pipefail
die() { echo "build-qemu: error: $*" >&2; exit 1; }
src=$(cd "${1:?usage: build-qemu.sh SRC BUILDDIR [targets]}" && pwd) || exit 1; out=${2:?}; shift 2
mkdir -p "$out"; out=$(cd "$out" && pwd)
[ -f "$src/configure" ] || die "no QEMU tree at $src; run 'make trees'"
for f in /usr/share/seabios/bios-256k.bin /usr/share/seabios/vgabios-stdvga.bin; do
  [ -f "$f" ] || die "$f missing: install Debian's seabios package (scripts/setup-apt.sh)"
done
flags=(--target-list=x86_64-softmmu --enable-kvm --enable-tcg --enable-slirp
       --enable-fdt=system --enable-png --disable-docs --disable-werror
       --disable-install-blobs --python=/usr/bin/python3
       --firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu)
mkdir -p "$out"
# gcc-multilib is what lets configure build the i386 option ROMs
# (linuxboot_dma.bin for -kernel); configure silently skips them without it.
echo 'int main(void){return 0;}' | gcc -m32 -x c -o /dev/null - 2>/dev/null \
  || die "gcc cannot build 32-bit code; install gcc-multilib (scripts/setup-apt.sh)"
# QEMU's configure hands meson an explicit compiler, which turns meson's own
# ccache detection off: name ccache's masquerading gcc instead.
[ -x /usr/lib/ccache/gcc ] && flags+=(--cc=/usr/lib/ccache/gcc --host-cc=/usr/lib/ccache/gcc)
want=$(printf '%s\n' "${flags[@]}" "$src" optionroms-v1)
if [ ! -f "$out/build.ninja" ] || [ "$(cat "$out/.kvmfork-configure" 2>/dev/null)" != "$want" ]; then
  rm -rf "$out"; mkdir -p "$out"
  (cd "$out" && "$(cd "$src" && pwd)/configure" "${flags[@]}") > "$out.configure.log" 2>&1 \
    || { tail -20 "$out.configure.log" >&2; die "configure failed; full log: $out.configure.log"; }
  printf '%s\n' "$want" > "$out/.kvmfork-configure"
fi
ninja -C "$out" ${JOBS:+-j"$JOBS"} "$@"
make -s -C "$out/pc-bios/optionrom" >/dev/null || die "option ROMs failed to build"

# Run from the build directory, QEMU resolves its data and firmware paths
# under $out/qemu-bundle (util/cutils.c:get_relocated_path).  Point those at
# Debian's firmware packages and at the option ROMs we just built, so the
# binary finds bios-256k.bin, vgabios-stdvga.bin and linuxboot_dma.bin with
# no -L, exactly as an installed one would.
b=$out/qemu-bundle
for d in /usr/share/seabios /usr/lib/ipxe/qemu; do
  mkdir -p "$b$(dirname "$d")"; ln -sfn "$d" "$b$d"
done
datadir=$(find "$b" -type d -path '*/share/qemu' -not -path "$b/usr/share/qemu" | head -1)
[ -n "$datadir" ] || die "no share/qemu in $b"
for r in "$out"/pc-bios/optionrom/*.bin; do ln -sfn "$r" "$datadir/$(basename "$r")"; done
