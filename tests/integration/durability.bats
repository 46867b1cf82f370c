#!/usr/bin/env bats
# Behaviour in production (README: In production) against the real binary: one state shared by all workers,
# acknowledged data surviving kill -9, a torn or corrupt journal tail cut off at start, a
# read-only data directory and a full disk (503 for writes, reads still served, nothing
# acknowledged lost, nothing half-written). Compaction is covered by the store's unit tests: no
# setting lowers its threshold, so it cannot be reached here in reasonable time.

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

# warn_lines: the warning log lines of the current server, compact.
warn_lines() { jq -R -c 'fromjson? | objects | select(.level == "warn")' "$PORRIO_LOG"; }

# ---- one state for every worker ---------------------------------------------------------------

@test "WORKERS=2: 200 concurrent creations all 2xx; every fresh connection sees all 200; all survive a restart" {
  local data="$BATS_TEST_TMPDIR/data" i
  porrio_start WORKERS=2 HITOS_FILE="$HITOS_JSON" DATA_DIR="$data"
  for i in $(seq 1 200); do echo "/porra/conc$i/b/c/2024"; done >"$BATS_TEST_TMPDIR/paths"
  put_many "$BATS_TEST_TMPDIR/paths" "$BATS_TEST_TMPDIR/out"
  EXPECT_LINES=200 assert_all_status "$BATS_TEST_TMPDIR/out" 201

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
  assert_equal "$(code PUT /porra/one/b/c/2024)" 201
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
  EXPECT_LINES=50 assert_all_status "$BATS_TEST_TMPDIR/out1" 201
  put_many "$BATS_TEST_TMPDIR/bets" "$BATS_TEST_TMPDIR/out2" '{"local":3,"visitante":2}'
  EXPECT_LINES=50 assert_all_status "$BATS_TEST_TMPDIR/out2" 201
  assert_equal "$(code PUT /porras/k1-b-c-2024/resultado '{"local":3,"visitante":2}')" 200
  assert_equal "$(code PUT /porra/gone/b/c/2024)" 201
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

# ---- a torn or corrupt journal tail ------------------------------------------------------------

# seeded_store DATA: starts a server on DATA, writes 5 pools with a bet each, stops it; sets
# GOOD_SIZE (the journal's size) and LAST_LEN (the size of its last record: the final bet).
seeded_store() {
  local data=$1 i before
  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$data"
  for i in 1 2 3 4 5; do
    assert_equal "$(code PUT "/porra/t$i/b/c/2024")" 201
    before=$(stat -c %s "$data/journal")
    assert_equal "$(code PUT "/porras/t$i-b-c-2024/apuestas/ana" '{"local":1,"visitante":1}')" 201
  done
  porrio_stop
  GOOD_SIZE=$(stat -c %s "$data/journal")
  LAST_LEN=$((GOOD_SIZE - before))
  [ "$LAST_LEN" -gt 16 ] || fail "unexpected last record size $LAST_LEN"
}

# assert_cut_and_kept DATA: a server on DATA starts, warns about the cut tail, the journal is back
# to GOOD_SIZE, all 5 pools and bets are there, and a new write after the cut survives a restart.
assert_cut_and_kept() {
  local data=$1
  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$data"
  run warn_lines
  assert_output --regexp '(tail|torn|corrupt|cut)'
  assert_equal "$(stat -c %s "$data/journal")" "$GOOD_SIZE"
  run jq -r '[.[] | select(.apuestas.ana == {"local":1,"visitante":1})] | length' <<<"$(get /porras)"
  assert_output 5
  # a write after the cut lands after the good records, not after the garbage
  assert_equal "$(code PUT /porra/after/b/c/2024)" 201
  porrio_stop
  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$data"
  run warn_lines
  refute_output --regexp '(tail|torn|corrupt|cut)'
  run jq -r 'length' <<<"$(get /porras)"
  assert_output 6
  assert_equal "$(code GET /porras/after-b-c-2024)" 200
  porrio_stop
}

@test "random garbage appended to the journal: start-up warns, cuts it off and keeps every record" {
  local data="$BATS_TEST_TMPDIR/data"
  seeded_store "$data"
  head -c 300 /dev/urandom >>"$data/journal"
  [ "$(stat -c %s "$data/journal")" -gt "$GOOD_SIZE" ]
  assert_cut_and_kept "$data"
}

@test "a torn copy of the journal's last record appended: start-up warns, cuts it off and keeps every record" {
  local data="$BATS_TEST_TMPDIR/data"
  seeded_store "$data"
  # the last record again, all but its last 5 bytes: a valid frame header, a short payload
  tail -c "$LAST_LEN" "$data/journal" | head -c $((LAST_LEN - 5)) >"$BATS_TEST_TMPDIR/torn"
  cat "$BATS_TEST_TMPDIR/torn" >>"$data/journal"
  assert_equal "$(stat -c %s "$data/journal")" $((GOOD_SIZE + LAST_LEN - 5))
  assert_cut_and_kept "$data"
}

@test "a whole copy of the last record with one payload byte flipped: cut off by its checksum" {
  local data="$BATS_TEST_TMPDIR/data"
  seeded_store "$data"
  tail -c "$LAST_LEN" "$data/journal" >"$BATS_TEST_TMPDIR/rec"
  # flip the last byte (inside the payload, after the 8-byte frame header)
  python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[-1] ^= 0x55; open(sys.argv[1], "wb").write(b)' \
    "$BATS_TEST_TMPDIR/rec"
  cat "$BATS_TEST_TMPDIR/rec" >>"$data/journal"
  assert_cut_and_kept "$data"
}

# ---- a store that cannot write -------------------------------------------------------------------

@test "read-only DATA_DIR: writes 503 JSON and change nothing, reads 200 with the old data, ready 200" {
  local mnt data
  mnt=$(tmpfs_mount 4m)
  data="$mnt/data"
  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$data"
  assert_equal "$(code PUT /porra/ro/b/c/2024)" 201
  assert_equal "$(code PUT /porra/ro2/b/c/2024)" 201
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
  # about 330 bytes a record: 300 of them do not fit in 64 KiB
  for i in $(seq 1 300); do echo "/porra/$long/$long/$long/y$i"; done >"$BATS_TEST_TMPDIR/paths"
  put_many "$BATS_TEST_TMPDIR/paths" "$BATS_TEST_TMPDIR/out"
  EXPECT_LINES=300 assert_all_status "$BATS_TEST_TMPDIR/out" 201 503
  local ok full
  ok=$(awk '$1 == 201 { sub(/.*\//, "", $2); print $2 }' "$BATS_TEST_TMPDIR/out" | sort)
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
