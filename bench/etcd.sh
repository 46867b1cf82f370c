#!/bin/bash
# bench/etcd.sh: STORE=etcd against the etcd it runs on (README: Benchmarks, Replicas). One etcd
# member (Debian's etcd-server, unpacked by tools/test-deps.sh) on free loopback ports with its
# data in /tmp, and in the same run:
#   - etcd's ceiling: plain puts of new keys through its HTTP gateway (POST /v3/kv/put);
#   - durable writes through porrio STORE=etcd (PUT /porras/{ID}/apuestas/{quien}, a new person
#     each time: each 2xx is an etcd transaction committed and shown by the replica's view);
#   - reads of GET /porras (100 pools) and GET /porras/{ID} from the STORE=etcd replica's view
#     and from a STORE=local porrio holding the same pools.
# Both porrios WORKERS=2. Loopback only, bounded. Env: DURATION (s per run, 1-60, default 5),
# CONNS (default 32, the concurrency of the writes and of the puts).
set -euo pipefail
cd "$(dirname "$0")/.."
D=${DURATION:-5} C=${CONNS:-32}
ETCD=${ETCD_BIN:-/var/cache/porrio/etcd/usr/bin/etcd}
[ -x "$ETCD" ] || ETCD=$(command -v etcd) || { echo "bench/etcd.sh: no etcd (run tools/test-deps.sh)" >&2; exit 2; }
make -s build/porrio >&2
W=$(mktemp -d /tmp/porrio-bench.XXXXXX)
cp build/porrio "$W/porrio"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
EC=$(port) EP=$(port) PE=$(port) PL=$(port)
E=http://127.0.0.1:$EC UE=http://127.0.0.1:$PE UL=http://127.0.0.1:$PL
"$ETCD" --name bench --data-dir "$W/etcd" --listen-client-urls "$E" --advertise-client-urls "$E" \
  --listen-peer-urls "http://127.0.0.1:$EP" --initial-advertise-peer-urls "http://127.0.0.1:$EP" \
  --initial-cluster "bench=http://127.0.0.1:$EP" >"$W/etcd.log" 2>&1 &
EPID=$!
trap 'kill -TERM ${PIDS:-} $EPID 2>/dev/null; wait 2>/dev/null; rm -rf "$W"' EXIT
for _ in $(seq 100); do curl -sf "$E/health" 2>/dev/null | grep -q true && break; sleep 0.1; done
start() { # start PORT SETTINGS...
  local p=$1; shift
  (cd "$W" && exec env -i PORT="$p" HOST=127.0.0.1 WORKERS=2 MAX_BETS_PER_POOL=100000000 "$@" HITOS_FILE="$OLDPWD/data/hitos.json" ./porrio >/dev/null 2>>"$W/stderr") &
  PIDS="${PIDS:-} $!"
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$p/health/ready" && break; sleep 0.05; done
}
start "$PE" STORE=etcd ETCD_ENDPOINTS="$E" ETCD_PREFIX=bench:
start "$PL" STORE=local ETCD_ENDPOINTS= DATA_DIR="$W/var"
for u in "$UE" "$UL"; do
  for i in $(seq 100); do curl -sf -o /dev/null -X PUT "$u/porra/Local$i/Visitante$i/Liga/2017"; done
  for i in $(seq 10); do curl -sf -o /dev/null -X PUT "$u/porras/Local7-Visitante7-Liga-2017/apuestas/p$i" -d '{"local":1,"visitante":0}'; done
  curl -sf -o /dev/null -X PUT "$u/porra/Bench/Writes/Liga/2017"
done
[ "$(curl -s "$UE/porras")" = "$(curl -s "$UL/porras")" ] || echo "# warning: the two listings differ" >&2

echo "# DURATION=$D CONNS=$C bench/etcd.sh   ($(git describe --always --dirty 2>/dev/null || echo '?')); $(nproc) cpus; $("$ETCD" --version | head -1)"
echo "# each run: bench/load.sh URL $D CONNS 2 (wrk -t2, after a 1 s warm-up)"
printf '%-44s %9s %9s %9s %7s %7s\n' what rps p50_ms p99_ms errors ratio
run() { # run LABEL URL CONNS [env...]
  local label=$1 url=$2 c=$3; shift 3
  env "$@" bench/load.sh "$url" 1 "$c" 2 >/dev/null
  set -- $(env "$@" bench/load.sh "$url" "$D" "$c" 2 | sed 's/[a-z0-9_]*=//g')
  printf '%-44s %9s %9s %9s %7s' "$label" "$1" "$2" "$3" "$4"
  [ -n "${BASE:-}" ] && awk -v a="$1" -v b="$BASE" 'BEGIN {printf " %6.0f%%", 100 * a / b}'
  echo
  LAST=$1
}
BASE= run "porrio STORE=local: GET /porras (100 pools)" "$UL/porras" 64 LOAD_FAST=1
BASE=$LAST run "porrio STORE=etcd:  GET /porras (100 pools)" "$UE/porras" 64 LOAD_FAST=1
BASE= run "porrio STORE=local: GET /porras/{ID}" "$UL/porras/Local7-Visitante7-Liga-2017" 64 LOAD_FAST=1
BASE=$LAST run "porrio STORE=etcd:  GET /porras/{ID}" "$UE/porras/Local7-Visitante7-Liga-2017" 64 LOAD_FAST=1
BASE= run "etcd: plain puts through the gateway" "$E/" "$C" LOAD_ETCD_PUT=other:
BASE=$LAST run "porrio STORE=etcd: PUT apuestas (durable)" "$UE/" "$C" LOAD_PUT_PREFIX=/porras/Bench-Writes-Liga-2017/apuestas/
echo "# ratio: a STORE=etcd read against the STORE=local one above it (the same pools), a write run against the puts above it"
echo "# the STORE=etcd replica's view lag after the runs: $(curl -s "$UE/metrics" | awk '/^porrio_store_view_lag_revisions/ {print $2}') revisions"
