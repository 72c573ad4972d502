#!/usr/bin/env bash
# scripts/build-kernel.sh SRC OUT
# Builds the kernel branch: tinyconfig + arch/x86/configs/kvmfork.config into
# OUT/arch/x86/boot/bzImage, then the KVM selftests (static) into
# OUT/selftests/kvm.  Every option the fragment asks for must survive
# olddefconfig, or the build stops naming it.
set -euo pipefail
die() { echo "build-kernel: error: $*" >&2; exit 1; }
src=$(cd "${1:?usage: build-kernel.sh SRC OUT}" && pwd) || exit 1
mkdir -p "${2:?}"; out=$(cd "$2" && pwd)
frag=$src/arch/x86/configs/kvmfork.config
[ -f "$frag" ] || die "$frag missing: the tree lacks the kvmfork config fragment (make trees)"
jobs=${JOBS:-$(nproc)}
cc="gcc"; command -v ccache >/dev/null && cc="ccache gcc"
# Reproducible build identity (and ccache hits across clones).
export KBUILD_BUILD_USER=kvmfork KBUILD_BUILD_HOST=kvmfork KBUILD_BUILD_TIMESTAMP="2000-01-01"
# LOCALVERSION= (set, empty): no "+" for an untagged git tree; the release
# comes from the branch's localversion-kvmfork.
K() { make -s -C "$src" O="$out" ARCH=x86 CC="$cc" HOSTCC="$cc" LOCALVERSION= -j"$jobs" "$@"; }

stamp=$(cat "$frag" | sha256sum | cut -c1-16)
if [ ! -f "$out/.config" ] || [ "$(cat "$out/.kvmfork-config" 2>/dev/null)" != "$stamp" ]; then
  K tinyconfig >/dev/null
  K kvmfork.config >/dev/null
  bad=0
  while IFS= read -r line; do
    case "$line" in CONFIG_*=n) opt=${line%=n}; grep -qxE "$opt=.*" "$out/.config" && { echo "build-kernel: $opt is set, fragment wants it off" >&2; bad=1; } ;;
    CONFIG_*=*) grep -qxF "$line" "$out/.config" || { echo "build-kernel: $line did not stick (have: $(grep -E "^(# )?${line%%=*}[= ]" "$out/.config" || echo unset))" >&2; bad=1; } ;; esac
  done < "$frag"
  [ $bad = 0 ] || { rm -f "$out/.config"; die "config fragment does not apply; fix dependencies in $frag"; }
  echo "$stamp" > "$out/.kvmfork-config"
fi
echo "build-kernel: bzImage ($jobs jobs)"
K bzImage
echo "build-kernel: $(cat "$out/include/config/kernel.release") -> $out/arch/x86/boot/bzImage"

# KVM selftests, static, against this branch's own uAPI headers.
K headers >/dev/null
st=$out/selftests/kvm; mkdir -p "$st"
echo "build-kernel: KVM selftests"
make -s -C "$src/tools/testing/selftests/kvm" -j"$jobs" CC="$cc" OUTPUT="$st" \
  KHDR_INCLUDES="-isystem $out/usr/include" EXTRA_CFLAGS=-static >"$out/selftests.log" 2>&1 \
  || { grep -E "error|Error" "$out/selftests.log" | head -10 >&2; die "KVM selftests failed to build; log: $out/selftests.log"; }
echo "build-kernel: $(find "$st" -maxdepth 2 -type f -perm -u+x | wc -l) selftests in $st"
