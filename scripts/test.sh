#!/usr/bin/env bash
# Runs every check and test of the project. Installs what the tests need first (a D-Bus
# daemon, gnome-keyring, keyutils); the tests start their own private bus and keyring.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/deps.sh test

echo "== format";  cargo fmt --all --check
echo "== layering"; ./scripts/check-layers.sh
echo "== clippy";  cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== build";   cargo build --workspace --bins --locked
echo "== tests"
# The harness starts dbus-daemon and gnome-keyring itself; keep the user's bus out of it.
env -u DBUS_SESSION_BUS_ADDRESS cargo test --workspace --locked 2>&1 | tee target/test-output.log
echo "== fuzz (bounded)"
./scripts/fuzz.sh "${FUZZ_SECONDS:-30}"
