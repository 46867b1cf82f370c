#!/bin/bash
# bench/scale.sh: a large state on one porrio (WORKERS=2, LOG_LEVEL=info, stdout to /dev/null, a
# fresh DATA_DIR): BETS bets over POOLS pools loaded through the HTTP API (durable PUTs, wrk with
# bench/porras.lua: bet k is "jugador<k / POOLS>" in pool k % POOLS), then resident memory per bet,
# restart to ready on the same DATA_DIR, and the store's size on disk, against the goals of
# "State layer v2". Loopback only, bounded.
# Env: BETS (1-5,000,000, default 1,000,000), POOLS (1-100,000, default 1,000), CONNS (load, default 64).
set -euo pipefail
N=${BETS:-1000000} P=${POOLS:-1000} C=${CONNS:-64}
[[ $N =~ ^[0-9]+$ && $N -ge 1 && $N -le 5000000 && $P =~ ^[0-9]+$ && $P -ge 1 && $P -le 100000 &&
   $C =~ ^[0-9]+$ && $C -ge 2 && $C -le 1024 ]] ||
  { echo "scale.sh: need 1 <= BETS <= 5000000, 1 <= POOLS <= 100000, 2 <= CONNS <= 1024" >&2; exit 2; }
source "$(dirname "$0")/common.sh"
T0=$(now)
kib() { awk -v k="$1" 'BEGIN {printf "%.1f MiB", k / 1024}'; }
perbet() { awk -v a="$1" -v b="$2" -v n="$N" 'BEGIN {printf "%.1f", (a - b) * 1024 / n}'; }
# restart DIR: stop, start again on DIR; sets READY_S, COLD and WARM (VmRSS KiB right after ready,
# and after one full GET /porras), LIST_S and LIST_B (that listing's time and size)
restart() {
  stop_porrio; start_porrio "$1"; COLD=$(rss_kib)
  read -r LIST_S LIST_B < <(curl -sf --max-time 120 -o /dev/null -w '%{time_total} %{size_download}\n' "$U/porras")
  WARM=$(rss_kib)
}

# an empty porrio, measured as the loaded one will be: started once, then restarted
start_porrio "$W/empty"; restart "$W/empty"; E_READY=$READY_S E_COLD=$COLD E_WARM=$WARM; stop_porrio

start_porrio "$W/var"
fill pools "$P" 64; FP=$FILLED
cpu_mark; LIMIT=$(( N / 2000 > 60 ? N / 2000 : 60 )) fill bets "$N" "$C" PORRAS_POOLS="$P"; FB=$FILLED
read -r LCPU LHOST < <(cpu_pct)
[ "$(metric porrio_porras)" = "$P" ] && [ "$(metric porrio_apuestas)" = "$N" ] ||
  die "load: $(metric porrio_porras) pools and $(metric porrio_apuestas) bets held"
LOADED=$(rss_kib) HWM=$(awk '$1 == "VmHWM:" {print $2}' "/proc/$PID/status")
COMP=$(metric porrio_store_compactions_total) AP=$(metric porrio_store_appends_total) FS=$(metric porrio_store_fsyncs_total)
restart "$W/var"
sleep 1; LATER=$(rss_kib)
DISK=$(du -sb "$W/var" | cut -f1)
FILES=$(cd "$W/var" && ls -l | awk 'NR > 1 {printf "%s %s B; ", $9, $5}')

field() { sed "s/.*$1=\([^ ]*\).*/\1/" <<<"$2"; }
BS=$(field secs "$FB")
echo "# ${PORRIO_BIN:+PORRIO_BIN=$PORRIO_BIN }BETS=$N POOLS=$P CONNS=$C bash bench/scale.sh   ($(git describe --always --dirty 2>/dev/null || echo '?'))"
echo "# host busy $BUSY0 of its cpus in the 1 s before the start (others' processes, if any)"
echo "# $(nproc) cpus, $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), porrio $(sha256sum "$W/porrio" | cut -c1-12); wrk shares the cpus with the server"
echo "# /tmp on $(df --output=source,fstype /tmp | tail -1 | tr -s ' '); $(fsync_probe)"
echo "# load: $P pools (wrk -t2 -c64, $(field secs "$FP") s), then $N bets: wrk -t2 -c$C -s bench/porras.lua PORRAS_MODE=bets, each PUT durable"
echo "#   $AP appends in $FS fsyncs, $COMP compactions during the load; errors $(field errors "$FB"), p50 $(field p50_ms "$FB") ms, p99 $(field p99_ms "$FB") ms"
echo "#   porrio's cpu $LCPU of one cpu, the host busy $LHOST of its $(nproc) cpus meanwhile"
echo "# bytes/bet = (VmRSS - VmRSS of an empty porrio measured the same way) / $N; empty: cold $(kib "$E_COLD"), warm $(kib "$E_WARM"), ready in $E_READY s"
echo "# full GET /porras after the restart: $LIST_B bytes in $LIST_S s"
printf '%-40s %-34s %-10s %s\n' figure value goal verdict
row() { printf '%-40s %-34s %-10s %s\n' "$1" "$2" "${3:--}" "${4:--}"; }
row "load rate (durable PUTs)" "$(awk -v n="$N" -v s="$BS" 'BEGIN {printf "%.0f bets/s (%.1f s)", n / s, s}')"
row "VmRSS right after the load" "$(kib "$LOADED"), $(perbet "$LOADED" "$E_COLD") B/bet"
row "restart to ready" "$READY_S s" "<= 3 s" "$(verdict "$READY_S <= 3")"
B=$(perbet "$COLD" "$E_COLD"); row "VmRSS after restart, cold" "$(kib "$COLD"), $B B/bet" "<= 150 B" "$(verdict "$B <= 150")"
B=$(perbet "$WARM" "$E_WARM"); row "VmRSS after one GET /porras, warm" "$(kib "$WARM"), $B B/bet" "<= 150 B" "$(verdict "$B <= 150")"
row "on disk (du -sb DATA_DIR)" "$(awk -v d="$DISK" -v n="$N" 'BEGIN {printf "%.1f MiB, %.1f B/bet", d / 1048576, d / n}')"
echo "# files: $FILES"
echo "# VmHWM during the load $(kib "$HWM"); VmRSS 1 s after the warm listing $(kib "$LATER")"
echo "# done in $(since "$T0") s; loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
