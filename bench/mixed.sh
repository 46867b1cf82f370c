#!/bin/bash
# bench/mixed.sh: reads while writes run, on one porrio (WORKERS=2, LOG_LEVEL=info, stdout to
# /dev/null, a fresh DATA_DIR) holding 10,000 pools of 3 bets each, against the goals of "State
# layer v2". Writers replace bets (PUT /porras/{ID}/apuestas/{quien}, a random one of the 3
# bettors of a random pool: the state keeps its size), except (d): new bettors in 8 pools.
# Loopback only, bounded; wrk shares the 2 cpus with the server.
# Env: DURATION (s per measured run, 1-60, default 5; each after a 1 s warm-up); ROUNDS (1-5,
# default 1): (a)-(d) run ROUNDS times, round-robin, and each row keeps its best run by rps (the host
# may be shared: the best run is the least disturbed); the ratios of (b) and (c) are the median of
# each round's pair against that round's run alone, the rounds listed in brackets; (e) runs once.
set -euo pipefail
D=${DURATION:-5} ROUNDS=${ROUNDS:-1}
[[ $D =~ ^[0-9]+$ && $D -ge 1 && $D -le 60 && $ROUNDS =~ ^[1-5]$ ]] ||
  { echo "mixed.sh: need 1 <= DURATION <= 60 and 1 <= ROUNDS <= 5" >&2; exit 2; }
source "$(dirname "$0")/common.sh"
POOLS=10000 BETTORS=3 ONE=/porras/L4242-V4242-Liga-2017
PACE=8 # ms between two writes of a paced writer: 16 of them make at most 2,000 writes/s
T0=$(now)
start_porrio "$W/var"
fill pools $POOLS 64; F1=$FILLED
fill bets $((POOLS * BETTORS)) 64 PORRAS_POOLS=$POOLS; F2=$FILLED
[ "$(metric porrio_porras)" = $POOLS ] && [[ $(metric porrio_apuestas) =~ ^(0|$((POOLS * BETTORS)))$ ]] ||
  die "fill: $(metric porrio_porras) pools and $(metric porrio_apuestas) bets held"
FILL_S=$(since "$T0")

echo "# ${PORRIO_BIN:+PORRIO_BIN=$PORRIO_BIN }DURATION=$D ROUNDS=$ROUNDS bash bench/mixed.sh   ($(git describe --always --dirty 2>/dev/null || echo '?'))"
echo "# host busy $BUSY0 of its cpus in the 1 s before the start (others' processes, if any)"
echo "# $(nproc) cpus, loadavg $(cut -d' ' -f1-3 /proc/loadavg), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), porrio $(sha256sum "$W/porrio" | cut -c1-12)"
echo "# filled in $FILL_S s: $POOLS pools ($(sed 's/.*secs=//' <<<"$F1") s) + $((POOLS * BETTORS)) bets ($(sed 's/.*secs=//' <<<"$F2") s), wrk -t2 -c64 -s bench/porras.lua; GET /porras body $(curl -s "$U/porras" | wc -c) bytes"
echo "# /tmp on $(df --output=source,fstype /tmp | tail -1 | tr -s ' '); $(fsync_probe)"
echo "# reads:  bench/load.sh URL $D 4 1  (wrk -t1 -c4 -d${D}s, LOAD_FAST=1)"
echo "# writes: wrk -t1 -c16 -d${D}s -s bench/porras.lua (PORRAS_MODE=replace), started with the reads; each pair after a 1 s warm-up pair"
echo "#   paced (b, c): each of the 16 connections waits ${PACE} ms before each write (PORRAS_DELAY_MS=$PACE): at most $((16000 / PACE)) writes/s"
echo "#   flat out (b', c', e): each writes again as soon as answered; the 2 cpus are then shared three ways"
echo "# control: the one-pool reads with 16 connections of GET /status (wrk -t1 -c16, LOAD_FAST=1) in place of the writers"
echo "# (d): wrk -t2 -c64 -d${D}s -s bench/porras.lua (PORRAS_MODE=new): a new bettor each time, in 8 pools made for it"
echo "# srv_cpu: porrio's cpu time over the run in % of one cpu; host: the whole host's busy time in % of its $(nproc) cpus"
F='%-38s %6s %8s %8s %6s %7s %4s  %-18s %-15s %s\n'
printf "$F" figure rps p50_ms p99_ms errors srv_cpu host result goal verdict
row() { # row LABEL "rps= p50= p99= errors=" "SRV_CPU HOST" RESULT GOAL VERDICT
  local l=$1 r; r=$(sed 's/ requests=.*//; s/[a-z0-9_]*=//g' <<<"$2")
  printf "$F" "$l" $r ${3:-- -} "${4:--}" "${5:--}" "${6:--}"
}
field() { sed "s/.*$1=\([^ ]*\).*/\1/" <<<"$2"; }
wgoal() { verdict "$(field p99_ms "$1") <= 20 && $(field errors "$1") == 0"; }
# pair PATH [PACE_MS]: GET PATH (4 conns) while 16 connections replace bets, each waiting PACE_MS
# before each write (default: none, as fast as they are answered); sets RD and WR (their lines)
pair() {
  local pace=(PORRAS_POOLS=$POOLS PORRAS_BETTORS=$BETTORS ${2:+PORRAS_DELAY_MS=$2})
  wload "$W/wr" 1 16 1 "${pace[@]}"; wread 1 "$1" >/dev/null; wait "$WL"
  cpu_mark; wload "$W/wr" "$D" 16 1 "${pace[@]}"; RD=$(wread "$D" "$1")
  wait "$WL"; CPU=$(cpu_pct); WR=$(grep '^rps=' "$W/wr")
}
# control PATH: GET PATH while 16 connections GET /status instead (cheaper than any write): how much
# of a drop is only the 2 cpus being shared with a second wrk; sets RD
control() {
  setsid env LOAD_FAST=1 bench/load.sh "$U/status" $((D + 2)) 16 1 >/dev/null & WL=$!; BG+=("$WL")
  sleep 1; RD=$(wread "$D" "$1"); wait "$WL"
}
mstate() { echo "$(metric porrio_store_appends_total) $(metric porrio_store_journal_bytes) $(metric porrio_store_compactions_total)"; }

# keep KEY LINE VAR=value...: when LINE's rps beats KEY's best round so far, sets the VARs
declare -A BEST
keep() {
  local k=$1 r; r=$(field rps "$2"); shift 2
  [ "$r" -gt "${BEST[$k]:--1}" ] || return 0
  BEST[$k]=$r; local kv; for kv in "$@"; do printf -v "${kv%%=*}" '%s' "${kv#*=}"; done
}
ratio() { awk -v a="$(field rps "$1")" -v b="$(field rps "$2")" 'BEGIN {printf "%.0f", b ? 100 * a / b : 0}'; }
# median N...: the middle of the per-round ratios (each round's pair against that round's run alone:
# the host's speed drifts between rounds more than between a run and the next)
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
RB=() RC=()
NB=0 REC=42 # compactions during (b); per-write journal bytes, for (e), from (b) unless a compaction reset the journal
for round in $(seq "$ROUNDS"); do # (a), (b), (c): the full listing, one pool, alone and with the writers
  wread 1 /porras >/dev/null; cpu_mark; LA=$(wread "$D" /porras); X=$(cpu_pct); keep a "$LA" "A=$LA" "A_CPU=$X"
  pair /porras $PACE; keep bp "$RD" "BP_RD=$RD" "BP_WR=$WR" "BP_CPU=$CPU"; RB+=("$(ratio "$RD" "$LA")")
  read -r ap0 jb0 c0 < <(mstate); pair /porras; read -r ap1 jb1 c1 < <(mstate)
  keep b "$RD" "B_RD=$RD" "B_WR=$WR" "B_CPU=$CPU"; NB=$((NB + c1 - c0)) LB=$RD
  [ "$round" = 1 ] && [ "$c1" = "$c0" ] && [ $((ap1 - ap0)) -gt 0 ] && REC=$(( (jb1 - jb0) / (ap1 - ap0) ))
  wread 1 "$ONE" >/dev/null; cpu_mark; LC=$(wread "$D" "$ONE"); X=$(cpu_pct); keep c "$LC" "C=$LC" "C_CPU=$X"
  pair "$ONE" $PACE; keep cp "$RD" "CP_RD=$RD" "CP_WR=$WR" "CP_CPU=$CPU"; RC+=("$(ratio "$RD" "$LC")")
  pair "$ONE"; keep cw "$RD" "CW_RD=$RD" "CW_WR=$WR" "CW_CPU=$CPU"; LW=$RD
  control "$ONE"; keep ctl "$RD" "CTL=$RD"
  echo "#   round $round: a $(field rps "$LA"), b $(field rps "$LB"), c $(field rps "$LC"), c with writers $(field rps "$LW"), control $(field rps "$RD") req/s" >&2
done
row "a GET /porras alone" "$A" "$A_CPU"
R=$(median "${RB[@]}"); row "b GET /porras, 16 paced writers" "$BP_RD" "$BP_CPU" "$R% of (a) [${RB[*]}]" ">= 50%" "$(verdict "$R >= 50")"
row "b   PUT writes during (b)" "$BP_WR" "$BP_CPU" "" "p99<=20ms,0 err" "$(wgoal "$BP_WR")"
R=$(ratio "$B_RD" "$A"); row "b' GET /porras, 16 writers flat out" "$B_RD" "$B_CPU" "$R% of (a)" ">= 50%" "$(verdict "$R >= 50")"
row "b'  PUT writes during (b')" "$B_WR" "$B_CPU" "$NB compactions" "p99<=20ms,0 err" "$(wgoal "$B_WR")"
row "c GET /porras/{ID} alone" "$C" "$C_CPU"
R=$(median "${RC[@]}"); row "c GET /porras/{ID}, 16 paced writers" "$CP_RD" "$CP_CPU" "$R% of (c) [${RC[*]}]" ">= 80%" "$(verdict "$R >= 80")"
row "c   PUT writes during (c)" "$CP_WR" "$CP_CPU" "" "p99<=20ms,0 err" "$(wgoal "$CP_WR")"
R=$(ratio "$CW_RD" "$C"); row "c' GET /porras/{ID}, 16 writers flat out" "$CW_RD" "$CW_CPU" "$R% of (c)" "-" "-"
row "c'  PUT writes during (c')" "$CW_WR" "$CW_CPU"
row "c   control: 16 conns GET /status" "$CTL" "" "$(ratio "$CTL" "$C")% of (c)"
WRATE=$(field rps "$B_WR")

# (e): (b) again, with the journal topped up (count-bounded replacing writes, 64 conns) so that
# it passes the compaction threshold, max(8 MiB, snapshot), ~1 s + DURATION/3 into the pair
topup() { # topup MARGIN_BYTES: sets NTOP to the writes made
  local jb sb t n; jb=$(metric porrio_store_journal_bytes) sb=$(metric porrio_store_snapshot_bytes)
  t=$(( sb > 8388608 ? sb : 8388608 )); n=$(( (t - $1 - jb) / REC ))
  NTOP=$(( n > 0 ? n : 0 ))
  [ "$n" -le 0 ] || fill replace "$n" 64 PORRAS_POOLS=$POOLS PORRAS_BETTORS=$BETTORS
}
MARGIN=$(awk -v r="$WRATE" -v d="$D" -v b="$REC" 'BEGIN {printf "%d", r * (1 + d / 3) * b}')
topup "$MARGIN"
if [ "$NTOP" = 0 ]; then # too close already to place the crossing: cross it now, start afresh
  c=$(metric porrio_store_compactions_total); topup -65536
  for _ in $(seq 600); do [ "$(metric porrio_store_compactions_total)" -gt "$c" ] && break; sleep 0.1; done
  topup "$MARGIN"
fi
read -r _ jb0 c0 < <(mstate); pair /porras; read -r _ jb1 c1 < <(mstate)
NC=$((c1 - c0)); V=$(wgoal "$WR"); [ "$NC" -ge 1 ] || V="NO-COMPACTION"
row "e PUT writes across a compaction" "$WR" "$CPU" "$NC compactions" "p99<=20ms,0 err" "$V"
row "e   GET /porras during (e)" "$RD" "$CPU" "$(ratio "$RD" "$A")% of (a)"

# (d): durable writes alone, 64 connections, a new bettor each time in 8 pools
for i in $(seq 0 7); do curl -sf -o /dev/null -X PUT "$U/porra/W$i/Bench/Liga/2017"; done
for round in $(seq "$ROUNDS"); do
  wload "$W/wd" 1 64 2 PORRAS_MODE=new; wait "$WL"
  ap0=$(metric porrio_store_appends_total) fs0=$(metric porrio_store_fsyncs_total)
  cpu_mark; wload "$W/wd" "$D" 64 2 PORRAS_MODE=new; wait "$WL"; X=$(cpu_pct); L=$(grep '^rps=' "$W/wd")
  ap1=$(metric porrio_store_appends_total) fs1=$(metric porrio_store_fsyncs_total)
  keep d "$L" "DW=$L" "D_CPU=$X" "PER=$(awk -v a=$((ap1 - ap0)) -v f=$((fs1 - fs0)) 'BEGIN {printf "%.1f", a / (f ? f : 1)}')"
done
row "d PUT new bettors, 64 conns, alone" "$DW" "$D_CPU" "$PER appends/fsync" ">= 24000/s" "$(verdict "$(field rps "$DW") >= 24000 && $(field errors "$DW") == 0")"

echo "# (e): journal topped up with $NTOP writes (~$REC B each) to ~$MARGIN B below the threshold; journal $jb0 -> $jb1 B over the pair"
echo "# porrio VmRSS at the end $(awk '/VmRSS/ {printf "%.1f MiB", $2 / 1024}' /proc/$PID/status), VmHWM $(awk '/VmHWM/ {printf "%.1f MiB", $2 / 1024}' /proc/$PID/status); $(metric porrio_store_compactions_total) compactions in all"
echo "# done in $(since "$T0") s; loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
