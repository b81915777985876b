#!/usr/bin/env bash
# OpenSSH sshd on a free loopback port for the sftp backend and rest-over-ssh tests.
#
#   sshd.sh start DIR   prints `export VAR=value` lines (logs go to stderr)
#   sshd.sh stop DIR    stops exactly the sshd started for DIR and removes its run directory
#
# Config, host key, client key, known_hosts, ssh_config, pid file and log live in DIR. The test
# user (key-only, no password) cannot traverse DIR's parents, so what it must reach (its data
# directory and the bin/ with `borgstore-server-rest`) lives in a per-run directory in its home.
#
# Exports:
#   BORGSTORE_TEST_SFTP_URL          sftp://USER@127.0.0.1:PORT//RUN/data (an empty, writable dir)
#   BORGSTORE_TEST_SSHD_HOST/_PORT/_USER
#   BORGSTORE_TEST_SSHD_KEY          the client's private key (ed25519, no passphrase)
#   BORGSTORE_TEST_SSHD_KNOWN_HOSTS  known_hosts with the server's key as [127.0.0.1]:PORT and [localhost]:PORT
#   BORGSTORE_TEST_SSHD_SSH_CONFIG   ssh_config for `ssh -F FILE borgstore-test-sshd` (and HostName/Port/User/keys)
#   BORGSTORE_TEST_SSHD_HOST_ALIAS   the Host alias in that ssh_config
#   BORGSTORE_TEST_SSHD_PID_FILE     the listening sshd's pid file (its children are the sessions)
#   BORGSTORE_TEST_SSHD_DATA_DIR     absolute path of the data dir on this machine's disk (same as in the URL)
#   BORGSTORE_TEST_SSHD_UID/_GID     the test user's ids (to chown files written by root for the user)
#   BORGSTORE_TEST_SSHD_BIN_DIR      dir on the user's PATH holding `borgstore-server-rest`
set -euo pipefail

user=borgstore-test
alias_name=borgstore-test-sshd
repo=$(cd "$(dirname "$0")/../.." && pwd)

log() { echo "sshd.sh: $*" >&2; }

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

ensure_user() {
  if ! id "$user" >/dev/null 2>&1; then
    useradd --create-home --shell /bin/sh "$user" >&2
  fi
  # useradd leaves the account locked ("!"), and sshd then refuses even key logins.
  usermod -p '*' "$user"
  local home
  home=$(getent passwd "$user" | cut -d: -f6)
  mkdir -p "$home"
  chown "$user:" "$home"
}

start() {
  local dir=$1
  mkdir -p "$dir" /run/sshd
  dir=$(cd "$dir" && pwd)
  ensure_user
  local home uid gid
  home=$(getent passwd "$user" | cut -d: -f6)
  uid=$(id -u "$user")
  gid=$(id -g "$user")

  local run
  run=$(mktemp -d "$home/run.XXXXXXXX")
  chmod 0755 "$run"
  echo "$run" >"$dir/run-dir"
  mkdir -p "$run/data" "$run/bin"
  chown "$user:" "$run/data"
  cat >"$run/bin/borgstore-server-rest" <<EOF
#!/bin/sh
exec node "$repo/packages/server/dist/cli.js" "\$@"
EOF
  chmod 0755 "$run/bin/borgstore-server-rest"

  ssh-keygen -q -t ed25519 -N '' -C "borgstore test host" -f "$dir/host_ed25519_key" >&2
  ssh-keygen -q -t ed25519 -N '' -C "borgstore test client" -f "$dir/client_ed25519_key" >&2
  # sshd reads authorized keys as the user: keep them in the run dir the user can reach.
  cp "$dir/client_ed25519_key.pub" "$run/authorized_keys"
  chmod 0644 "$run/authorized_keys"

  local port
  port=$(free_port)
  cat >"$dir/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_ed25519_key
PidFile $dir/sshd.pid
AuthenticationMethods publickey
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers $user
AuthorizedKeysFile $run/authorized_keys
StrictModes no
MaxSessions 64
MaxStartups 64:30:128
ClientAliveInterval 30
Subsystem sftp internal-sftp
SetEnv PATH=$run/bin:/usr/local/bin:/usr/bin:/bin
LogLevel INFO
EOF
  sshd -t -f "$dir/sshd_config" >&2
  /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"

  local i
  for i in $(seq 1 50); do
    if ssh-keyscan -p "$port" -t ed25519 127.0.0.1 >"$dir/keyscan" 2>/dev/null && [ -s "$dir/keyscan" ]; then
      break
    fi
    sleep 0.1
  done
  [ -s "$dir/keyscan" ] || { log "sshd did not answer on port $port"; cat "$dir/sshd.log" >&2; return 1; }
  {
    cat "$dir/keyscan"
    sed "s/^\[127\.0\.0\.1\]/[localhost]/" "$dir/keyscan"
  } >"$dir/known_hosts"

  cat >"$dir/ssh_config" <<EOF
Host $alias_name
  HostName 127.0.0.1
  Port $port
  User $user
  IdentityFile $dir/client_ed25519_key
  IdentitiesOnly yes
  UserKnownHostsFile $dir/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
EOF

  cat <<EOF
export BORGSTORE_TEST_SFTP_URL=sftp://$user@127.0.0.1:$port/$run/data
export BORGSTORE_TEST_SSHD_HOST=127.0.0.1
export BORGSTORE_TEST_SSHD_PORT=$port
export BORGSTORE_TEST_SSHD_USER=$user
export BORGSTORE_TEST_SSHD_UID=$uid
export BORGSTORE_TEST_SSHD_GID=$gid
export BORGSTORE_TEST_SSHD_KEY=$dir/client_ed25519_key
export BORGSTORE_TEST_SSHD_KNOWN_HOSTS=$dir/known_hosts
export BORGSTORE_TEST_SSHD_SSH_CONFIG=$dir/ssh_config
export BORGSTORE_TEST_SSHD_HOST_ALIAS=$alias_name
export BORGSTORE_TEST_SSHD_PID_FILE=$dir/sshd.pid
export BORGSTORE_TEST_SSHD_DATA_DIR=$run/data
export BORGSTORE_TEST_SSHD_BIN_DIR=$run/bin
EOF
}

stop() {
  local dir=$1
  if [ -f "$dir/sshd.pid" ]; then
    local pid
    pid=$(cat "$dir/sshd.pid")
    # Only our listener: its command line names our config file.
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "$dir/sshd_config"; then
      # Sessions are children of the listener; end them too, then the listener.
      pkill -TERM -P "$pid" 2>/dev/null || true
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$dir/sshd.pid"
  fi
  if [ -f "$dir/run-dir" ]; then
    rm -rf "$(cat "$dir/run-dir")"
    rm -f "$dir/run-dir"
  fi
}

case "${1:-}" in
  start) start "${2:?usage: sshd.sh start DIR}" ;;
  stop) stop "${2:?usage: sshd.sh stop DIR}" ;;
  *) echo "usage: sshd.sh start DIR | stop DIR" >&2; exit 2 ;;
esac
