#!/usr/bin/env bash
# Starts every real test server on loopback (scripts/test-servers/NAME.sh start DIR prints
# `export VAR=value` lines), runs the given command with their variables, then stops exactly the
# servers it started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/install-test-servers.sh

state=$(mktemp -d /tmp/borgstore-test-servers.XXXXXX)
started=()
stop_servers() {
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do
    bash "scripts/test-servers/${started[$i]}.sh" stop "$state/${started[$i]}" >&2 || true
  done
  rm -rf "$state"
}
trap stop_servers EXIT

for script in scripts/test-servers/*.sh; do
  [ -e "$script" ] || continue
  name=$(basename "$script" .sh)
  mkdir -p "$state/$name"
  if env_lines=$(bash "$script" start "$state/$name"); then
    eval "$env_lines"
    started+=("$name")
    echo "test server $name: started" >&2
  else
    echo "test server $name: FAILED to start (its tests skip loudly, or fail under CI=true)" >&2
    bash "$script" stop "$state/$name" >&2 || true
  fi
done

"$@"
