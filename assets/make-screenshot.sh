#!/usr/bin/env bash
# Makes assets/demo.png from the real demo in a real terminal: `shipdeck demo` in a 160x48
# xterm on a virtual X display, left to move for a while, then the window is photographed.
#
# Needs (Debian package names): xvfb, xterm, imagemagick, fonts-dejavu-core, fonts-noto-cjk.
# Usage: assets/make-screenshot.sh [seconds-to-wait]   (default 40)
set -euo pipefail
cd "$(dirname "$0")/.."

wait_s=${1:-40}
display=:${SHIPDECK_SHOT_DISPLAY:-77}
cargo build --release --quiet
work=$(mktemp -d)

Xvfb "$display" -screen 0 1600x1000x24 -nolisten tcp >/dev/null 2>&1 &
xvfb=$!
trap 'kill $xvfb 2>/dev/null || true; rm -rf "$work"' EXIT
sleep 1

DISPLAY=$display xterm -fa 'DejaVu Sans Mono' -fs 10 -geometry 160x48+0+0 \
    -bg '#101010' -fg '#d8d8d8' -b 0 -bw 0 +sb \
    -e env TERM=xterm-256color XDG_STATE_HOME="$work" target/release/shipdeck demo &
sleep "$wait_s"
DISPLAY=$display import -window root "$work/root.png"
convert "$work/root.png" -trim +repage assets/demo.png
echo "wrote assets/demo.png"
