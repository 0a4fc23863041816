#!/usr/bin/env bash
# Runs every fuzz target of daemon/protocol for a bounded time each (default 30 s; the first
# argument overrides it). New inputs go to a scratch directory; the committed corpus under
# daemon/protocol/fuzz/corpus/<target> is read as seeds and left unchanged.
#
# cargo-fuzz needs nightly-only compiler flags; RUSTC_BOOTSTRAP lets the stable toolchain
# accept them for this build only.
set -euo pipefail
cd "$(dirname "$0")/../daemon/protocol/fuzz"
secs=${1:-30}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
targets=$(cargo fuzz list)
cargo fuzz build -O $targets >/dev/null 2>&1 || cargo fuzz build -O
status=0
for t in $targets; do
  scratch=$(mktemp -d)
  log="$scratch.log"
  echo "== fuzz $t (${secs}s)"
  if cargo fuzz run -O "$t" "$scratch" "corpus/$t" -- -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1; then
    grep -E '^Done|stat::number_of_executed_units' "$log" || true
  else
    echo "fuzz target $t FAILED:" >&2
    tail -n 60 "$log" >&2
    status=1
  fi
  rm -rf "$scratch" "$log"
done
exit $status
