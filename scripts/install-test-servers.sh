#!/usr/bin/env bash
# Installs the real servers the tests run against, from Debian's packages. Idempotent and quiet
# when everything is already there. Needs root (as on CI and the developers' machines).
set -euo pipefail
# python3-*: the unmodified Python reference (../shared/reference) as a test peer: its client needs
# requests, its sftp and s3 backends paramiko and boto3. apache2-utils: htpasswd. prometheus: scrapes the
# server's /metrics in packages/server/test/prometheus.test.ts (only its binary is used: the test
# starts its own on a loopback port; the package's service is not needed). chromium: the hosting status
# page's browser test (packages/server/test/hosting-status-page.test.ts drives it with puppeteer-core).
packages=(openssh-server openssh-client rclone nginx-light radosgw ceph-mon ceph-osd ceph-common systemd iproute2 util-linux passwd
  python3 python3-requests python3-paramiko python3-boto3 apache2-utils prometheus chromium)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing test servers: ${missing[*]}" >&2
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
