#!/usr/bin/env bash
# Fetches the King James Bible (public domain) from Debian's bible-kjv-text package and writes it as plain text,
# one verse per line, to $1 (default: data/kjv.txt next to this script). Needs apt-get and dpkg (Debian/Ubuntu).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/data/kjv.txt}"
cache="$(dirname "$out")/debian"
mkdir -p "$cache"
cd "$cache"
if ! ls bible-kjv_*.deb bible-kjv-text_*.deb >/dev/null 2>&1; then
  apt-get download bible-kjv bible-kjv-text || { apt-get update >/dev/null && apt-get download bible-kjv bible-kjv-text; }
fi
for deb in bible-kjv_*.deb bible-kjv-text_*.deb; do dpkg -x "$deb" root; done
# The reader prints "Book N" headings and "  V text" verse lines; keep the verse text only.
root/usr/bin/bible -l10000 -p root/usr/lib "Gen1:1-Rev22:21" \
  | sed -n 's/^ *[0-9][0-9]* //p' > "$out.tmp"
lines=$(wc -l < "$out.tmp")
[ "$lines" -gt 30000 ] || { echo "fetch-kjv.sh: expected ~31,000 verses, got $lines" >&2; exit 1; }
mv "$out.tmp" "$out"
echo "fetch-kjv.sh: wrote $lines verses to $out"
