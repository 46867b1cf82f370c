#!/bin/sh
# Installs what the test suites need, when missing: bats-core with bats-assert and bats-support,
# curl, jq, openssl (the container tests' TLS checks) and the tools the integration tests drive
# the server with (rsyslog: a log collector, run by logsink.bats as a plain process of its own;
# chromium: the browser the page's tests drive headless); and Debian's etcd server and client,
# unpacked into a cache rather than installed (installing could start a system etcd on 2379, the
# port the tests must never touch).
set -eu
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
need=
for p in bats bats-assert bats-support curl jq openssl procps iproute2 python3 systemd strace rsyslog chromium; do
  dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
done
if [ -n "$need" ]; then
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q >&2 || true
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $need >&2
fi

ETCD_CACHE=${PORRIO_ETCD_CACHE:-/var/cache/porrio/etcd}
if [ ! -x "$ETCD_CACHE/usr/bin/etcd" ] || [ ! -x "$ETCD_CACHE/usr/bin/etcdctl" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  if ! (cd "$tmp" && apt-get download etcd-server etcd-client >&2); then
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q >&2 || true
    (cd "$tmp" && apt-get download etcd-server etcd-client >&2)
  fi
  $SUDO mkdir -p "$ETCD_CACHE"
  for d in "$tmp"/*.deb; do $SUDO dpkg-deb -x "$d" "$ETCD_CACHE"; done
  rm -rf "$tmp"
fi

# The tools from npm (tests/node): the course's functional tests (mocha, supertest), the OpenAPI
# lint, the answers' conformance check and playwright-core (which drives Debian's chromium and
# never downloads a browser of its own), exactly as package-lock.json locks them, from an npm
# cache that outlives the checkout; Node.js and npm are Debian's when none is there. `npm ci`
# runs again only when the lock changed since it last ran.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q >&2 || true
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends nodejs npm >&2
fi
NODE_DIR=$(cd "$(dirname "$0")/../tests/node" && pwd)
NPM_CACHE=${PORRIO_NPM_CACHE:-/var/cache/porrio/npm}
lock=$(sha256sum "$NODE_DIR/package-lock.json" | cut -d ' ' -f 1)
if [ "$(cat "$NODE_DIR/node_modules/.porrio-lock" 2>/dev/null)" != "$lock" ] ||
  [ ! -x "$NODE_DIR/node_modules/.bin/mocha" ]; then
  [ -d "$NPM_CACHE" ] || $SUDO install -d -o "$(id -u)" -g "$(id -g)" "$NPM_CACHE"
  (cd "$NODE_DIR" && npm ci --cache "$NPM_CACHE" --no-audit --no-fund --loglevel=error) >&2
  echo "$lock" >"$NODE_DIR/node_modules/.porrio-lock"
fi

# promtool, to check the alert rules of deploy/prometheus: Debian's prometheus package unpacked
# into a cache, not installed (installing could start a Prometheus server).
PROM_CACHE=${PORRIO_PROMETHEUS_CACHE:-/var/cache/porrio/prometheus}
if [ ! -x "$PROM_CACHE/usr/bin/promtool" ]; then
  tmp=$(mktemp -d)
  if ! (cd "$tmp" && apt-get download prometheus >&2); then
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q >&2 || true
    (cd "$tmp" && apt-get download prometheus >&2)
  fi
  $SUDO mkdir -p "$PROM_CACHE"
  $SUDO dpkg-deb -x "$tmp"/prometheus_*.deb "$PROM_CACHE"
  rm -rf "$tmp"
fi
