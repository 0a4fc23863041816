#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages sessiond needs to build ($1 = build) or to run its tests
# ($1 = test). Installs only what is missing; needs root or sudo when something is.
set -euo pipefail
build_pkgs=(pkg-config libssl-dev gcc make)
test_pkgs=(dbus dbus-daemon gnome-keyring keyutils libsecret-tools libglib2.0-bin systemd)
pkgs=("${build_pkgs[@]}")
[ "${1:-build}" = test ] && pkgs+=("${test_pkgs[@]}")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v cargo >/dev/null; then
  echo "cargo not found: install a Rust toolchain (1.89 or newer), e.g. from rustup.rs" >&2
  exit 1
fi
