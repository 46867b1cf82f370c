# bench/common.sh: sourced by bench/mixed.sh and bench/scale.sh. One porrio at a time on loopback,
# its DATA_DIR under a private temp dir $W, every wait bounded, everything stopped on exit.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# PORRIO_BIN=path measures another build (say, the previous version's) instead of build/porrio
[ -n "${PORRIO_BIN:-}" ] || make -s build/porrio >&2
W=$(mktemp -d /tmp/porrio-bench.XXXXXX)
cp "${PORRIO_BIN:-build/porrio}" "$W/porrio" # a rebuild by someone else cannot swap the binary midway
PID= BG=()                  # the server; background wrk runs by process group
cleanup() { # signals only the runs not yet waited for: a reaped pid may belong to someone else by now
  set +e; local p; for p in "${BG[@]}"; do
    jobs -p | grep -qx "$p" && { kill -INT -- "-$p" 2>/dev/null; wait "$p" 2>/dev/null; }
  done
  stop_porrio; rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "$(basename "$0"): $*" >&2; exit 1; }
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.3f", b - a}'; }
verdict() { awk "BEGIN {exit !($1)}" && echo PASS || echo FAIL; } # verdict 'AWK-CONDITION'

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
U=http://127.0.0.1:$PORT

# start_porrio DATA_DIR: starts porrio and waits (<= 60 s) for GET /health/ready to answer 200,
# polling every 10 ms; sets PID and READY_S (seconds from the exec to that first 200)
start_porrio() {
  local t0; t0=$(now)
  (cd "$W" && exec env -i PORT="$PORT" HOST=127.0.0.1 WORKERS=2 LOG_LEVEL=info ETCD_ENDPOINTS= \
    DATA_DIR="$1" HITOS_FILE="$OLDPWD/data/hitos.json" ./porrio >/dev/null 2>>"$W/stderr") &
  PID=$!
  while ! curl -sf -o /dev/null --max-time 1 "$U/health/ready"; do
    kill -0 "$PID" 2>/dev/null || die "porrio exited at start; stderr: $(tail -3 "$W/stderr")"
    awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {exit !(b - a > 60)}' && die "porrio not ready after 60 s"
    sleep 0.01
  done
  READY_S=$(since "$t0")
}
# stop_porrio: SIGTERM, up to 30 s to drain and flush, then SIGKILL
stop_porrio() {
  [ -n "$PID" ] || return 0
  kill -TERM "$PID" 2>/dev/null || true
  local i; for i in $(seq 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  PID=
}
# metric NAME: its value in GET /metrics; 0 when porrio has no such metric (an older build)
metric() { curl -sf --max-time 10 "$U/metrics" | awk -v k="$1" '$1 == k {v = $2} END {printf "%d\n", v}'; }
# fsync_probe: this disk's fdatasync after a 1.3 KB append (300 times, in $W): what bounds durable writes
fsync_probe() {
  python3 - "$W/probe" <<'PY'
import os, sys, time
fd, ts = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY | os.O_APPEND), []
for _ in range(300):
    os.write(fd, b"x" * 1300); t = time.perf_counter(); os.fdatasync(fd); ts.append(time.perf_counter() - t)
os.unlink(sys.argv[1]); ts.sort()
print("fdatasync after a 1.3 KB append: p50 %.2f ms, p99 %.2f ms" % (ts[150] * 1e3, ts[296] * 1e3))
PY
}
# cpu_mark; ...; cpu_pct: prints the server's cpu time (user + system) since the mark, in % of one
# cpu, and the whole host's busy time in % of all its cpus (anything else running shows there)
host_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6}' /proc/stat; }
cpu_mark() { CPU0="$(awk '{print $14 + $15}' "/proc/$PID/stat") $(host_ticks) $EPOCHREALTIME"; }
cpu_pct() {
  awk -v hz="$(getconf CLK_TCK)" -v cpus="$(nproc)" 'NR == 1 {s = $1; b = $2; i = $3; t = $4}
    NR == 2 {printf "%.0f%% %.0f%%\n", 100 * ($1 - s) / hz / ($4 - t), 100 * ($2 - b) / ($2 - b + $3 - i)}' \
    <<<"$CPU0
$(awk '{print $14 + $15}' "/proc/$PID/stat") $(host_ticks) $EPOCHREALTIME"
}
# host_busy: the host's busy time over 1 s before anything starts, in % of its cpus
host_busy() { local a b; a=$(host_ticks); sleep 1; b=$(host_ticks)
  awk -v a="$a" -v b="$b" 'BEGIN {split(a, x, " "); split(b, y, " "); u = y[1] - x[1]; i = y[2] - x[2]; printf "%.0f%%", 100 * u / (u + i)}'; }
rss_kib() { awk '$1 == "VmRSS:" {print $2}' "/proc/$PID/status"; }

# wload OUT DURATION CONNS THREADS [VAR=value...]: a timed wrk run of bench/porras.lua in the
# background, in its own process group, its line to OUT; sets WL (wait "$WL" for it)
wload() {
  local out=$1 d=$2 c=$3 t=$4; shift 4
  setsid env "$@" timeout --foreground $((d + 15)) wrk -d"${d}s" -c"$c" -t"$t" -s bench/porras.lua "$U" >"$out" &
  WL=$!; BG+=("$WL")
}
# wread DURATION PATH: GET PATH with 4 connections, 1 wrk thread (bench/load.sh, LOAD_FAST=1)
wread() { LOAD_FAST=1 bench/load.sh "$U$2" "$1" 4 1; }

# fill MODE N CONNS [VAR=value...]: N requests of bench/porras.lua's MODE with 2 wrk threads, at
# most LIMIT seconds (default 300); sets FILLED to that run's line plus secs=<seconds taken>
# (not in a $(...): an interrupted script must still know the wrk to stop)
fill() {
  local mode=$1 n=$2 c=$3 lim=${LIMIT:-300} t0 wp i; shift 3
  rm -f "$W/fill.done"; t0=$(now)
  setsid env "$@" PORRAS_MODE="$mode" PORRAS_N="$n" PORRAS_T=2 PORRAS_DONE="$W/fill.done" \
    wrk -d"${lim}s" -c"$c" -t2 -s bench/porras.lua "$U" >"$W/fill.out" &
  wp=$!; BG+=("$wp")
  for i in $(seq $((lim * 20))); do
    [ "$(cat "$W/fill.done" 2>/dev/null | wc -l)" -ge 2 ] && break
    kill -0 "$wp" 2>/dev/null || break; sleep 0.05
  done
  local secs; secs=$(since "$t0")
  kill -INT -- "-$wp" 2>/dev/null || true; wait "$wp" || true
  [ "$(cat "$W/fill.done" 2>/dev/null | wc -l)" -ge 2 ] || die "fill $mode $n did not finish in $lim s"
  FILLED="$(grep '^rps=' "$W/fill.out") secs=$secs"
}
BUSY0=$(host_busy) # others may share the host: the scripts print this in their headers
