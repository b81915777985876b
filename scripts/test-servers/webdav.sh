#!/usr/bin/env bash
# rclone's WebDAV server (`rclone serve webdav`, golang.org/x/net/webdav) on a free loopback port
# over DIR/root, with basic auth: the real server of examples/borgstore-backend-webdav.
#
#   webdav.sh start DIR   prints `export VAR=value` lines (logs go to DIR/webdav.log)
#   webdav.sh stop DIR    stops exactly the server started for DIR
#
# Exports:
#   BORGSTORE_TEST_WEBDAV_URL  webdav://testuser:testpass@127.0.0.1:PORT/ (the server's top collection)
set -euo pipefail

log() { echo "webdav.sh: $*" >&2; }

start() {
  local dir=$1 port
  command -v rclone >/dev/null || { log "rclone is not installed (scripts/install-test-servers.sh)"; return 1; }
  mkdir -p "$dir/root"
  for _ in 1 2 3; do
    port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
    rclone serve webdav --addr "127.0.0.1:$port" --user testuser --pass testpass "$dir/root" \
      >"$dir/webdav.log" 2>&1 </dev/null &
    echo $! >"$dir/webdav.pid"
    for _ in $(seq 1 100); do
      grep -q "WebDav Server started" "$dir/webdav.log" && break
      kill -0 "$(cat "$dir/webdav.pid")" 2>/dev/null || break
      sleep 0.1
    done
    if grep -q "WebDav Server started" "$dir/webdav.log"; then
      echo "export BORGSTORE_TEST_WEBDAV_URL=webdav://testuser:testpass@127.0.0.1:$port/"
      return 0
    fi
    stop "$dir" # the port was taken meanwhile, or rclone failed: try another
  done
  log "rclone serve webdav did not start: $(tail -3 "$dir/webdav.log")"
  return 1
}

stop() {
  local dir=$1 pid
  [ -f "$dir/webdav.pid" ] || return 0
  pid=$(cat "$dir/webdav.pid")
  # Only our rclone: its command line names DIR.
  if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$dir"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/webdav.pid"
}

case "${1:-}" in
  start) start "${2:?usage: webdav.sh start DIR}" ;;
  stop) stop "${2:?usage: webdav.sh stop DIR}" ;;
  *) echo "usage: webdav.sh start|stop DIR" >&2; exit 2 ;;
esac
