#!/bin/sh
# Load driver, the course's /work/shared/bench/load.sh kept in our tree so bench/run.sh does not
# depend on files outside the repo: load.sh URL [DURATION_S=5] [CONNECTIONS=64] [THREADS=2]
# Prints: rps=<req/s> p50_ms=<> p99_ms=<> errors=<non-2xx + socket errors>
# Bounded: loopback URLs only, <= 60 s, <= 1024 connections, <= 8 threads.
# LOAD_FAST=1: skip the per-response Lua hook; errors then count HTTP >= 400 only.
set -eu
URL=${1:?usage: load.sh URL [DURATION_S] [CONNECTIONS] [THREADS]}
D=${2:-5}; C=${3:-64}; T=${4:-2}
case $URL in
  http://127.0.0.1[:/]*|http://localhost[:/]*|http://\[::1\][:/]*) ;;
  *) echo "load.sh: loopback http URLs only" >&2; exit 2 ;;
esac
[ "$D" -ge 1 ] && [ "$D" -le 60 ] && [ "$C" -ge 1 ] && [ "$C" -le 1024 ] &&
  [ "$T" -ge 1 ] && [ "$T" -le 8 ] && [ "$T" -le "$C" ] ||
  { echo "load.sh: need 1<=DURATION_S<=60, 1<=THREADS<=8, THREADS<=CONNECTIONS<=1024" >&2; exit 2; }
# wrk stops itself after -d; the timeout only guards against a wrk that never returns, and
# --foreground keeps wrk in the caller's process group, so that bench/run.sh can stop it
timeout --foreground $((D + 15)) wrk -d"${D}s" -c"$C" -t"$T" -s "$(dirname "$0")/load.lua" "$URL" | grep '^rps='
