#!/bin/bash
# bench/api.sh: the domain routes against GET /status on one porrio (WORKERS=2, LOG_LEVEL=info,
# stdout to /dev/null, a fresh DATA_DIR): GET /one/1, GET /porras holding 100 pools, and durable
# writes (PUT /porras/{ID}/apuestas/{quien}, a new person each time: each 2xx is fsynced).
# Loopback only, bounded. Env: DURATION (s per run, 1-60, default 5), CONNS (default 64).
set -euo pipefail
cd "$(dirname "$0")/.."
D=${DURATION:-5} C=${CONNS:-64}
make -s build/porrio >&2
W=$(mktemp -d /tmp/porrio-bench.XXXXXX)
cp build/porrio "$W/porrio"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
U=http://127.0.0.1:$PORT
(cd "$W" && exec env -i PORT="$PORT" HOST=127.0.0.1 WORKERS=2 ETCD_ENDPOINTS= DATA_DIR="$W/var" MAX_BETS_PER_POOL=100000000 \
  HITOS_FILE="$OLDPWD/data/hitos.json" ./porrio >/dev/null 2>"$W/stderr") &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$W"' EXIT
for _ in $(seq 100); do curl -sf -o /dev/null "$U/health/ready" && break; sleep 0.05; done
for i in $(seq 100); do curl -sf -o /dev/null -X PUT "$U/porra/Local$i/Visitante$i/Liga/2017"; done
curl -sf -o /dev/null -X PUT "$U/porra/Bench/Writes/Liga/2017"

echo "# DURATION=$D CONNS=$C bench/api.sh   ($(git describe --always --dirty 2>/dev/null || echo '?'))"
echo "# each run: bench/load.sh URL $D $C 2  (wrk -t2 -c$C -d${D}s, after a 1 s warm-up); $(nproc) cpus"
echo "# porras held: $(curl -s "$U/porras" | grep -o '"ID"' | wc -l), /porras body $(curl -s "$U/porras" | wc -c) bytes"
printf '%-32s %9s %9s %9s %7s %8s\n' endpoint rps p50_ms p99_ms errors vs_status
run() { # run LABEL PATH [env...]
  local label=$1 path=$2; shift 2
  env "$@" bench/load.sh "$U$path" 1 "$C" 2 >/dev/null
  set -- $(env "$@" bench/load.sh "$U$path" "$D" "$C" 2 | sed 's/[a-z0-9_]*=//g')
  printf '%-32s %9s %9s %9s %7s' "$label" "$1" "$2" "$3" "$4"
  [ -n "${STATUS_RPS:-}" ] && awk -v a="$1" -v b="$STATUS_RPS" 'BEGIN {printf " %7.0f%%", 100 * a / b}'
  echo
  LAST_RPS=$1
}
run "GET /status" /status LOAD_FAST=1; STATUS_RPS=$LAST_RPS
run "GET /one/1" /one/1 LOAD_FAST=1
run "GET /porras (100 pools)" /porras LOAD_FAST=1
appends0=$(curl -s "$U/metrics" | awk '/^porrio_store_appends_total/ {print $2}')
fsyncs0=$(curl -s "$U/metrics" | awk '/^porrio_store_fsyncs_total/ {print $2}')
run "PUT apuestas (durable writes)" / LOAD_PUT_PREFIX=/porras/Bench-Writes-Liga-2017/apuestas/
appends=$(( $(curl -s "$U/metrics" | awk '/^porrio_store_appends_total/ {print $2}') - appends0 ))
fsyncs=$(( $(curl -s "$U/metrics" | awk '/^porrio_store_fsyncs_total/ {print $2}') - fsyncs0 ))
echo "# durable writes: $appends appends shared $fsyncs fsyncs ($(awk -v a="$appends" -v f="$fsyncs" 'BEGIN {printf "%.1f", a / (f ? f : 1)}') per fsync)"
echo "# resident memory after the runs: $(awk '/VmRSS/ {printf "%.1f MiB", $2 / 1024}' /proc/$PID/status), peak $(awk '/VmHWM/ {printf "%.1f MiB", $2 / 1024}' /proc/$PID/status)"
