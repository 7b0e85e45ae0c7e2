#!/usr/bin/env bash
# Makes assets/demo.png from the real demo: runs `shipdeck demo` in a 160x48 tmux pane, lets
# the sandbox world move for a while, captures the pane with its colours, and renders that
# through aha (ANSI to HTML) and headless Chromium.
#
# Needs: tmux, aha, chromium, fonts-dejavu-core (Debian package names).
# Usage: assets/make-screenshot.sh [seconds-to-wait]   (default 40)
set -euo pipefail
cd "$(dirname "$0")/.."

wait_s=${1:-40}
cargo build --release --quiet
work=$(mktemp -d)
trap 'tmux kill-session -t shipdeck-shot 2>/dev/null || true; rm -rf "$work"' EXIT

tmux new-session -d -s shipdeck-shot -x 160 -y 48 \
    "env TERM=xterm-256color XDG_STATE_HOME=$work target/release/shipdeck demo"
sleep "$wait_s"
tmux capture-pane -t shipdeck-shot -e -p > "$work/screen.ansi"
tmux send-keys -t shipdeck-shot q

aha --black --title shipdeck < "$work/screen.ansi" > "$work/screen.html"
# A terminal-like font and spacing; aha emits a <pre>.
sed -i 's|</head>|<style>body{margin:0;background:#000} pre{margin:8px;font-family:"DejaVu Sans Mono",monospace;font-size:13px;line-height:16px}</style></head>|' "$work/screen.html"

chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run \
    --user-data-dir="$work/profile" --hide-scrollbars \
    --window-size=1290,790 --screenshot="$PWD/assets/demo.png" "file://$work/screen.html" \
    >/dev/null 2>&1
echo "wrote assets/demo.png"
