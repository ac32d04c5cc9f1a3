#!/usr/bin/env bash
# Fetch the handwriting fonts named in scripts/fonts.txt from the npm registry (Fontsource's
# packages) into OUT_DIR: each family's Latin upright weights as WOFF files, which
# digits.fonts renders with Pillow. Needs npm; nothing is installed, each package is fetched
# as a tarball and only its font files kept. A partial fetch never stands as OUT_DIR.
#
#   bash scripts/fetch_fonts.sh OUT_DIR
set -euo pipefail
OUT="${1:?usage: bash scripts/fetch_fonts.sh OUT_DIR}"
LIST="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/fonts.txt"
command -v npm >/dev/null || { echo "error: npm is needed to fetch the fonts" >&2; exit 2; }
mkdir -p "$(dirname "$OUT")"
tmp="$(mktemp -d "${OUT%/}.partial.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/fonts"
grep -v '^#' "$LIST" | while read -r package; do
  [ -n "$package" ] || continue
  tarball="$(cd "$tmp" && npm pack --silent "@fontsource/$package")"
  tar xzf "$tmp/$tarball" -C "$tmp" --wildcards 'package/files/*-latin-*-normal.woff'
  mv "$tmp"/package/files/*.woff "$tmp/fonts/"
  rm -rf "$tmp/package" "$tmp/$tarball"
done
rm -rf "$OUT"
mv "$tmp/fonts" "$OUT"
echo "fonts: $(ls "$OUT" | wc -l) files in $OUT"
