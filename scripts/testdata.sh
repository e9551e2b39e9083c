#!/usr/bin/env bash
# Real photographs for the detector accuracy tests (tests/vision/handclips.py): OpenCV's sample pictures from
# Debian's opencv-doc package. The package is downloaded, not installed (it would pull ~270 MB of docs); only the
# pictures are unpacked, into a cache outside the checkout. Idempotent: nothing to do once they are there.
set -euo pipefail
DEST=${HANDTONE_TESTDATA:-${XDG_CACHE_HOME:-$HOME/.cache}/handtone/testdata}/photos
PHOTOS=(home building fruits messi5 baboon aero1 leuvenA board orange stuff squirrel_cls left01)
missing=0
for p in "${PHOTOS[@]}"; do [ -s "$DEST/$p.jpg" ] || missing=1; done
[ "$missing" = 0 ] && exit 0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "testdata: fetching OpenCV's sample photographs (Debian package opencv-doc, downloaded once)"
if ! (cd "$tmp" && apt-get download -q opencv-doc >/dev/null 2>&1); then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q >/dev/null
  (cd "$tmp" && apt-get download -q opencv-doc >/dev/null 2>&1)
fi
dpkg-deb --fsys-tarfile "$tmp"/opencv-doc_*.deb | tar -x -C "$tmp" --wildcards './usr/share/doc/opencv-doc/examples/data/*.jpg'
mkdir -p "$DEST"
for p in "${PHOTOS[@]}"; do
  cp "$tmp/usr/share/doc/opencv-doc/examples/data/$p.jpg" "$DEST/$p.jpg"
done
echo "testdata: ${#PHOTOS[@]} photographs in $DEST"
