#!/usr/bin/env bash
# Set up everything handtone needs on Debian/Ubuntu: system packages (apt), a .venv, pinned Python requirements.
# Idempotent: when everything is already there it only checks, in a second or two.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  python3-venv python3-dev gcc               # the venv, and building PyAudio
  portaudio19-dev libasound2-dev             # PortAudio for PyAudio; ALSA headers for simpleaudio
  libasound2-plugins pulseaudio pulseaudio-utils   # audio server (the tests' null sink), ALSA -> Pulse
  libgl1 libglib2.0-0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3   # opencv-python's GUI (Qt) at run time
  xvfb x11-utils xdotool                     # a real X display for window tests, and keys typed into it
  poppler-utils                              # pdftotext / pdftoppm to read reports back in tests
  fonts-droid-fallback                       # CJK glyphs for players' names on the scorecard (DejaVu has none)
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

PY=${PYTHON:-python3}
if ! $PY -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup: handtone needs Python 3.11 or newer; $PY is $($PY --version 2>&1)." >&2
  echo "setup: on Ubuntu 22.04: apt-get install python3.11 python3.11-venv python3.11-dev, then PYTHON=python3.11 make demo" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  $PY -m venv .venv
fi
want=$(sha256sum requirements.txt | cut -d' ' -f1)
have=$(cat .venv/.requirements.sha256 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  echo "setup: installing pinned Python requirements"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  echo "$want" > .venv/.requirements.sha256
fi
# the landmarks detector's models, fetched once into a cache outside the checkout (offline after that)
if ! .venv/bin/python -m vision.models --check >/dev/null 2>&1; then
  if ! .venv/bin/python -m vision.models; then
    echo "setup: warning: no landmarks models; the game uses the classic detector until \`make setup\` runs online" >&2
  fi
fi
echo "setup: ready ($(.venv/bin/python --version))"
