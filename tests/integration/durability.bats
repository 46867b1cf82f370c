#!/usr/bin/env bats
# Behaviour in production (README: In production) against the real binary: one state shared by all workers,
# acknowledged data surviving kill -9, the end of the journal at start (docs/store.md, "Torn
# tail": a torn tail is cut off with a warning; anything else there stops porrio, exit 1, one
# error line, no file changed), a read-only data directory and a full disk (503 for writes, reads
# still served, nothing acknowledged lost, nothing half-written). The store's files are those of
# the second format: a new store writes journal-0000000000000001. Compaction, snapshots and damage
# anywhere in them: damage.bats.

load helpers

HITOS_JSON="$REPO_ROOT/data/hitos.json"

teardown() {
  # servers first (they hold files on the mounts), then the mounts
  porrio_cleanup
  local m f="$BATS_TEST_TMPDIR/mounts"
  if [ -f "$f" ]; then
    while read -r m; do
      mountpoint -q "$m" || continue
      umount "$m" 2>/dev/null || { sleep 0.2; umount "$m" 2>/dev/null; } || umount -l "$m"
    done <"$f"
  fi
}

# ---- local helpers ----------------------------------------------------------------------------

# tmpfs_mount SIZE: mounts a new tmpfs of SIZE, prints its path (recorded for teardown); skips the
# test when mounting is not permitted here.
tmpfs_mount() {
  local d
  d=$(mktemp -d "$BATS_TEST_TMPDIR/mnt.XXXXXX")
  if ! mount -t tmpfs -o "size=$1" tmpfs "$d" 2>"$BATS_TEST_TMPDIR/mount.err"; then
    skip "cannot mount a tmpfs here: $(cat "$BATS_TEST_TMPDIR/mount.err")"
  fi
  echo "$d" >>"$BATS_TEST_TMPDIR/mounts"
  printf '%s\n' "$d"
}

# code METHOD PATH [BODY]: prints the status of one request to the current server.
code() {
  if [ $# -ge 3 ]; then
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X "$1" -H 'Content-Type: application/json' \
      --data-binary "$3" "$PORRIO_URL$2"
  else
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X "$1" "$PORRIO_URL$2"
  fi
}

# get PATH: the body of GET PATH (fails unless 200).
get() {
  local out="$BATS_TEST_TMPDIR/get.body" st
  st=$(curl -s -o "$out" -w '%{http_code}' --max-time 5 "$PORRIO_URL$1")
  [ "$st" = 200 ] || { echo "GET $1: status $st: $(cat "$out")" >&2; return 1; }
  cat "$out"
}

# put_many FILE OUT [BODY]: PUT every path of FILE (one a line) on 16 concurrent connections,
# with BODY when given; OUT gets one "STATUS PATH" line each.
put_many() {
  if [ $# -ge 3 ]; then
    xargs -P 16 -I{} curl -s -o /dev/null --max-time 5 -X PUT -H 'Content-Type: application/json' \
      --data-binary "$3" -w '%{http_code} {}\n' "$PORRIO_URL{}" <"$1" >"$2"
  else
    xargs -P 16 -I{} curl -s -o /dev/null --max-time 5 -X PUT -w '%{http_code} {}\n' "$PORRIO_URL{}" \
      <"$1" >"$2"
  fi
}

# assert_all_status FILE CODE...: every "STATUS PATH" line of FILE has one of the CODEs, and
# FILE has as many lines as expected in $EXPECT_LINES when set.
assert_all_status() {
  local f=$1
  shift
  local bad
  bad=$(awk -v ok=" $* " 'index(ok, " " $1 " ") == 0' "$f")
  [ -z "$bad" ] || fail "unexpected statuses (expected $*):"$'\n'"$(head -n 20 <<<"$bad")"
  if [ -n "${EXPECT_LINES:-}" ]; then
    assert_equal "$(wc -l <"$f")" "$EXPECT_LINES"
  fi
}

# warn_lines: the warning log lines of the current server, compact; but for the one that
# ADMIN_TOKENS is empty, which is about the routes, not the store.
warn_lines() {
  jq -R -c 'fromjson? | objects | select(.level == "warn") | select(.msg | startswith("ADMIN_TOKENS is empty") | not)' \
    "$PORRIO_LOG"
}

# ---- one state for every worker ---------------------------------------------------------------

@test "WORKERS=2: 200 concurrent creations all 2xx; every fresh connection sees all 200; all survive a restart" {
  local data="$BATS_TEST_TMPDIR/data" i
  porrio_start WORKERS=2 HITOS_FILE="$HITOS_JSON" DATA_DIR="$data"
  for i in $(seq 1 200); do echo "/porra/conc$i/b/c/2024"; done >"$BATS_TEST_TMPDIR/paths"
  put_many "$BATS_TEST_TMPDIR/paths" "$BATS_TEST_TMPDIR/out"
  EXPECT_LINES=200 assert_all_status "$BATS_TEST_TMPDIR/out" 200

  # GET /porras through 8 fresh connections (new curl processes): the same 200 pools each time
  local want ids
  want=$(seq 1 200 | sed 's/.*/conc&-b-c-2024/' | sort | jq -R -s -c 'split("\n") | map(select(length > 0))')
  for i in $(seq 1 8); do
    ids=$(get /porras | jq -c '[.[].ID] | sort')
    assert_equal "$ids" "$want"
  done
  # and single pools, also through fresh connections
  for i in 1 57 113 200; do
    assert_equal "$(code GET "/porras/conc$i-b-c-2024")" 200
  done

  porrio_stop
  porrio_start WORKERS=2 HITOS_FILE="$HITOS_JSON" DATA_DIR="$data"
  ids=$(get /porras | jq -c '[.[].ID] | sort')
  assert_equal "$ids" "$want"
  porrio_stop
}

@test "WORKERS=2: concurrent bets on one pool from 100 people are all kept" {
  porrio_start WORKERS=2 HITOS_FILE="$HITOS_JSON" DATA_DIR="$BATS_TEST_TMPDIR/data"
  assert_equal "$(code PUT /porra/one/b/c/2024)" 200
  local i
  for i in $(seq 1 100); do echo "/porras/one-b-c-2024/apuestas/p$i"; done >"$BATS_TEST_TMPDIR/paths"
  put_many "$BATS_TEST_TMPDIR/paths" "$BATS_TEST_TMPDIR/out" '{"local":1,"visitante":0}'
  EXPECT_LINES=100 assert_all_status "$BATS_TEST_TMPDIR/out" 201
  run jq -r '.apuestas | length' <<<"$(get /porras/one-b-c-2024)"
  assert_output 100
  porrio_stop
}

# ---- kill -9 --------------------------------------------------------------------------------------

@test "kill -9 right after the last 2xx: every acknowledged pool, bet, result, deletion and milestone is there after a restart" {
  local data="$BATS_TEST_TMPDIR/data" i
  porrio_start WORKERS=2 HITOS_FILE="$HITOS_JSON" DATA_DIR="$data"
  for i in $(seq 1 50); do echo "/porra/k$i/b/c/2024"; done >"$BATS_TEST_TMPDIR/pools"
  for i in $(seq 1 50); do echo "/porras/k$i-b-c-2024/apuestas/ana"; done >"$BATS_TEST_TMPDIR/bets"
  put_many "$BATS_TEST_TMPDIR/pools" "$BATS_TEST_TMPDIR/out1"
  EXPECT_LINES=50 assert_all_status "$BATS_TEST_TMPDIR/out1" 200
  put_many "$BATS_TEST_TMPDIR/bets" "$BATS_TEST_TMPDIR/out2" '{"local":3,"visitante":2}'
  EXPECT_LINES=50 assert_all_status "$BATS_TEST_TMPDIR/out2" 201
  assert_equal "$(code PUT /porras/k1-b-c-2024/resultado '{"local":3,"visitante":2}')" 200
  assert_equal "$(code PUT /porra/gone/b/c/2024)" 200
  assert_equal "$(code DELETE /porras/gone-b-c-2024)" 204
  assert_equal "$(code POST /hitos '{"file":"2.Durable","title":"t","fecha":"1/1/2024"}')" 201
  # the last write, then SIGKILL at once
  assert_equal "$(code PUT /porras/k50-b-c-2024/apuestas/last '{"local":0,"visitante":0}')" 201
  kill -KILL "$PORRIO_PID"
  porrio_wait_exit "$PORRIO_PID" 50
  assert_equal "$PORRIO_STATUS" 137

  porrio_start WORKERS=2 HITOS_FILE="$HITOS_JSON" DATA_DIR="$data"
  local all
  all=$(get /porras)
  run jq -r 'length' <<<"$all"
  assert_output 50
  run jq -r '[.[] | select(.apuestas.ana == {"local":3,"visitante":2})] | length' <<<"$all"
  assert_output 50
  run jq -c '.[] | select(.ID == "k50-b-c-2024") | .apuestas.last' <<<"$all"
  assert_output '{"local":0,"visitante":0}'
  run jq -c '.[] | select(.ID == "k1-b-c-2024") | .resultado' <<<"$all"
  assert_output '"3-2"'
  assert_equal "$(code GET /porras/gone-b-c-2024)" 404
  run jq -c . <<<"$(get /porras/k1-b-c-2024/ganadores)"
  assert_output '{"resultado":"3-2","ganadores":["ana"]}'
  run jq -r .file <<<"$(get /hitos/2)"
  assert_output 2.Durable
  porrio_stop
}

# ---- the end of the journal at start -----------------------------------------------------------

J1=journal-0000000000000001

# seeded_store DATA: starts a server on DATA, writes 5 pools with a bet each, stops it; sets
# GOOD_SIZE (the journal's size) and LAST_LEN (the size of its last record: the final bet).
seeded_store() {
  local data=$1 i before
  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$data"
  for i in 1 2 3 4 5; do
    assert_equal "$(code PUT "/porra/t$i/b/c/2024")" 200
    before=$(stat -c %s "$data/$J1")
    assert_equal "$(code PUT "/porras/t$i-b-c-2024/apuestas/ana" '{"local":1,"visitante":1}')" 201
  done
  porrio_stop
  run ls "$data"
  assert_output "$J1"
  GOOD_SIZE=$(stat -c %s "$data/$J1")
  LAST_LEN=$((GOOD_SIZE - before))
  [ "$LAST_LEN" -gt 16 ] || fail "unexpected last record size $LAST_LEN"
}

# assert_cut_and_kept DATA: a server on DATA starts, warns once about the torn tail (naming the
# journal and the offset GOOD_SIZE), the journal is back to GOOD_SIZE, all 5 pools and bets are
# there, and a new write after the cut survives a restart that warns of nothing.
assert_cut_and_kept() {
  local data=$1
  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$data"
  run warn_lines
  assert_equal "$(grep -c . <<<"$output")" 1
  assert_output --partial "$data/$J1: torn tail of "
  assert_output --partial " bytes at offset $GOOD_SIZE cut off"
  assert_equal "$(stat -c %s "$data/$J1")" "$GOOD_SIZE"
  run jq -r '[.[] | select(.apuestas.ana == {"local":1,"visitante":1})] | length' <<<"$(get /porras)"
  assert_output 5
  # a write after the cut lands after the good records, not after the cut bytes
  assert_equal "$(code PUT /porra/after/b/c/2024)" 200
  porrio_stop
  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$data"
  run warn_lines
  assert_output ''
  run jq -r 'length' <<<"$(get /porras)"
  assert_output 6
  assert_equal "$(code GET /porras/after-b-c-2024)" 200
  porrio_stop
}

# assert_refused DATA OFFSET WORDS: porrio on DATA exits 1 before it serves, with exactly one
# error-level JSON line: msg "the store is damaged: not starting", the journal, OFFSET, a problem
# holding WORDS, the action (verify, recover); stderr names the journal; no file changed.
assert_refused() {
  local data=$1 off=$2 words=$3 before line
  before=$(cd "$data" && sha256sum ./*)
  porrio_spawn HITOS_FILE="$HITOS_JSON" DATA_DIR="$data"
  porrio_wait_exit "$PORRIO_PID" 50
  [ "$PORRIO_STATUS" = 1 ] || fail "exit status $PORRIO_STATUS, expected 1: $(porrio_dump)"
  log_all_json
  run jq -R -c 'fromjson? | objects | select(.level == "error")' "$PORRIO_LOG"
  assert_equal "$(grep -c . <<<"$output")" 1
  line=$output
  assert_equal "$(jfield "$line" .msg)" "the store is damaged: not starting"
  assert_equal "$(jfield "$line" .file)" "$data/$J1"
  assert_equal "$(jfield "$line" '.offset | tostring')" "$off"
  [[ $(jfield "$line" .problem) == *"$words"* ]] || fail "problem does not say \"$words\": $line"
  run jfield "$line" .action
  assert_output --partial "nothing was changed"
  assert_output --partial "porrio store verify $data"
  assert_output --partial "porrio store recover --to NEWDIR $data"
  grep -qF "$data/$J1 at offset $off" "$PORRIO_ERR" || fail "stderr does not name the journal: $(cat "$PORRIO_ERR")"
  assert_equal "$(cd "$data" && sha256sum ./*)" "$before"
}

@test "random garbage appended to the journal: refused (exit 1, one error line naming the journal and where the garbage starts), no file changed" {
  local data="$BATS_TEST_TMPDIR/data"
  seeded_store "$data"
  # 300 random bytes whose first three fail their CRC-8 (a frame's length that verifies would
  # make them a torn tail: 1 chance in 256)
  "$PYTHON" - "$data/$J1" <<'PY'
import os, sys
def crc8(b):
    c = 0
    for x in b:
        c ^= x
        for _ in range(8):
            c = ((c << 1) ^ 0x07 if c & 0x80 else c << 1) & 0xFF
    return c
while True:
    g = os.urandom(300)
    if crc8(g[:3]) != g[3]:
        break
with open(sys.argv[1], "ab") as f:
    f.write(g)
PY
  assert_equal "$(stat -c %s "$data/$J1")" $((GOOD_SIZE + 300))
  assert_refused "$data" "$GOOD_SIZE" "record's length fails its check"
  # nothing but the garbage was wrong: without it, every record is there and nothing is cut
  truncate -s "$GOOD_SIZE" "$data/$J1"
  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$data"
  run warn_lines
  assert_output ''
  run jq -r '[.[] | select(.apuestas.ana == {"local":1,"visitante":1})] | length' <<<"$(get /porras)"
  assert_output 5
  porrio_stop
}

@test "a torn copy of the journal's last record appended (a frame whose length verifies, its payload short): cut off with a warning, every record kept" {
  local data="$BATS_TEST_TMPDIR/data"
  seeded_store "$data"
  # the last record again, all but its last 5 bytes: a valid frame header, a short payload
  tail -c "$LAST_LEN" "$data/$J1" | head -c $((LAST_LEN - 5)) >"$BATS_TEST_TMPDIR/torn"
  cat "$BATS_TEST_TMPDIR/torn" >>"$data/$J1"
  assert_equal "$(stat -c %s "$data/$J1")" $((GOOD_SIZE + LAST_LEN - 5))
  assert_cut_and_kept "$data"
}

@test "a whole copy of the last record with one payload byte flipped, no 512-byte block of it zero: refused by its checksum" {
  local data="$BATS_TEST_TMPDIR/data"
  seeded_store "$data"
  tail -c "$LAST_LEN" "$data/$J1" >"$BATS_TEST_TMPDIR/rec"
  # flip its last byte (a goal, in the payload after the 8-byte frame header). The rule of the
  # 512-byte blocks (a sector the crash never wrote) then cannot apply: the copy's part in its
  # last block ends with that non-zero byte, its part in an earlier block starts with its length
  "$PYTHON" - "$BATS_TEST_TMPDIR/rec" "$GOOD_SIZE" <<'PY'
import sys
p, at = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, "rb").read())
b[-1] ^= 0x55
open(p, "wb").write(b)
off = at
while off < at + len(b):
    nxt = min((off // 512 + 1) * 512, at + len(b))
    if not any(b[off - at:nxt - at]):
        sys.exit("a zero part at %d..%d: the block rule would apply" % (off, nxt))
    off = nxt
PY
  cat "$BATS_TEST_TMPDIR/rec" >>"$data/$J1"
  assert_refused "$data" "$GOOD_SIZE" "record fails its checksum; 0 valid records follow"
}

@test "the journal's last record never written (zeros in its place, as a crash can leave a file's new blocks): cut off with a warning" {
  local data="$BATS_TEST_TMPDIR/data"
  seeded_store "$data"
  # the last record's bytes zeroed: "every byte from there to the end of the file is zero"
  GOOD_SIZE=$((GOOD_SIZE - LAST_LEN))
  "$PYTHON" -c 'import sys; f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2])); f.write(bytes(int(sys.argv[3])))' \
    "$data/$J1" "$GOOD_SIZE" "$LAST_LEN"
  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$data"
  run warn_lines
  assert_equal "$(grep -c . <<<"$output")" 1
  assert_output --partial "$data/$J1: torn tail of $LAST_LEN bytes at offset $GOOD_SIZE cut off"
  assert_equal "$(stat -c %s "$data/$J1")" "$GOOD_SIZE"
  # that record was the last bet (acknowledged: a file system that loses a fsynced block is out
  # of the store's reach): gone; every other record is there
  run jq -c '[.[] | {ID, apuestas}]' <<<"$(get /porras)"
  assert_output '[{"ID":"t1-b-c-2024","apuestas":{"ana":{"local":1,"visitante":1}}},{"ID":"t2-b-c-2024","apuestas":{"ana":{"local":1,"visitante":1}}},{"ID":"t3-b-c-2024","apuestas":{"ana":{"local":1,"visitante":1}}},{"ID":"t4-b-c-2024","apuestas":{"ana":{"local":1,"visitante":1}}},{"ID":"t5-b-c-2024","apuestas":{}}]'
  porrio_stop
}

# ---- a store that cannot write -------------------------------------------------------------------

@test "read-only DATA_DIR: writes 503 JSON and change nothing, reads 200 with the old data, ready 200" {
  local mnt data
  mnt=$(tmpfs_mount 4m)
  data="$mnt/data"
  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$data"
  assert_equal "$(code PUT /porra/ro/b/c/2024)" 200
  assert_equal "$(code PUT /porra/ro2/b/c/2024)" 200
  assert_equal "$(code PUT /porras/ro-b-c-2024/apuestas/ana '{"local":1,"visitante":0}')" 201
  assert_equal "$(code POST /hitos '{"file":"2.RO","title":"t","fecha":"1/1/2024"}')" 201
  porrio_stop
  local before
  before=$(cd "$data" && sha256sum ./*)

  mount -o remount,ro "$mnt"
  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$data"
  local out="$BATS_TEST_TMPDIR/w" c m p b
  local writes=(
    'PUT|/porra/new/b/c/2024|'
    'PUT|/porras/ro-b-c-2024/apuestas/bea|{"local":2,"visitante":2}'
    'PUT|/porras/ro-b-c-2024/apuestas/ana|{"local":5,"visitante":5}'
    'PUT|/porras/ro-b-c-2024/resultado|{"local":1,"visitante":0}'
    'POST|/hitos|{"file":"3.RO","title":"t","fecha":"1/1/2024"}'
    'DELETE|/porras/ro2-b-c-2024|'
  )
  for c in "${writes[@]}"; do
    IFS='|' read -r m p b <<<"$c"
    if [ -n "$b" ]; then
      st=$(curl -s -o "$out" -w '%{http_code}' --max-time 5 -X "$m" -H 'Content-Type: application/json' -D "$out.h" \
        --data-binary "$b" "$PORRIO_URL$p")
    else
      st=$(curl -s -o "$out" -w '%{http_code}' --max-time 5 -X "$m" -D "$out.h" "$PORRIO_URL$p")
    fi
    [ "$st" = 503 ] || fail "$m $p on a read-only store: status $st, expected 503 ($(cat "$out"))"
    jq -e '(keys == ["error", "status"]) and .status == 503 and (.error | length > 0)' "$out" >/dev/null ||
      fail "$m $p: not a JSON error: $(cat "$out")"
    grep -qi '^content-type: application/json; charset=utf-8' "$out.h" || fail "$m $p: wrong content type"
  done
  # checks before the store still come first: 404 and 400 are not 503
  assert_equal "$(code PUT /porras/nope-b-c-2024/apuestas/x '{"local":1,"visitante":0}')" 404
  assert_equal "$(code PUT /porras/ro-b-c-2024/apuestas/x '{"local":-1,"visitante":0}')" 400
  # an existing pool is returned, not created: 200
  assert_equal "$(code PUT /porra/ro/b/c/2024)" 200

  # reads: the old data, unchanged
  local all
  all=$(get /porras)
  run jq -c '[.[] | {ID, apuestas, resultado}] | sort_by(.ID)' <<<"$all"
  assert_output '[{"ID":"ro-b-c-2024","apuestas":{"ana":{"local":1,"visitante":0}},"resultado":null},{"ID":"ro2-b-c-2024","apuestas":{},"resultado":null}]'
  run jq -r '[.[].file] | join(",")' <<<"$(get /hitos)"
  assert_output 0.Repositorio,1.Infraestructura,2.RO
  assert_equal "$(code GET /health/ready)" 200
  assert_equal "$(code GET /porras/ro2-b-c-2024)" 200
  porrio_stop
  assert_equal "$(cd "$data" && sha256sum ./*)" "$before"
}

@test "disk full: writes answer 2xx or 503; after a restart every 2xx is there and no 503 is" {
  local mnt data i long
  mnt=$(tmpfs_mount 64k)
  data="$mnt/data"
  porrio_start WORKERS=2 HITOS_FILE="$HITOS_JSON" DATA_DIR="$data"
  long=$(printf 'x%.0s' {1..60})
  # about 200 bytes a record: 500 of them do not fit in 64 KiB
  for i in $(seq 1 500); do echo "/porra/$long/$long/$long/y$i"; done >"$BATS_TEST_TMPDIR/paths"
  put_many "$BATS_TEST_TMPDIR/paths" "$BATS_TEST_TMPDIR/out"
  EXPECT_LINES=500 assert_all_status "$BATS_TEST_TMPDIR/out" 200 503
  local ok full
  ok=$(awk '$1 == 200 { sub(/.*\//, "", $2); print $2 }' "$BATS_TEST_TMPDIR/out" | sort)
  full=$(awk '$1 == 503 { sub(/.*\//, "", $2); print $2 }' "$BATS_TEST_TMPDIR/out" | sort)
  [ -n "$ok" ] || fail "no write succeeded"
  [ -n "$full" ] || fail "the disk never filled up (df: $(df -k "$mnt" | tail -n 1))"

  # a 503 is a JSON error; reads still answer, with exactly the acknowledged pools
  run curl -s --max-time 5 -X PUT "$PORRIO_URL/porra/$long/$long/$long/zzz"
  assert_output --regexp '^\{"error":".+","status":503\}$'
  local years
  years=$(get /porras | jq -r '.[].year' | sort)
  assert_equal "$years" "$ok"
  assert_equal "$(code GET /health/ready)" 200
  assert_equal "$(code GET "/porras/$long-$long-$long-$(head -n 1 <<<"$ok")")" 200
  assert_equal "$(code GET "/porras/$long-$long-$long-$(head -n 1 <<<"$full")")" 404

  # bets (smaller records) on acknowledged pools: 201 while they fit, then 503 changing nothing
  local y st acked="" refused=""
  for y in $(head -n 20 <<<"$ok"); do
    st=$(code PUT "/porras/$long-$long-$long-$y/apuestas/ana" '{"local":1,"visitante":0}')
    case $st in
      201) acked+="$y " ;;
      503) refused+="$y " ;;
      *) fail "bet on a full disk: status $st" ;;
    esac
  done
  [ -n "$refused" ] || fail "no bet was refused on the full disk"
  for y in $refused; do
    run jq -c .apuestas <<<"$(get "/porras/$long-$long-$long-$y")"
    assert_output '{}'
  done

  porrio_stop
  porrio_start WORKERS=2 HITOS_FILE="$HITOS_JSON" DATA_DIR="$data"
  years=$(get /porras | jq -r '.[].year' | sort)
  assert_equal "$years" "$ok"
  years=$(get /porras | jq -r '.[] | select(.apuestas.ana != null) | .year' | sort)
  assert_equal "$years" "$(tr ' ' '\n' <<<"$acked" | sed '/^$/d' | sort)"
  # nothing half-written: no torn tail to cut at start
  run warn_lines
  refute_output --regexp '(tail|torn|corrupt|cut)'
  porrio_stop
}

# ready_writable: the "writable" of /health/ready (which must answer 200).
ready_writable() { get /health/ready | jq -r .writable; }

# store_lines LEVEL TEXT: how many "store" log lines of LEVEL hold TEXT.
store_lines() {
  jq -R -c --arg l "$1" --arg t "$2" 'fromjson? | objects | select(.msg == "store" and .level == $l
    and (.detail | contains($t)))' "$PORRIO_LOG" | wc -l
}

# fill_up TAG: creates long pools until one answers 503 (at most 600), whose path goes into FULL;
# fails if none does. (A smaller record may still fit where that one did not.)
fill_up() {
  local long i st
  long=$(printf 'x%.0s' {1..60})
  for ((i = 0; i < 600; i++)); do
    FULL=/porra/$long/$long/$long/$1$i
    st=$(code PUT "$FULL")
    [ "$st" = 503 ] && return 0
    [ "$st" = 200 ] || fail "filling up: status $st"
  done
  fail "the disk never filled up"
}

@test "disk full: ready says writable false from the first failed write until one succeeds; one warn line when writes fail, one info line when they work again" {
  local mnt used
  mnt=$(tmpfs_mount 64k)
  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$mnt/data"
  assert_equal "$(ready_writable)" true
  fill_up a
  assert_equal "$(ready_writable)" false
  # more refused writes: still false, and no more warnings
  assert_equal "$(code PUT "$FULL")" 503
  assert_equal "$(code PUT "$FULL")" 503
  assert_equal "$(ready_writable)" false
  assert_equal "$(code GET /health/ready)" 200
  assert_equal "$(store_lines warn "cannot write")" 1
  assert_equal "$(store_lines info "writes work again")" 0

  # room again: the next write succeeds, and ready tells so
  mount -o remount,size=1m "$mnt"
  assert_equal "$(code PUT /porra/room/b/c/1)" 200
  assert_equal "$(ready_writable)" true
  assert_equal "$(store_lines info "writes work again")" 1
  assert_equal "$(store_lines warn "writes work again")" 0

  # full again: a second stretch of failures, told once more
  used=$(df -k --output=used "$mnt" | tail -n 1 | tr -d ' ')
  mount -o remount,size="${used}k" "$mnt"
  fill_up b
  assert_equal "$(ready_writable)" false
  assert_equal "$(code PUT "$FULL")" 503
  assert_equal "$(store_lines warn "cannot write")" 2
  assert_equal "$(store_lines info "writes work again")" 1
  porrio_stop
}
