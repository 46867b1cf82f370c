#!/bin/sh
# Installs what `make fuzz` needs, when missing: Debian's clang with its compiler runtime
# (libFuzzer and the address and undefined-behaviour sanitizers), and the glibc development files
# of the libraries the fuzzed modules use (jansson, OpenSSL's libcrypto, zlib). Idempotent: nothing is done when
# everything is there.
set -eu
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
need=
for p in clang libclang-rt-14-dev libjansson-dev libssl-dev zlib1g-dev; do
  dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"
done
if [ -n "$need" ]; then
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q >&2 || true
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $need >&2
fi
