#!/usr/bin/env bash
# Tests of the repo tooling, on scratch copies of the repo (the real repo and
# the real build trees are never changed):
#  - bad input: checksum mismatch, pinned version gone, a patch that does not
#    apply -- each a one-line error and nothing half-made left behind;
#  - export/status round trip: an edit committed inside a build tree comes
#    back as a patch file that applies to the pinned upstream; a new overlay
#    file comes back as a file; status says when repo and tree disagree.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
B=${BUILD:-$top/build}
work=$(mktemp -d -p "${TMPDIR:-/tmp}" kvmfork-tooling.XXXXXX)
trap 'rm -rf "$work"' EXIT
n=0 failed=0
ok() { n=$((n+1)); echo "ok $n - $*"; }
no() { n=$((n+1)); failed=1; echo "not ok $n - $*"; }
check() { local d=$1; shift; if "$@"; then ok "$d"; else no "$d"; fi; }
# A scratch repo: the tracked and new files of the real one, no build/.
scratch() {
  local d=$work/$1; mkdir -p "$d"
  (cd "$top" && git ls-files -co --exclude-standard -z | grep -zv '^build/' | xargs -0 cp --parents -t "$d")
  mkdir -p "$d/build"; ln -s "$B/dl" "$d/build/dl"; echo "$d"
}

# 1. checksum mismatch: stops, names the file, creates nothing.
r=$(scratch sum)
sed -i 's/^QEMU_SHA256=.*/QEMU_SHA256=0000000000000000000000000000000000000000000000000000000000000000/' "$r/upstream.lock"
err=$(BUILD=$r/build "$r/scripts/tree.sh" create qemu 2>&1); rc=$?
check "checksum mismatch is refused: $(echo "$err" | tail -1)" \
  test $rc != 0 -a "$(echo "$err" | grep -c 'checksum mismatch')" -ge 1 -a ! -e "$r/build/src/qemu" -a ! -e "$r/build/src/qemu.tmp"

# 2. pinned version gone from the archive: newest of the series, loudly.
r=$(scratch gone)
sed -i 's/^QEMU_DEBVER=.*/QEMU_DEBVER=1:10.0.0+ds-0kvmfork-gone/; s/^QEMU_SHA256=.*/QEMU_SHA256=00/' "$r/upstream.lock"
out=$("$r/scripts/fetch-upstream.sh" qemu "$r/build/dl" 2>"$work/gone.err"); rc=$?
check "pinned version gone: falls back to the newest 10.0.x and warns naming both" \
  test $rc = 0 -a "$(grep -c '^fallback=1' <<<"$out")" = 1 \
    -a "$(grep -c '1:10.0.0+ds-0kvmfork-gone is no longer in the archive' "$work/gone.err")" = 1 \
    -a "$(grep -c 'newest of the 10.0 series instead' "$work/gone.err")" = 1

# 3. a patch that no longer applies: one-line cause, no tree left behind.
r=$(scratch badpatch)
cat > "$r/patches/9999-does-not-apply.patch" <<'P'
From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001
From: test <test@localhost>
Subject: [PATCH] test: a patch whose context is not upstream's

---
 VERSION | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/VERSION b/VERSION
--- a/VERSION
+++ b/VERSION
@@ -1 +1 @@
-9.9.9
+10.0.2-kvmfork
P
echo 9999-does-not-apply.patch >> "$r/patches/series"
err=$(BUILD=$r/build "$r/scripts/tree.sh" create qemu 2>&1); rc=$?
check "non-applying patch is refused: $(echo "$err" | grep -m1 'does not apply')" \
  test $rc != 0 -a "$(echo "$err" | grep -c '9999-does-not-apply.patch does not apply')" = 1 \
    -a ! -e "$r/build/src/qemu" -a ! -e "$r/build/src/qemu.tmp"

# 4. round trip on a clone of the real QEMU tree.
r=$(scratch rt)
if [ -d "$B/src/qemu/.git" ]; then
  mkdir -p "$r/build/src"
  git clone -q --shared --no-checkout "$B/src/qemu" "$r/build/src/qemu" && git -C "$r/build/src/qemu" checkout -q "$(git -C "$B/src/qemu" rev-parse HEAD)"
  cp "$B/src/qemu/.git/kvmfork-inputs" "$B/src/qemu/.git/kvmfork-head" "$r/build/src/qemu/.git/"
  cp "$B/src/qemu/.kvmfork-version" "$r/build/src/qemu/"   # generated, not committed in the tree
  st() { BUILD=$r/build "$r/scripts/tree.sh" status qemu 2>&1; }
  s=$(st); check "fresh tree: status agrees$(grep -q 'repo and tree agree' <<<"$s" || echo ": $s" | head -3 | tr '\n' ' ')" grep -q 'repo and tree agree' <<<"$s"
  t=$r/build/src/qemu
  # A stale version file and a source file git hides are both reported.
  cp "$t/.kvmfork-version" "$work/ver"; echo "kvmfork-0.0 series 0/stale" > "$t/.kvmfork-version"
  s=$(st); check "stale .kvmfork-version: status names it" grep -q "kvmfork-version says 'kvmfork-0.0 series 0/stale'" <<<"$s"
  cp "$work/ver" "$t/.kvmfork-version"
  echo "accel/kvm/kvmfork-hidden.c" >> "$t/.git/info/exclude"; echo "/* hidden */" > "$t/accel/kvm/kvmfork-hidden.c"
  s=$(st); check "a source file hidden by git ignore rules: status names it" grep -q "ignored by git in the tree, so never exported: accel/kvm/kvmfork-hidden.c" <<<"$s"
  rm -f "$t/accel/kvm/kvmfork-hidden.c"
  echo "/* kvmfork tooling test */" >> "$t/accel/kvm/kvm-all.c"
  err=$(BUILD=$r/build "$r/scripts/tree.sh" export qemu 2>&1); rc=$?
  check "export refuses uncommitted upstream edits and changes nothing" \
    test $rc != 0 -a "$(grep -c 'uncommitted edits to upstream files' <<<"$err")" = 1 -a "$(ls "$r/patches" | wc -l)" = "$(ls "$top/patches" | wc -l)"
  git -C "$t" -c user.name=t -c user.email=t@l commit -q -a -m "accel/kvm: tooling test edit" -m "Why: to prove export round-trips."
  mkdir -p "$t/accel/kvm"; echo "/* a new kvmfork file */" > "$t/accel/kvm/kvmfork-tooling-test.c"
  s=$(st); check "after an edit in the tree: status says not exported" grep -q "not exported" <<<"$s"
  BUILD=$r/build "$r/scripts/tree.sh" export qemu >/dev/null 2>&1
  np=$(ls "$r"/patches/*.patch | wc -l); ntop=$(ls "$top"/patches/*.patch | wc -l)
  newp=$(ls "$r"/patches/*.patch | tail -1)
  check "export wrote the commit as patch $(basename "$newp")" \
    test "$np" = $((ntop+1)) -a "$(grep -c 'tooling test edit' "$newp")" = 1 -a "$(tail -1 "$r/patches/series")" = "$(basename "$newp")"
  check "export has no volatile headers (zero From hash, no signature)" \
    test "$(head -1 "$newp" | cut -d' ' -f2)" = 0000000000000000000000000000000000000000 -a "$(grep -c '^-- $' "$newp")" = 0
  check "export copied the new overlay file back" cmp -s "$t/accel/kvm/kvmfork-tooling-test.c" "$r/accel/kvm/kvmfork-tooling-test.c"
  s=$(st); check "after export: status agrees" grep -q 'repo and tree agree' <<<"$s"
  # The exported series applies to pristine upstream, in order.
  wt=$work/wt; git -C "$t" worktree add -q --detach "$wt" upstream
  applied=1
  while read -r p; do case "$p" in ""|\#*) continue;; esac
    git -C "$wt" -c user.name=t -c user.email=t@l am -q "$r/patches/$p" >/dev/null 2>&1 || { applied=0; break; }
  done < "$r/patches/series"
  check "exported series applies to the pinned upstream" test $applied = 1 -a "$(grep -c 'kvmfork tooling test' "$wt/accel/kvm/kvm-all.c")" = 1
  git -C "$t" worktree remove --force "$wt" 2>/dev/null
  # A change made in the repo only: the tree is stale.
  echo "# touched" >> "$r/patches/$(basename "$newp")"
  s=$(st); check "repo-side change: status says the tree is stale$(grep -q stale <<<"$s" || echo ": $s" | tr '\n' ' ')" grep -q "stale" <<<"$s"
else
  no "round trip: no QEMU tree at $B/src/qemu (make trees)"
fi
echo "1..$n"
exit $failed
