#!/usr/bin/env bash
# Makes, when missing, the two images an image registry would give the container tests:
#   porrio-base:bookworm  a Debian bookworm (minbase) built with debootstrap, for BUILDER_IMAGE
#   porrio-etcd:3.4       Debian's etcd-server and etcd-client binaries in a scratch image, for ETCD_IMAGE
# Prints the two names as shell assignments (BUILDER_IMAGE=… ETCD_IMAGE=…).
set -euo pipefail
BASE=${BUILDER_IMAGE_LOCAL:-porrio-base:bookworm}
ETCD=${ETCD_IMAGE_LOCAL:-porrio-etcd:3.4}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
export DEBIAN_FRONTEND=noninteractive

have() { docker image inspect "$1" >/dev/null 2>&1; }
work=$(mktemp -d /tmp/porrio-images.XXXXXX)
trap 'rm -rf "$work"' EXIT

if ! have "$BASE"; then
  command -v debootstrap >/dev/null || apt-get -o DPkg::Lock::Timeout=600 install -y -q debootstrap >&2
  debootstrap --variant=minbase bookworm "$work/root" "$MIRROR" >&2
  rm -rf "$work/root"/var/cache/apt/archives/*.deb "$work/root"/var/lib/apt/lists/*
  tar -C "$work/root" -c . | docker import -c 'CMD ["bash"]' - "$BASE" >&2
fi

if ! have "$ETCD"; then
  mkdir -p "$work/etcd" && cd "$work/etcd"
  apt-get download etcd-server etcd-client >&2 # not installed: that could start an etcd on 2379
  mkdir -p x ctx/usr/local/bin ctx/lib64 ctx/lib/x86_64-linux-gnu ctx/tmp
  for d in *.deb; do dpkg-deb -x "$d" x; done
  cp x/usr/bin/etcd x/usr/bin/etcdctl ctx/usr/local/bin/
  # Debian's etcd is linked against glibc alone: the loader and libc make it run on scratch
  cp -L /lib64/ld-linux-x86-64.so.2 ctx/lib64/
  cp -L /lib/x86_64-linux-gnu/libc.so.6 ctx/lib/x86_64-linux-gnu/
  printf 'FROM scratch\nCOPY . /\nCMD ["/usr/local/bin/etcd"]\n' > ctx/Dockerfile
  DOCKER_BUILDKIT=0 docker build -q -t "$ETCD" ctx >&2
  cd - >/dev/null
fi
echo "BUILDER_IMAGE=$BASE ETCD_IMAGE=$ETCD"
