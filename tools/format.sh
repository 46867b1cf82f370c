#!/bin/sh
# Formats the C sources with .clang-format (Debian's clang-format, installed when missing), or with
# --check lists the files that differ from it and exits 1. README: Source layout.
set -eu
cd "$(dirname "$0")/.."
if ! command -v clang-format >/dev/null 2>&1; then
  SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends clang-format >&2 ||
    { $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q >&2; $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends clang-format >&2; }
fi
files=$(git ls-files '*.c' '*.h')
if [ "${1:-}" = --check ]; then
  bad=0
  for f in $files; do
    clang-format --style=file "$f" | cmp -s - "$f" || { echo "not formatted: $f (make format)"; bad=1; }
  done
  [ "$bad" = 0 ] && echo "format: every C file follows .clang-format"
  exit "$bad"
fi
clang-format --style=file -i $files
