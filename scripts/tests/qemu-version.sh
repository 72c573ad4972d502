#!/usr/bin/env bash
# Our QEMU names the fork and the exact series in -version and in QMP
# query-version's "package"; the KVM headers it was built with are the
# kernel branch's.
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$top/build}
q=$B/qemu/qemu-system-x86_64
want=$("$top/scripts/tree.sh" version qemu)
echo "1..3"
v=$("$q" -version 2>&1 | head -1)
if [ "$v" = "QEMU emulator version $(cat "$B/src/qemu/VERSION") ($want)" ]; then echo "ok 1 - -version says: $v"
else echo "not ok 1 - -version says '$v', want '... ($want)'"; fi
r=$(printf '%s\n' '{"execute":"qmp_capabilities"}' '{"execute":"query-version"}' '{"execute":"quit"}' \
    | timeout 30 "$q" -machine none -display none -nodefaults -qmp stdio 2>&1 | grep '"return": {"qemu"' | head -1)
case "$r" in *"\"package\": \"$want\""*) echo "ok 2 - QMP query-version package is \"$want\"" ;;
  *) echo "not ok 2 - QMP query-version: '$r', want package \"$want\"" ;; esac
if out=$("$top/scripts/linux-headers.sh" check 2>&1); then echo "ok 3 - $out"
else echo "not ok 3 - $(echo "$out" | head -1)"; fi
