#!/usr/bin/env bash
# Build (once) a Debian sid chroot with Asterisk for tests/server/test_asterisk.py.
# Bookworm has no asterisk package; sid's runs on this kind of machine inside a chroot.
# The chroot is cached outside the clone: $HOTLINE_ASTERISK_ROOT, default
# /var/cache/hotline/asterisk-sid. Idempotent: an existing chroot with asterisk in it is kept.
# Needs root, apt-get and network access to the Debian mirror; prints why and exits 1 otherwise.
set -euo pipefail
ROOT="${HOTLINE_ASTERISK_ROOT:-/var/cache/hotline/asterisk-sid}"
MIRROR="${HOTLINE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if [ -x "$ROOT/usr/sbin/asterisk" ]; then
  echo "asterisk chroot ready: $ROOT"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "asterisk chroot not built: needs root (mmdebstrap, chroot)" >&2
  exit 1
fi
if ! command -v mmdebstrap >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 || { echo "asterisk chroot not built: no mmdebstrap and no apt-get" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
fi
mkdir -p "$(dirname "$ROOT")"
TMP="$ROOT.partial"
rm -rf "$TMP"
# The machine's clock may be past sid's Release date: do not reject the Release file as expired.
mmdebstrap --quiet --variant=apt --include=asterisk \
  --aptopt='Acquire::Check-Valid-Until "false"' \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  sid "$TMP" "$MIRROR"
mv "$TMP" "$ROOT"
echo "asterisk chroot ready: $ROOT"
