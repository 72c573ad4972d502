#!/usr/bin/env bash
# scripts/fetch-upstream.sh {qemu|linux} DLDIR
#
# Downloads one pinned upstream artifact from Debian's archive into DLDIR,
# verifies its sha256 against upstream.lock and prints three lines:
#   path=<file>  version=<debian version>  fallback=<0|1>
# If the pinned version is no longer offered, takes the newest version of the
# same upstream series, warns loudly (both versions named) and verifies it
# against the archive's signed index instead of the pin.
set -euo pipefail
die() { echo "fetch-upstream: error: $*" >&2; exit 1; }
warn() { echo "fetch-upstream: WARNING: $*" >&2; }
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/upstream.lock"
what=${1:?usage: fetch-upstream.sh qemu|linux DLDIR}
dl=${2:?usage: fetch-upstream.sh qemu|linux DLDIR}
mkdir -p "$dl"

case "$what" in
qemu)  kind=src pkg=$QEMU_SRCPKG ver=$QEMU_DEBVER series=$QEMU_UPSTREAM_SERIES file=$QEMU_FILE sha=$QEMU_SHA256 ;;
linux) kind=bin pkg=$LINUX_PKG ver=$LINUX_DEBVER series=$LINUX_UPSTREAM_SERIES file=$LINUX_FILE sha=$LINUX_SHA256 ;;
*) die "unknown upstream '$what' (want qemu or linux)" ;;
esac

sha_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

# Already here and verified against the pin: nothing to do (offline rebuilds).
if sha_ok "$dl/$file" "$sha"; then
  printf 'path=%s\nversion=%s\nfallback=0\n' "$dl/$file" "$ver"; exit 0
fi

# Versions the archive offers for this package.
offered() {
  if [ $kind = src ]; then apt-cache showsrc "$pkg" 2>/dev/null | sed -n 's/^Version: //p'
  else apt-cache madison "$pkg" 2>/dev/null | awk -F'|' '{gsub(/ /,"",$2); print $2}'; fi | sort -u
}
upstream_of() { local v=${1#*:}; v=${v%-*}; echo "${v%%+*}"; }   # 1:10.0.2+ds-2 -> 10.0.2

vers=$(offered)
[ -n "$vers" ] || die "the archive offers no $pkg at all: run scripts/setup-apt.sh (needs root) and check the network"
fallback=0
if ! grep -qxF "$ver" <<<"$vers"; then
  newest=""
  for v in $vers; do
    case "$(upstream_of "$v")" in "$series".*) ;; *) continue ;; esac
    if [ -z "$newest" ] || dpkg --compare-versions "$v" gt "$newest"; then newest=$v; fi
  done
  [ -n "$newest" ] || die "pinned $pkg $ver is gone from the archive and no $series.x version is offered; update upstream.lock"
  warn "==================================================================="
  warn "pinned $pkg $ver is no longer in the archive;"
  warn "using the newest of the $series series instead: $newest"
  warn "its checksum comes from the archive's signed index, not upstream.lock;"
  warn "pin it in upstream.lock once the series is verified on it."
  warn "==================================================================="
  ver=$newest fallback=1
fi

# URI and sha256 from apt's (signed) index.  Asked from an empty directory:
# apt prints no URI for a file already present in the current one.
q=$(mktemp -d); trap 'rm -rf "$q"' EXIT
if [ $kind = src ]; then
  line=$(cd "$q" && apt-get source --print-uris --download-only "$pkg=$ver" 2>/dev/null | grep -E "\.orig\.tar\.[a-z]+' " | head -1) || true
else
  line=$(cd "$q" && apt-get download --print-uris "$pkg=$ver" 2>/dev/null | grep -E "^'" | head -1) || true
fi
[ -n "$line" ] || die "apt could not resolve $pkg=$ver to a download; run scripts/setup-apt.sh"
uri=$(awk '{print $1}' <<<"$line" | tr -d "'")
afile=$(awk '{print $2}' <<<"$line")
ahash=$(grep -oE 'SHA256:[0-9a-f]{64}' <<<"$line" | cut -d: -f2)
[ -n "$ahash" ] || die "the archive index gives no SHA256 for $afile"
if [ $fallback = 0 ]; then
  [ "$afile" = "$file" ] || die "archive names the file $afile, upstream.lock says $file; update upstream.lock"
  [ "$ahash" = "$sha" ] || die "checksum mismatch for $file: upstream.lock has $sha, the archive index has $ahash; do not trust either until resolved"
  sha=$ahash
else
  file=$afile sha=$ahash
fi
if ! sha_ok "$dl/$file" "$sha"; then
  rm -f "$dl/$file" "$dl/$file.part"
  /usr/lib/apt/apt-helper download-file "$uri" "$dl/$file.part" "SHA256:$sha" >/dev/null 2>"$dl/$file.err" \
    || { rm -f "$dl/$file.part"; die "download of $uri failed (archive unreachable, or checksum mismatch): $(tail -1 "$dl/$file.err")"; }
  sha_ok "$dl/$file.part" "$sha" || { rm -f "$dl/$file.part"; die "checksum mismatch for downloaded $file (want $sha)"; }
  mv "$dl/$file.part" "$dl/$file"; rm -f "$dl/$file.err"
fi
printf 'path=%s\nversion=%s\nfallback=%s\n' "$dl/$file" "$ver" "$fallback"
