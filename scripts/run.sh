#!/usr/bin/env bash
# The main job: builds sessiond and runs it in the foreground on an embedded local Session
# network (12 service nodes in swarms, onion routing, a seed, a file server, and an echo
# account), with its data in ./.sessiond-demo. On the first run it creates an account; every
# run sends a message to the echo account and shows the reply coming back through onion paths.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh build
# The dev profile (dependencies optimized, see Cargo.toml) builds much faster than --release
# and shares its build with the tests.
cargo build -q --bin sessiond --bin sessionctl
root="$PWD/.sessiond-demo"
mkdir -p "$root/run"
chmod 700 "$root" "$root/run"
sock="$root/run/api.sock"
bin=target/debug
log="$root/sessiond.log"
"$bin/sessiond" --data-dir "$root/data" --runtime-dir "$root/run" --keystore file --no-dbus --local 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT INT TERM
for _ in $(seq 300); do
  grep -q "ready, API socket" "$log" 2>/dev/null && break
  kill -0 $pid 2>/dev/null || { cat "$log" >&2; exit 1; }
  sleep 0.1
done
ctl() { "$bin/sessionctl" --socket "$sock" "$@"; }
if [ "$(ctl --json account list)" = "[]" ]; then
  ctl account create --name "Demo" >/dev/null
fi
me=$(ctl --json account list | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["account_id"])')
echo_id=$(grep -o 'echo account 05[0-9a-f]*' "$log" | head -1 | awk '{print $3}')
ctl account show --qr none
echo
echo "Sending a message to the echo account $echo_id …"
ctl send "$echo_id" "Hello from $(hostname) at $(date +%T)"
for _ in $(seq 60); do
  if ctl --json messages "$echo_id" | grep -q '"direction":"in"'; then break; fi
  sleep 0.5
done
ctl messages "$echo_id" --limit 4
echo
ctl network
cat <<TXT

sessiond is running (pid $pid) on the local network; data in $root, log in $log.
In another terminal:
  $bin/sessionctl --socket $sock send $echo_id "anything"      # the echo account answers
  $bin/sessionctl --socket $sock messages $echo_id --follow
  $bin/sessionctl --socket $sock conversations
Press Ctrl-C to stop.
TXT
wait $pid
