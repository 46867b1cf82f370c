#!/bin/sh
# Builds the dependency prefix of porrio and links it at LINK (default build/deps).
#   tools/deps.sh [LINK]          static, with musl-gcc: OpenSSL, zlib, jansson and libh2o-evloop
#                                 from Debian's source packages (the shipped binary).
#   tools/deps.sh --glibc LINK    for the sanitizer builds, with the system gcc and glibc: only
#                                 libh2o-evloop (same source, same patches, same recipe); OpenSSL,
#                                 zlib and jansson are Debian's -dev packages.
# A prefix is cached under $PORRIO_CACHE (default /var/cache/porrio), keyed by the mode, the source
# versions and this script, so a clean clone reuses it. Idempotent; safe to re-run.
set -eu
MODE=static
[ "${1:-}" = --glibc ] && { MODE=glibc; shift; }
LINK=${1:-build/deps}
case $LINK in /*) ;; *) LINK=$(pwd)/$LINK ;; esac
CACHE=${PORRIO_CACHE:-/var/cache/porrio}
export DEBIAN_FRONTEND=noninteractive
SUDO=; [ "$(id -u)" = 0 ] || SUDO=sudo

apt_install() { # installs the packages that are missing
  missing=
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  [ -z "$missing" ] && return 0
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q >&2 || true
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $missing >&2
}

enable_deb_src() { # both apt formats: deb822 (debian.sources) and a classic sources.list
  f=/etc/apt/sources.list.d/debian.sources
  if [ -f "$f" ] && ! grep -q '^Types:.*deb-src' "$f"; then
    $SUDO sed -i 's/^Types: deb$/Types: deb deb-src/' "$f"
  elif [ -f /etc/apt/sources.list ] && ! grep -qs '^deb-src' /etc/apt/sources.list /etc/apt/sources.list.d/*.list; then
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list | $SUDO tee /etc/apt/sources.list.d/porrio-deb-src.list >/dev/null
  fi
  if ! apt-cache showsrc h2o 2>/dev/null | grep -q '^Version:'; then
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q >&2
  fi
}

if [ "$MODE" = static ]; then
  SOURCES="openssl zlib jansson h2o"
  apt_install musl-tools musl-dev cmake make gcc g++ dpkg-dev patch perl pkgconf ca-certificates linux-libc-dev
else
  SOURCES=h2o
  apt_install cmake make gcc g++ dpkg-dev patch perl pkgconf ca-certificates \
    libjansson-dev libssl-dev zlib1g-dev
fi
enable_deb_src

# Source versions, newest first; the first that downloads wins (a pocket can answer 404).
versions() { apt-cache showsrc "$1" | sed -n 's/^Version: //p' | sort -u -r -V; }
# Bump when the recipe below changes what gets built; the key also holds the source versions.
RECIPE=3
TOOLS=$(cd "$(dirname "$0")" && pwd)
KEY=$( { for p in $SOURCES; do echo "$p $(versions $p | head -n1)"; done
         echo "recipe $RECIPE"; cat "$TOOLS"/h2o-*.patch; } | sha256sum | cut -c1-16)
P=$CACHE/deps-$KEY
[ "$MODE" = static ] || P=$CACHE/deps-$MODE-$KEY
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9 # one build at a time; a second caller waits and then finds it done
if [ ! -f "$P/.complete" ]; then
  echo "deps: building the $MODE prefix $P (a few minutes, once)" >&2
  W=$(mktemp -d "${TMPDIR:-/tmp}/porrio-deps.XXXXXX")
  trap 'rm -rf "$W"' EXIT
  rm -rf "$P"; mkdir -p "$P/lib/pkgconfig" "$P/include" "$W/k"
  fetch() { # fetch PKG: unpacks the source into $W/src-PKG
    mkdir -p "$W/get-$1"
    for v in $(versions "$1"); do
      if (cd "$W/get-$1" && apt-get source -q "$1=$v" >&2); then
        d=$(find "$W/get-$1" -mindepth 1 -maxdepth 1 -type d | head -n1)
        mv "$d" "$W/src-$1"; return 0
      fi
    done
    echo "deps: cannot fetch the source of $1" >&2; return 1
  }
  for p in $SOURCES; do fetch $p; done
  J=$(nproc)

  # h2o_build CFLAGS [CMAKE_ARGS...]: libh2o-evloop of the patched source, and its headers, into $P
  h2o_build() {
    cflags=$1; shift
    cd "$W/src-h2o"
    yp=debian/patches/link-against-system-libyaml.patch
    [ -f "$yp" ] && patch -R -p1 -s < "$yp" >&2
    for pf in "$TOOLS"/h2o-*.patch; do patch -p1 -s < "$pf" >&2; done
    mkdir -p "$W/h2o" && cd "$W/h2o"
    cmake -S "$W/src-h2o" -B . -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS="$cflags" "$@" \
      -DWITH_BUNDLED_SSL=OFF -DWITH_MRUBY=OFF -DWITH_PICOTLS=OFF -DBUILD_SHARED_LIBS=OFF \
      -DDISABLE_LIBUV=ON -DCMAKE_DISABLE_FIND_PACKAGE_LibUV=ON \
      -DCMAKE_DISABLE_FIND_PACKAGE_Wslay=ON >&2
    make -s -j"$J" libh2o-evloop >&2
    cp libh2o-evloop.a "$P/lib/"
    cp -r "$W/src-h2o/include/." "$P/include/"
  }

  if [ "$MODE" = glibc ]; then
    # frame pointers and symbols: the sanitizers' stacks unwind through h2o's callbacks
    h2o_build "-O2 -g -fno-omit-frame-pointer"
  else
    ln -s /usr/include/linux "$W/k/linux"
    ln -s /usr/include/x86_64-linux-gnu/asm "$W/k/asm"
    ln -s /usr/include/asm-generic "$W/k/asm-generic"
    export PKG_CONFIG_LIBDIR="$P/lib/pkgconfig" CC=musl-gcc

    mkdir -p "$W/ossl" && cd "$W/ossl"
    "$W/src-openssl/Configure" linux-x86_64 --prefix="$P" --libdir=lib --openssldir=/etc/ssl \
      no-shared no-tests no-async no-afalgeng -idirafter "$W/k" CC=musl-gcc >&2
    make -s -j"$J" build_libs >&2 && make -s install_dev >&2

    cd "$W/src-zlib"
    CFLAGS=-O2 ./configure --static --prefix="$P" >&2 && make -s libz.a >&2 && make -s install >&2

    mkdir -p "$W/jansson" && cd "$W/jansson"
    cmake -S "$W/src-jansson" -B . -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$P" \
      -DCMAKE_INSTALL_LIBDIR=lib -DJANSSON_BUILD_SHARED_LIBS=OFF -DJANSSON_BUILD_DOCS=OFF \
      -DJANSSON_WITHOUT_TESTS=ON -DJANSSON_EXAMPLES=OFF >&2
    make -s -j"$J" install >&2

    h2o_build "-O2 -idirafter $W/k" \
      -DCMAKE_FIND_ROOT_PATH="$P" -DCMAKE_FIND_ROOT_PATH_MODE_INCLUDE=ONLY \
      -DCMAKE_FIND_ROOT_PATH_MODE_LIBRARY=ONLY -DCMAKE_FIND_ROOT_PATH_MODE_PACKAGE=ONLY \
      -DCMAKE_FIND_ROOT_PATH_MODE_PROGRAM=NEVER -DOPENSSL_ROOT_DIR="$P" \
      -DOPENSSL_USE_STATIC_LIBS=TRUE -DZLIB_ROOT="$P"
  fi
  touch "$P/.complete"
fi
mkdir -p "$(dirname "$LINK")"
ln -sfn "$P" "$LINK"
echo "$P"
