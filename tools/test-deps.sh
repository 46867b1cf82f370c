#!/bin/sh
# Installs what the test suites need, when missing: bats-core with bats-assert and bats-support,
# curl, and the tools the integration tests drive the server with.
set -eu
need=
for p in bats bats-assert bats-support curl jq procps iproute2 python3; do
  dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
done
[ -z "$need" ] && exit 0
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -q >&2 || true
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $need >&2
