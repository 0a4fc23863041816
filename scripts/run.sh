#!/usr/bin/env bash
# Builds and runs sessiond in the foreground with its data in ./.sessiond-demo, creating an
# account on the first run and printing its Account ID.
#
# Networking is not built yet: this daemon holds accounts and serves its API (socket and, when
# a session bus exists, D-Bus), but sends and receives no messages so far.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh build
cargo build --release -q --bin sessiond --bin sessionctl
root="$PWD/.sessiond-demo"
mkdir -p "$root/run"
chmod 700 "$root" "$root/run"
sock="$root/run/api.sock"
bin=target/release
"$bin/sessiond" --data-dir "$root/data" --runtime-dir "$root/run" --keystore file &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT INT TERM
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
ctl() { "$bin/sessionctl" --socket "$sock" "$@"; }
if [ "$(ctl --json account list)" = "[]" ]; then
  ctl account create --name "Demo" >/dev/null
fi
ctl account show
cat <<TXT

sessiond is running (pid $pid), data in $root (file keystore: demo only).
Try, in another terminal:
  $bin/sessionctl --socket $sock account list
  $bin/sessionctl --socket $sock --json account show
  $bin/sessionctl --socket $sock account phrase
Messaging over the Session network is not built yet.
Press Ctrl-C to stop.
TXT
wait $pid
