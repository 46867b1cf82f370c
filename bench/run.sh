#!/bin/bash
# bench/run.sh: porrio against h2o-min (bench/h2o-min.c, the same h2o chassis with nothing on
# top) on GET /status, WORKERS=1 and 2, loopback only. porrio must reach >= 90% of h2o-min's
# requests/s with its default LOG_LEVEL=info (stdout to /dev/null); a LOG_LEVEL=warn row shows
# what the access log costs. Also reports porrio's (and h2o-min's) resident memory: idle, peak
# of 0.2 s samples under load, and VmHWM. Every server and wrk it starts is stopped on exit.
# Env: DURATION (s per run, 1-60, default 5), CONNS (1-1024, default 64), THREADS (wrk, default 2),
# ROUNDS (1-10, default 3: the host is shared, so each row keeps its best of ROUNDS runs).
set -euo pipefail
cd "$(dirname "$0")/.."
D=${DURATION:-5} C=${CONNS:-64} T=${THREADS:-2} R=${ROUNDS:-3}
[[ $D =~ ^[0-9]+$ && $D -ge 1 && $D -le 60 && $C =~ ^[0-9]+$ && $C -ge 1 && $C -le 1024 &&
   $R =~ ^[0-9]+$ && $R -ge 1 && $R -le 10 ]] ||
  { echo "run.sh: need 1 <= DURATION <= 60, 1 <= CONNS <= 1024 and 1 <= ROUNDS <= 10" >&2; exit 2; }
OUT=build/bench
mkdir -p "$OUT"

echo "# DURATION=$D CONNS=$C THREADS=$T ROUNDS=$R bench/run.sh   ($(git describe --always --dirty 2>/dev/null || echo '?'))"
echo "# each run: bench/load.sh http://127.0.0.1:PORT/status $D $C $T"
echo "#   = wrk -d${D}s -c$C -t$T -s bench/load.lua http://127.0.0.1:PORT/status   (after a 1 s warm-up)"
echo "# $(uname -n)  $(nproc) cpus  loadavg(1/5/15m) $(cut -d' ' -f1-3 /proc/loadavg)  $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"

# Others may be editing the C files: a failed build stops the run rather than measuring a stale
# binary, and the run measures a private copy, which a rebuild of build/porrio cannot replace midway.
make -s build/porrio >&2
make -s -f Makefile -f bench/bench.mk build/bench/h2o-min >&2
cp build/porrio "$OUT/porrio"
echo "# porrio: $(sha256sum "$OUT/porrio" | cut -c1-12) built $(date -u -r build/porrio +%FT%TZ)"

PIDS=() # servers by pid, load runs by process group (-pgid): wrk is a grandchild of load.sh
stop_all() {
  local p i
  for p in "${PIDS[@]}"; do kill -TERM -- "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do # porrio drains first; nothing is in flight once wrk is done
    for i in $(seq 50); do kill -0 -- "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "$p" 2>/dev/null || true
  done
  PIDS=()
}
VAR=$(mktemp -d "$OUT/var.XXXXXX")
trap 'stop_all; rm -rf "$VAR"' EXIT
trap 'exit 130' INT TERM

free_port() { # a random port in 20000-29999 that nothing listens on
  local p; for p in $(shuf -i 20000-29999 -n 100); do
    ! ss -Htln "sport = :$p" | grep -q . && { echo "$p"; return; }
  done; return 1; }
kib() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# start TARGET WORKERS LEVEL PORT: sets PID once GET /status answers 200
start() {
  if [ "$1" = porrio ]; then
    # its own store, and no etcd: the numbers must not depend on what else runs on the host
    HOST=127.0.0.1 PORT=$4 WORKERS=$2 LOG_LEVEL=$3 DATA_DIR="$VAR" ETCD_ENDPOINTS= \
      "$OUT/porrio" >/dev/null 2>"$OUT/porrio.err" &
  else
    build/bench/h2o-min "$4" "$2" >/dev/null 2>"$OUT/h2o-min.err" &
  fi
  PID=$!; PIDS+=("$PID")
  local i; for i in $(seq 100); do
    SIZE[$1]=$(curl -sf -o /dev/null -w '%{size_header}+%{size_download}' "http://127.0.0.1:$4/status") && return
    kill -0 "$PID" 2>/dev/null || break; sleep 0.05
  done
  echo "run.sh: $1 did not become ready on :$4; see $OUT/$1.err" >&2; exit 1
}

declare -A SIZE RPS ROW IDLE PEAK HWM NOTE # keyed by "target workers"; SIZE by target
# measure TARGET WORKERS LEVEL: a fresh server, a 1 s warm-up, one run; keeps the run of the
# highest rps for the row, the highest memory figures, and any failure note
measure() {
  local k="$1${3:+/$3} $2" port; port=$(free_port)
  start "$1" "$2" "${3:-info}" "$port"
  local url="http://127.0.0.1:$port/status" out="$OUT/load.out" idle peak=0 r hwm rc note=
  sleep 0.2; idle=$(kib "$PID" VmRSS)
  bench/load.sh "$url" 1 "$C" "$T" >/dev/null || true # a server that died shows in the note
  setsid bench/load.sh "$url" "$D" "$C" "$T" >"$out" & local L=$!; PIDS+=("-$L")
  while kill -0 "$L" 2>/dev/null; do
    r=$(kib "$PID" VmRSS); [ "${r:-0}" -gt "$peak" ] && peak=$r; sleep 0.2
  done
  wait "$L" || note="load.sh failed"
  hwm=$(kib "$PID" VmHWM)
  if ! kill -0 "$PID" 2>/dev/null; then
    wait "$PID" && rc=0 || rc=$?
    note="$1 exited with status $rc during a run; see $OUT/$1.err"
  fi
  stop_all
  [ -s "$out" ] || echo "rps=0 p50_ms=- p99_ms=- errors=-" >"$out"
  set -- $(sed 's/[a-z0-9_]*=//g' "$out")
  echo "#   round $round: $k: rps=$1" >&2
  [ "$1" -gt "${RPS[$k]:--1}" ] && RPS[$k]=$1 ROW[$k]="$1 $2 $3 $4"
  [ "$idle" -gt "${IDLE[$k]:-0}" ] && IDLE[$k]=$idle
  [ "$peak" -gt "${PEAK[$k]:-0}" ] && PEAK[$k]=$peak
  [ "${hwm:-0}" -gt "${HWM[$k]:-0}" ] && HWM[$k]=$hwm
  [ -z "$note" ] || NOTE[$k]=$note
}

# Rounds go round-robin over all six rows, so a burst of load from elsewhere on the host lowers
# one run of each row at worst, and the best run of each row is the one least disturbed.
for round in $(seq "$R"); do
  for w in 1 2; do measure h2o-min "$w"; measure porrio "$w" info; measure porrio "$w" warn; done
done
printf '%-12s %7s %8s %8s %8s %6s %7s %8s %8s %8s\n' \
  target workers rps p50_ms p99_ms errors ratio idle_mib load_mib hwm_mib
for w in 1 2; do
  for t in h2o-min porrio/info porrio/warn; do
    k="$t $w" ratio=-
    [ "$t" = h2o-min ] || ratio=$(awk -v a="${RPS[$k]}" -v b="${RPS[h2o-min $w]}" 'BEGIN {printf "%.2f", b ? a / b : 0}')
    printf '%-12s %7s %8s %8s %8s %6s %7s %8s %8s %8s\n' "$t" "$w" ${ROW[$k]} "$ratio" \
      "$(mib "${IDLE[$k]}")" "$(mib "${PEAK[$k]}")" "$(mib "${HWM[$k]}")"
    [ -z "${NOTE[$k]:-}" ] || echo "#   $t $w: ${NOTE[$k]}"
  done
done
echo "# each row: the best of $R round-robin runs by rps (with that run's latencies and errors)"
echo "# ratio = rps / h2o-min's at the same workers (goal >= 0.90 for porrio/info); mib = MiB of the server process"
echo "# idle = VmRSS 0.2 s after ready; load = peak VmRSS of 0.2 s samples during the run; hwm = VmHWM after it"
echo "# one answer to GET /status, header+body bytes: h2o-min ${SIZE[h2o-min]}, porrio ${SIZE[porrio]}"
echo "# porrio/info: default LOG_LEVEL, one access-log line per request to stdout = /dev/null; porrio/warn: no access log"
echo "# loadavg at end $(cut -d' ' -f1-3 /proc/loadavg)"
