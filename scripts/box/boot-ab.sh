#!/usr/bin/env bash
# scripts/box/boot-ab.sh OLD_QEMU NEW_QEMU [ROUNDS] [BOX OPTIONS...]
# Boots the box ROUNDS times (default 20) with each of two outer QEMU
# binaries, alternating (old, new, old, ...), so that load drift hits both
# alike, and counts per binary the boots whose QEMU died of a signal.
# Box options default to "--smp 4"; the suite is smoke.  Each boot's
# output stays in build/box/boot-ab/{old,new}-N/.  Used for QEMU patch
# 0013: keep the binary of a build without it, e.g.
#   cp build/qemu/qemu-system-x86_64 /tmp/qemu-old   (before the patch)
#   scripts/box/boot-ab.sh /tmp/qemu-old build/qemu/qemu-system-x86_64 20
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
old=${1:?usage: boot-ab.sh OLD_QEMU NEW_QEMU [ROUNDS] [BOX OPTIONS...]}
new=${2:?usage: boot-ab.sh OLD_QEMU NEW_QEMU [ROUNDS] [BOX OPTIONS...]}
rounds=${3:-20}
shift $(( $# < 3 ? $# : 3 ))
opts=("$@"); [ ${#opts[@]} -gt 0 ] || opts=(--smp 4)
for b in "$old" "$new"; do [ -x "$b" ] || { echo "boot-ab: not an executable: $b" >&2; exit 2; }; done
case $rounds in ''|*[!0-9]*|0) echo "boot-ab: ROUNDS must be a positive number, not '$rounds'" >&2; exit 2 ;; esac
out=$top/build/box/boot-ab; mkdir -p "$out"
declare -A died=([old]=0 [new]=0) other=([old]=0 [new]=0)
for ((i = 1; i <= rounds; i++)); do
  for v in old new; do
    [ $v = old ] && q=$old || q=$new
    d=$out/$v-$i; rm -rf "$d"
    BOX_QEMU=$q "$top/scripts/box/box" "${opts[@]}" --out "$d" smoke > "$d.log" 2>&1
    rc=$?
    if grep -q "the box's QEMU died of signal" "$d.log"; then died[$v]=$((died[$v] + 1)); r="QEMU died: $(grep -o 'died of signal [0-9]* ([A-Z]*)' "$d.log" | head -1)"
    elif [ $rc != 0 ]; then other[$v]=$((other[$v] + 1)); r="failed otherwise (see $d.log)"
    else r=ok; fi
    echo "round $i $v: $r"
  done
done
echo "# boot-ab: ${opts[*]}, $rounds boots each: old QEMU died in ${died[old]}, new in ${died[new]}; other failures: old ${other[old]}, new ${other[new]}"
