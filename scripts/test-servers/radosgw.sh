#!/usr/bin/env bash
# A one-node Ceph cluster serving S3 on loopback, for @borgstore/backend-s3's tests and bench.
#
#   radosgw.sh start DIR   ceph-mon + one memstore ceph-osd + radosgw (beast), everything under DIR,
#                          free ports; prints `export VAR=value` lines on stdout, progress on stderr.
#                          Starting again on a running DIR only makes sure the user and bucket exist.
#   radosgw.sh stop DIR    stops exactly the daemons whose pid files are in DIR, then removes DIR.
#
# Exports: BORGSTORE_TEST_S3_URL (s3:ACCESS:SECRET@http://127.0.0.1:PORT/BUCKET/borgstore-test),
# BORGSTORE_TEST_S3_ENDPOINT, BORGSTORE_TEST_S3_ACCESS_KEY, BORGSTORE_TEST_S3_SECRET_KEY,
# BORGSTORE_TEST_S3_BUCKET. Facts behind the settings: shared notes, "S3: Ceph radosgw".
set -euo pipefail

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

access_key=${BORGSTORE_RADOSGW_ACCESS_KEY:-borgstoretestaccess}
secret_key=${BORGSTORE_RADOSGW_SECRET_KEY:-borgstoretestsecret0123456789}
bucket=${BORGSTORE_RADOSGW_BUCKET:-borgstore-test}
uid=borgstore-test
boot_timeout=60

log() { echo "radosgw.sh: $*" >&2; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_daemons() {
  local d=$1 pidfile pid waited
  # radosgw first, the OSD (slow to exit, ~5 s) and the monitor last.
  for pidfile in "$d"/run/client.rgw.a.pid "$d"/run/osd.*.pid "$d"/run/mon.a.pid; do
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill -0 "$pid" 2>/dev/null || continue
    log "stopping pid $pid ($(basename "$pidfile" .pid))"
    kill -TERM "$pid" 2>/dev/null || true
    waited=0
    while kill -0 "$pid" 2>/dev/null && [ $waited -lt 150 ]; do sleep 0.1; waited=$((waited + 1)); done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid did not exit in 15 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

# Only a directory this script made (it holds ceph.conf) or an empty one is ever wiped.
ours_or_empty() { [ -f "$1/ceph.conf" ] || [ -z "$(ls -A "$1" 2>/dev/null)" ]; }

if [ "$cmd" = stop ]; then
  [ -d "$dir" ] || exit 0
  stop_daemons "$dir"
  if ours_or_empty "$dir"; then rm -rf "$dir"; else log "not removing $dir: it is not a radosgw.sh directory"; fi
  exit 0
fi
[ "$cmd" = start ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
conf=$dir/ceph.conf
ceph_cli() { timeout 20 ceph -c "$conf" --connect-timeout 15 "$@"; }
admin() { timeout 30 radosgw-admin -c "$conf" "$@"; }

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

# Waits until `$@` succeeds, at most until the shared deadline; prints what it waits for.
deadline=$((SECONDS + boot_timeout))
wait_for() {
  local what=$1
  shift
  log "waiting for $what"
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then
      log "gave up after ${boot_timeout} s waiting for $what (logs in $dir/log)"
      return 1
    fi
    sleep 0.5
  done
  log "$what: ready after $((SECONDS - start_time)) s"
}
start_time=$SECONDS

s3_answers() { curl -s -o /dev/null -m 2 "http://127.0.0.1:$rgw_port/"; }

bootstrap() {
  ours_or_empty "$dir" || { log "$dir is neither empty nor a radosgw.sh directory: refusing to use it"; return 1; }
  rm -rf "${dir:?}"/*
  mkdir -p "$dir"/{run,log,mon,osd,rgw}
  local fsid mon_v1 mon_v2 osd_uuid osd_id
  fsid=$(cat /proc/sys/kernel/random/uuid)
  mon_v1=$(free_port)
  mon_v2=$(free_port)
  while [ "$mon_v2" = "$mon_v1" ]; do mon_v2=$(free_port); done
  rgw_port=$(free_port)
  while [ "$rgw_port" = "$mon_v1" ] || [ "$rgw_port" = "$mon_v2" ]; do rgw_port=$(free_port); done
  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon initial members = a
mon host = [v2:127.0.0.1:$mon_v2,v1:127.0.0.1:$mon_v1]
public network = 127.0.0.0/8
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
run dir = $dir/run
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
keyring = $dir/keyring
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
debug ms = 0
debug rgw = 0

[mon]
mon data = $dir/mon/\$cluster-\$id

[osd]
osd data = $dir/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = 2147483648
osd crush update on start = false

[client]
ms mon client mode = crc

# tcp_nodelay: without it every small GET waits ~40 ms (Nagle against delayed ACK): 21 → ~300 loads/s.
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1
rgw thread pool size = 64
# Deleted objects' tails (everything past the first 4 MiB) wait for garbage collection, 2 h by
# default, in the OSD's RAM: collect them within seconds so repeated test runs do not fill it.
rgw gc obj min wait = 5
rgw gc processor period = 5
rgw gc processor max time = 5
rgw data = $dir/rgw
EOF
  echo "$rgw_port" >"$dir/rgw.port"

  log "bootstrapping the monitor (v1 $mon_v1, v2 $mon_v2)"
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_v2,v1:127.0.0.1:$mon_v1]" "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" 2>>"$dir/log/bootstrap.log"
  ceph-mon -c "$conf" -i a
  wait_for "the monitor" ceph_cli mon stat

  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  osd_id=$(ceph_cli osd new "$osd_uuid")
  mkdir -p "$dir/osd/ceph-$osd_id"
  log "creating osd.$osd_id (memstore)"
  ceph-osd -c "$conf" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" 2>>"$dir/log/bootstrap.log" >/dev/null
  ceph_cli osd crush add-bucket localhost host >/dev/null 2>&1
  ceph_cli osd crush move localhost root=default >/dev/null 2>&1
  ceph_cli osd crush add "osd.$osd_id" 1.0 host=localhost >/dev/null 2>&1
  ceph-osd -c "$conf" -i "$osd_id" 2>>"$dir/log/bootstrap.log"
  wait_for "osd.$osd_id up" sh -c "timeout 10 ceph -c '$conf' osd dump 2>/dev/null | grep -q '^osd.$osd_id up'"

  log "starting radosgw on 127.0.0.1:$rgw_port"
  radosgw -c "$conf" -n client.rgw.a
  wait_for "radosgw answering HTTP" s3_answers
}

if pid_alive "$dir/run/mon.a.pid" && pid_alive "$dir/run/client.rgw.a.pid" && [ -f "$dir/rgw.port" ]; then
  rgw_port=$(cat "$dir/rgw.port")
  log "already running on 127.0.0.1:$rgw_port; checking user and bucket"
  wait_for "radosgw answering HTTP" s3_answers
else
  # Leftovers of an earlier, broken start: stop what its pid files name, then start afresh.
  stop_daemons "$dir"
  bootstrap
fi

if admin user info --uid="$uid" >/dev/null 2>&1; then
  log "user $uid exists"
else
  log "creating user $uid"
  admin user create --uid="$uid" --display-name="borgstore tests" \
    --access-key="$access_key" --secret-key="$secret_key" >/dev/null
fi

endpoint=http://127.0.0.1:$rgw_port
# SigV4-signed PUT bucket; radosgw needs the payload hash header. 409 BucketAlreadyOwnedByYou is fine.
create_bucket() {
  local code
  code=$(curl -s -o "$dir/log/bucket-create.xml" -w '%{http_code}' -m 10 -X PUT \
    --aws-sigv4 "aws:amz:us-east-1:s3" --user "$access_key:$secret_key" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$endpoint/$bucket")
  [ "$code" = 200 ] || [ "$code" = 409 ]
}
wait_for "bucket $bucket" create_bucket

log "ready in $((SECONDS - start_time)) s"
cat <<EOF
export BORGSTORE_TEST_S3_URL='s3:$access_key:$secret_key@$endpoint/$bucket/borgstore-test'
export BORGSTORE_TEST_S3_ENDPOINT='$endpoint'
export BORGSTORE_TEST_S3_ACCESS_KEY='$access_key'
export BORGSTORE_TEST_S3_SECRET_KEY='$secret_key'
export BORGSTORE_TEST_S3_BUCKET='$bucket'
EOF
