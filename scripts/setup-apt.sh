#!/usr/bin/env bash
# scripts/setup-apt.sh - make Debian's archive offer what kvmfork builds from.
#
# Adds, only when missing: deb-src entries for bookworm (QEMU source package),
# and the bookworm-backports suite (meson >= 1.5, python3-pycotap, the stock
# QEMU 10.0 baseline, libvirt 11, linux-source-6.12). Idempotent: a second run
# changes nothing.  Then installs the host packages listed in scripts/host-packages.
set -euo pipefail
die() { echo "setup-apt: error: $*" >&2; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)

command -v apt-get >/dev/null || die "apt-get not found: kvmfork needs a Debian 12 (bookworm) host"
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] || echo "setup-apt: warning: host is ${PRETTY_NAME:-unknown}, not Debian 12; continuing" >&2

srcfile=/etc/apt/sources.list.d/kvmfork.sources
uri=$(grep -hoE '^URIs: *http[^ ]*debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}')
[ -n "$uri" ] || uri=$(grep -hoE '^deb +http[^ ]*debian/? ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -1 | awk '{print $2}')
[ -n "$uri" ] || uri=http://deb.debian.org/debian
securi=${uri%/debian*}/debian-security

# What other apt source files already provide (our own file excluded, so
# that re-running computes the same content and leaves it alone).
others=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && [ "$f" != "$srcfile" ] && others+=("$f")
done
provided() { [ "${#others[@]}" -gt 0 ] && cat "${others[@]}" | grep -v '^\s*#' | grep -qE "$1"; }
want=""
add_entry() { want="$want$1"$'\n\n'; }
provided 'bookworm-backports' || add_entry "Types: deb deb-src
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
if ! provided '^(Types:.*deb-src|deb-src )'; then
  add_entry "Types: deb-src
URIs: $uri
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
  add_entry "Types: deb-src
URIs: $securi
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
fi

# Packages: plain names from bookworm, "bpo:NAME" from bookworm-backports,
# "bpo-pkg:NAME" only NAME itself from bookworm-backports (its dependencies
# from bookworm where bookworm's versions suffice: libvirt would otherwise
# pull in backports' systemd).
plain=() bpo=() bpopkg=()
while read -r p _; do
  case "$p" in ""|\#*) continue;; bpo:*) bpo+=("${p#bpo:}");; bpo-pkg:*) bpopkg+=("${p#bpo-pkg:}");; *) plain+=("$p");; esac
done < "$here/host-packages"
# An installed package counts only at the version its list asks for: a
# bookworm libvirt already there must not pass for backports' libvirt 11.
installed() { # name [suite]
  dpkg-query -W -f '${Status}' "$1" 2>/dev/null | grep -q "ok installed" || return 1
  [ -z "${2:-}" ] && return 0
  local v; v=$(dpkg-query -W -f '${Version}' "$1")
  [[ "$v" == *bpo12* ]]
}
missing=() missing_bpo=() missing_bpopkg=()
for p in "${plain[@]}"; do installed "$p" || missing+=("$p"); done
for p in "${bpo[@]}"; do installed "$p" || missing_bpo+=("$p"); done
for p in "${bpopkg[@]}"; do installed "$p" bpo || missing_bpopkg+=("$p/bookworm-backports"); done

# Nothing to change: no root needed.
if [ "$(cat "$srcfile" 2>/dev/null)" = "$(printf '%s' "$want")" ] && [ ${#missing[@]} = 0 ] && [ ${#missing_bpo[@]} = 0 ] && [ ${#missing_bpopkg[@]} = 0 ]; then
  echo "setup-apt: host ready (nothing to install)"; exit 0
fi
[ "$(id -u)" = 0 ] || die "must run as root to change apt sources or install ${missing[*]} ${missing_bpo[*]} ${missing_bpopkg[*]}; re-run with sudo"

changed=0
if [ -n "$want" ]; then
  if [ "$(cat "$srcfile" 2>/dev/null)" != "$(printf '%s' "$want")" ]; then
    printf '%s' "$want" > "$srcfile.new" && mv "$srcfile.new" "$srcfile"
    echo "setup-apt: wrote $srcfile"; changed=1
  fi
elif [ -f "$srcfile" ]; then
  rm -f "$srcfile"; echo "setup-apt: removed $srcfile (other sources provide everything)"; changed=1
fi

stamp=/var/lib/apt/lists/.kvmfork-updated
if [ "$changed" = 1 ] || [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +720 2>/dev/null)" ]; then
  apt-get update -qq --error-on=any >/tmp/kvmfork-apt-update.log 2>&1 \
    || die "apt-get update failed (archive unreachable?); see /tmp/kvmfork-apt-update.log"
  touch "$stamp"
fi

export DEBIAN_FRONTEND=noninteractive
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup-apt: installing ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/kvmfork-apt-install.log 2>&1 \
    || die "apt-get install ${missing[*]} failed; see /tmp/kvmfork-apt-install.log"
fi
if [ "${#missing_bpo[@]}" -gt 0 ]; then
  echo "setup-apt: installing from bookworm-backports: ${missing_bpo[*]}"
  apt-get install -y -qq --no-install-recommends -t bookworm-backports "${missing_bpo[@]}" >>/tmp/kvmfork-apt-install.log 2>&1 \
    || die "apt-get install -t bookworm-backports ${missing_bpo[*]} failed; see /tmp/kvmfork-apt-install.log"
fi
if [ "${#missing_bpopkg[@]}" -gt 0 ]; then
  echo "setup-apt: installing from bookworm-backports (dependencies from bookworm): ${missing_bpopkg[*]}"
  apt-get install -y -qq --no-install-recommends "${missing_bpopkg[@]}" >>/tmp/kvmfork-apt-install.log 2>&1 \
    || die "apt-get install ${missing_bpopkg[*]} failed; see /tmp/kvmfork-apt-install.log"
fi
echo "setup-apt: host ready"
