#!/usr/bin/env bash
# Fails when a crate depends on something its layer must not (see ARCHITECTURE.md):
#   sessiond-protocol: no tokio, reqwest, rusqlite, zbus (pure: no I/O)
#   sessiond-network:  no rusqlite, zbus, interprocess (knows nothing of storage or IPC)
#   sessiond-ipc and the clients: no daemon crate (frontends see only the API schema)
#   sessiond-devnet: not sessiond-network nor sessiond (it is the server side of the protocol)
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
deps() { cargo tree -q -p "$1" -e normal --prefix none --format '{p}' | awk '{print $1}' | sort -u; }
forbid() {
  local crate=$1; shift
  local found
  found=$(deps "$crate" | grep -xE "$(IFS='|'; echo "$*")" || true)
  if [ -n "$found" ]; then
    echo "layering violation: $crate depends on: $(echo $found)" >&2
    fail=1
  fi
}
forbid sessiond-protocol tokio reqwest rusqlite zbus mio
forbid sessiond-network rusqlite zbus interprocess sessiond sessiond-ipc
forbid sessiond-ipc sessiond sessiond-protocol sessiond-network rusqlite zbus
# the devnet reuses the protocol only: a client network bug must not be mirrored in it
forbid sessiond-devnet sessiond sessiond-network
for client in $(cargo metadata -q --format-version 1 --no-deps | python3 -c '
import json,sys
for p in json.load(sys.stdin)["packages"]:
    if "/clients/" in p["manifest_path"]: print(p["name"])'); do
  forbid "$client" sessiond sessiond-protocol sessiond-network rusqlite
done
if [ $fail -eq 0 ]; then echo "layering: ok"; fi
exit $fail
