#!/usr/bin/env bats
# `porrio store verify [DATA_DIR]` and `porrio store recover --to NEWDIR [DATA_DIR]` against the
# real binary (docs/store.md: "porrio store verify", "porrio store recover", "Damage at start"):
# verify reads the store as start-up does and changes nothing (exit 0 whole, a torn tail reported
# and still 0, exit 1 naming the file and the offset of the first damage); recover copies every
# record that verifies and applies into a new store, reports what it skipped, never writes into a
# non-empty NEWDIR; bad usage is exit 2. Last, the path an operator follows from the error line.
#
# setup_file writes a small store through the server (journal-0000000000000001, ten records) and
# keeps its answers; each test damages a copy of it.

load helpers

HITOS_JSON="$REPO_ROOT/data/hitos.json"
J1=journal-0000000000000001
S1=snapshot-0000000000000001
MADRID=Madrid-Bar%C3%A7a-Liga-2024
KOLN=K%C3%B6ln-M%C3%BCnchen-Bundesliga-2023

setup_file() {
  export STORE="$BATS_FILE_TMPDIR/store" ANSWERS="$BATS_FILE_TMPDIR/answers"
  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$STORE"
  # the ten records, in this order (record N is the Nth line of `damage.py records`)
  local w
  for w in \
    "PUT /porra/Madrid/Bar%C3%A7a/Liga/2024 - 200" \
    "PUT /porra/K%C3%B6ln/M%C3%BCnchen/Bundesliga/2023 - 200" \
    "PUT /porras/$MADRID/apuestas/ana {\"local\":2,\"visitante\":1} 201" \
    "PUT /porras/$MADRID/apuestas/bea {\"local\":1,\"visitante\":1} 201" \
    "PUT /porras/$KOLN/apuestas/ana {\"local\":1,\"visitante\":0} 201" \
    "PUT /porras/$KOLN/resultado {\"local\":1,\"visitante\":0} 200" \
    "PUT /porra/gone/b/c/2024 - 200" \
    "DELETE /porras/gone-b-c-2024 - 204" \
    "POST /hitos {\"file\":\"2.Verify\",\"title\":\"t\",\"fecha\":\"1/12/2026\"} 201" \
    "PUT /porras/$MADRID/apuestas/carlos-m {\"local\":0,\"visitante\":0} 201"; do
    set -- $w
    if [ "$3" = - ]; then
      [ "$(status_of -X "$1" "$PORRIO_URL$2")" = "$4" ]
    else
      [ "$(status_of -X "$1" -H 'Content-Type: application/json' --data-binary "$3" "$PORRIO_URL$2")" = "$4" ]
    fi
  done
  mkdir -p "$ANSWERS"
  curl -s --max-time 5 "$PORRIO_URL/porras" >"$ANSWERS/porras"
  curl -s --max-time 5 "$PORRIO_URL/hitos" >"$ANSWERS/hitos"
  porrio_stop
  [ "$(ls "$STORE")" = "$J1" ]
  timeout 10 "$PYTHON" "$BATS_TEST_DIRNAME/damage.py" records "$STORE/$J1" >"$BATS_FILE_TMPDIR/records"
  [ "$(wc -l <"$BATS_FILE_TMPDIR/records")" = 10 ]
}

teardown_file() { porrio_cleanup; }

teardown() { porrio_cleanup; }

# ---- local helpers ----------------------------------------------------------------------------

# copy_store NAME: a copy of the store in $BATS_TEST_TMPDIR/NAME; prints its path.
copy_store() {
  cp -r "$STORE" "$BATS_TEST_TMPDIR/$1"
  printf '%s\n' "$BATS_TEST_TMPDIR/$1"
}

# rec N FIELD: record N's offset (FIELD 1) or size with its frame (FIELD 2).
rec() { sed -n "${1}p" "$BATS_FILE_TMPDIR/records" | cut -d' ' -f"$2"; }

# flip FILE OFFSET [MASK]: XORs one byte of FILE (default mask 0x01).
flip() {
  "$PYTHON" -c 'import sys; f = open(sys.argv[1], "r+b"); o = int(sys.argv[2]); f.seek(o); b = f.read(1)[0]
f.seek(o); f.write(bytes([b ^ int(sys.argv[3], 0)]))' "$1" "$2" "${3:-0x01}"
}

# sums DIR: every file of DIR with its SHA-256 (to compare before and after).
sums() { (cd "$1" && sha256sum ./* 2>/dev/null); }

# store CMD...: `porrio store CMD...` with the suite's HITOS_FILE (records are checked against the
# same milestones as the server's), for `run`.
store() { porrio_exec HITOS_FILE="$HITOS_JSON" store "$@"; }

# serve DIR: starts porrio on DIR; fails when it warns (no torn tail, nothing to say of the store:
# the warning that ADMIN_TOKENS is empty is about the routes).
serve() {
  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$1"
  run jq -R -c 'fromjson? | objects | select(.level == "warn" or .level == "error")
    | select(.msg | startswith("ADMIN_TOKENS is empty") | not)' "$PORRIO_LOG"
  assert_output ''
}

# get_ok PATH: the body of GET PATH on the current server (fails unless 200).
get_ok() {
  http_fetch "$PORRIO_URL$1"
  assert_status 200
  printf '%s\n' "$BODY"
}

# without_bea: the pools as acknowledged, but for bea's bet (record 4).
without_bea() { jq -c '[.[] | if .ID == "Madrid-Barça-Liga-2024" then del(.apuestas.bea) else . end]' "$ANSWERS/porras"; }

# ---- verify -------------------------------------------------------------------------------------

@test "verify on a whole store: exit 0, a line per file (generation, records, bytes), whole; DATA_DIR from the argument, the setting or the flag; no file changed" {
  local d before size
  d=$(copy_store s)
  before=$(sums "$d")
  size=$(stat -c %s "$d/$J1")
  run store verify "$d"
  assert_success
  assert_output "$J1: journal, generation 1
$J1: 10 records, $size bytes
$d: whole, 10 records"
  run porrio_exec HITOS_FILE="$HITOS_JSON" DATA_DIR="$d" store verify
  assert_success
  assert_line "$d: whole, 10 records"
  run porrio_exec HITOS_FILE="$HITOS_JSON" --data-dir "$d" store verify
  assert_success
  assert_line "$d: whole, 10 records"
  assert_equal "$(sums "$d")" "$before"
  # an empty directory is an empty store, whole
  mkdir "$BATS_TEST_TMPDIR/empty"
  run store verify "$BATS_TEST_TMPDIR/empty"
  assert_success
  assert_output "$BATS_TEST_TMPDIR/empty: whole, 0 records"
}

@test "verify does not lock: it reads a store porrio is serving; a snapshot and a journal give a line each" {
  local d n
  d=$(copy_store s)
  n="$BATS_TEST_TMPDIR/n"
  run store recover --to "$n" "$d"
  assert_success
  serve "$n"
  http_fetch "$PORRIO_URL/porras/$MADRID/apuestas/dora" -X PUT -H 'Content-Type: application/json' \
    --data-binary '{"local":3,"visitante":3}'
  assert_status 201
  # the snapshot holds the state (the milestone, 2 pools, their bets, a result), the journal the bet
  run store verify "$n"
  assert_success
  assert_output "$S1: snapshot, generation 1
$S1: 6 records, $(stat -c %s "$n/$S1") bytes
$J1: journal, generation 1
$J1: 1 records, $(stat -c %s "$n/$J1") bytes
$n: whole, 7 records"
  porrio_stop
}

@test "verify on a store with a torn tail: exit 0, the torn tail and its offset reported; no file changed" {
  local d before size off len
  d=$(copy_store s)
  size=$(stat -c %s "$d/$J1")
  off=$(rec 10 1) len=$(rec 10 2)
  # the last record again, cut short: a frame whose length verifies and runs past the end
  tail -c "$len" "$d/$J1" | head -c $((len - 3)) >>"$d/$J1"
  before=$(sums "$d")
  run store verify "$d"
  assert_success
  assert_line "$J1 at offset $size: torn tail: never acknowledged, start-up leaves it out"
  assert_line "$d: whole, 10 records (start-up leaves the torn tail out)"
  assert_equal "$(sums "$d")" "$before"
  [ "$off" -lt "$size" ]
}

@test "verify on a damaged store: exit 1, names the file and the offset of the first damage; no file changed" {
  local d before off
  d=$(copy_store s)
  off=$(rec 4 1)
  flip "$d/$J1" $((off + 12))
  before=$(sums "$d")
  run store verify "$d"
  assert_failure 1
  assert_line --index 0 "$J1: journal, generation 1"
  assert_line "$J1 at offset $off: record fails its checksum; 6 valid records follow"
  assert_equal "${lines[-1]}" "DAMAGED: $d/$J1 at offset $off: record fails its checksum; 6 valid records follow"
  assert_equal "$(sums "$d")" "$before"

  # a damaged header: offset 0
  d=$(copy_store h)
  flip "$d/$J1" 9
  before=$(sums "$d")
  run store verify "$d"
  assert_failure 1
  assert_equal "${lines[-1]}" "DAMAGED: $d/$J1 at offset 0: header fails its checksum"
  assert_equal "$(sums "$d")" "$before"

  # a record's length: offset of that frame
  d=$(copy_store l)
  off=$(rec 7 1)
  flip "$d/$J1" $((off + 1)) 0x40
  run store verify "$d"
  assert_failure 1
  assert_equal "${lines[-1]}" "DAMAGED: $d/$J1 at offset $off: record's length fails its check; 3 valid records follow"

  # a file missing from the chain (journal 3 of this store, its header whole, and no journal 2):
  # no offset to name
  d=$(copy_store m)
  "$PYTHON" -c 'import struct, sys, zlib
h = open(sys.argv[1], "rb").read(32)
h = h[:8] + struct.pack("<Q", 3) + h[16:28]
open(sys.argv[2], "wb").write(h + struct.pack("<I", zlib.crc32(h)))' "$d/$J1" "$d/journal-0000000000000003"
  before=$(sums "$d")
  run store verify "$d"
  assert_failure 1
  assert_output "journal-0000000000000002: journal-0000000000000002 is missing
DAMAGED: $d/journal-0000000000000002: journal-0000000000000002 is missing"
  assert_equal "$(sums "$d")" "$before"
}

# ---- recover --------------------------------------------------------------------------------------

@test "recover a store with a damaged bet: exit 0, the damage reported, the store untouched; the new store verifies and serves every other record" {
  local d n before off len
  d=$(copy_store s)
  n="$BATS_TEST_TMPDIR/new"
  off=$(rec 4 1) len=$(rec 4 2)
  flip "$d/$J1" $((off + 12))
  before=$(sums "$d")
  run store recover --to "$n" "$d"
  assert_success
  assert_line --partial "$J1 at offset $off: record fails its checksum"
  assert_line "recovered 9 records into $n; skipped 0 records that did not apply and $len damaged bytes"
  assert_equal "$(sums "$d")" "$before"
  run ls "$n"
  assert_output "$J1
$S1"
  # the new store holds the state, compacted: the milestone, 2 pools, their bets, a result
  run store verify "$n"
  assert_success
  assert_line "$n: whole, 6 records"

  serve "$n"
  assert_equal "$(get_ok /porras | jq -c .)" "$(without_bea)"
  assert_equal "$(get_ok /hitos | jq -c .)" "$(jq -c . "$ANSWERS/hitos")"
  http_fetch "$PORRIO_URL/porras/gone-b-c-2024"
  assert_status 404
  # the new store takes writes, and keeps them
  http_fetch "$PORRIO_URL/porras/$MADRID/apuestas/bea" -X PUT -H 'Content-Type: application/json' \
    --data-binary '{"local":1,"visitante":1}'
  assert_status 201
  porrio_stop
  serve "$n"
  assert_equal "$(get_ok /porras | jq -S -c .)" "$(jq -S -c . "$ANSWERS/porras")"
  porrio_stop
}

@test "recover after a damaged frame length: it finds the next frame byte by byte and goes on" {
  local d n off len
  d=$(copy_store s)
  n="$BATS_TEST_TMPDIR/new"
  off=$(rec 4 1) len=$(rec 4 2)
  flip "$d/$J1" $((off + 3)) 0x10 # the CRC-8 of the length
  run store recover --to "$n" "$d"
  assert_success
  assert_line --partial "$J1 at offset $off: record's length fails its check"
  assert_line "recovered 9 records into $n; skipped 0 records that did not apply and $len damaged bytes"
  serve "$n"
  assert_equal "$(get_ok /porras | jq -c .)" "$(without_bea)"
  porrio_stop
}

@test "recover when a pool's creation is damaged: the records that needed it are reported as not applying and left out" {
  local d n off
  d=$(copy_store s)
  n="$BATS_TEST_TMPDIR/new"
  off=$(rec 2 1)
  flip "$d/$J1" $((off + 10))
  run store recover --to "$n" "$d"
  assert_success
  assert_line --partial "$J1 at offset $off: record fails its checksum"
  assert_line --partial "$J1 at offset $(rec 5 1): record does not apply: "
  assert_line --partial "$J1 at offset $(rec 6 1): record does not apply: "
  assert_line --regexp "^recovered 7 records into $n; skipped 2 records that did not apply and [0-9]+ damaged bytes$"
  serve "$n"
  assert_equal "$(get_ok /porras | jq -c .)" "$(jq -c '[.[] | select(.ID | startswith("Köln") | not)]' "$ANSWERS/porras")"
  http_fetch "$PORRIO_URL/porras/$KOLN"
  assert_status 404
  porrio_stop
}

@test "recover a snapshot with a damaged record: the rest of the snapshot and the journal after it are kept" {
  local d n2 off line
  # a store with a snapshot and a journal: recover's output, then two writes through porrio
  d="$BATS_TEST_TMPDIR/snap"
  run store recover --to "$d" "$STORE"
  assert_success
  serve "$d"
  http_fetch "$PORRIO_URL/porras/$MADRID/apuestas/dora" -X PUT -H 'Content-Type: application/json' \
    --data-binary '{"local":3,"visitante":3}'
  assert_status 201
  http_fetch "$PORRIO_URL/porra/Nuevo/Equipo/Liga/2027" -X PUT
  assert_status 200
  porrio_stop
  # Madrid's bets in the snapshot: one record (0x14); damage it
  line=$(timeout 10 "$PYTHON" "$BATS_TEST_DIRNAME/damage.py" records "$d/$S1" | awk '$3 == "0x14"' | head -n 1)
  off=${line%% *}
  flip "$d/$S1" $((off + 20))
  porrio_spawn HITOS_FILE="$HITOS_JSON" DATA_DIR="$d"
  porrio_wait_exit "$PORRIO_PID" 50
  assert_equal "$PORRIO_STATUS" 1
  run jq -r 'select(.level == "error") | "\(.file) \(.offset)"' "$PORRIO_LOG"
  assert_output "$d/$S1 $off"

  n2="$BATS_TEST_TMPDIR/new"
  run store recover --to "$n2" "$d"
  assert_success
  assert_line --partial "$S1 at offset $off: record fails its checksum"
  serve "$n2"
  # Madrid keeps the bet written after the snapshot, loses those of the damaged record
  run jq -c '.apuestas' <<<"$(get_ok "/porras/$MADRID")"
  assert_output '{"dora":{"local":3,"visitante":3}}'
  http_fetch "$PORRIO_URL/porras/Nuevo-Equipo-Liga-2027"
  assert_status 200
  run jq -c '.[] | select(.ID | startswith("Köln")) | {apuestas, resultado}' <<<"$(get_ok /porras)"
  assert_output '{"apuestas":{"ana":{"local":1,"visitante":0}},"resultado":"1-0"}'
  porrio_stop
}

@test "recover of a whole store: the same answers from a new store (one snapshot, an empty journal)" {
  local n="$BATS_TEST_TMPDIR/new"
  mkdir "$n" # an existing empty NEWDIR is fine
  run store recover --to "$n" "$STORE"
  assert_success
  assert_line "recovered 10 records into $n; skipped 0 records that did not apply and 0 damaged bytes"
  serve "$n"
  assert_equal "$(get_ok /porras)" "$(cat "$ANSWERS/porras")"
  assert_equal "$(get_ok /hitos)" "$(cat "$ANSWERS/hitos")"
  porrio_stop
}

@test "recover refuses a NEWDIR that exists and is not empty: exit 1, nothing written there, the store unchanged" {
  local d n before
  d=$(copy_store s)
  flip "$d/$J1" $(($(rec 4 1) + 12))
  n="$BATS_TEST_TMPDIR/new"
  mkdir "$n"
  echo keep >"$n/mine"
  before=$(sums "$d")
  run store recover --to "$n" "$d"
  assert_failure 1
  assert_output --partial "$n: not empty"
  run ls -A "$n"
  assert_output mine
  assert_equal "$(cat "$n/mine")" keep
  assert_equal "$(sums "$d")" "$before"
  # nor into the store itself
  run store recover --to "$d" "$d"
  assert_failure 1
  assert_equal "$(sums "$d")" "$before"
}

@test "bad usage: exit 2 with the usage on stderr, nothing written" {
  local d n args
  d=$(copy_store s)
  n="$BATS_TEST_TMPDIR/new"
  local cases=(
    ""
    "bogus"
    "recover"
    "recover $d"
    "recover --to"
    "recover --to $n --to $n $d"
    "recover --to $n $d extra"
    "verify $d extra"
    "verify --to $n $d"
    "verify --bogus"
  )
  for args in "${cases[@]}"; do
    # shellcheck disable=SC2086 # the words of each case
    run --separate-stderr store $args
    [ "$status" = 2 ] || fail "porrio store $args: exit $status, expected 2 ($output $stderr)"
    [[ $stderr == *"usage: porrio"*"store verify [DATA_DIR]"* ]] || fail "porrio store $args: no usage on stderr: $stderr"
    [ -z "$output" ] || fail "porrio store $args: stdout $output"
  done
  [ ! -e "$n" ] || fail "bad usage wrote $n"
}

# ---- the operator's path ----------------------------------------------------------------------------

@test "an operator's path: start refused with the action to take -> verify as told -> recover as told -> start on the new store -> served" {
  local d n off action cmd
  d=$(copy_store s)
  n="$BATS_TEST_TMPDIR/recovered"
  off=$(rec 4 1)
  flip "$d/$J1" $((off + 12))

  porrio_spawn HITOS_FILE="$HITOS_JSON" DATA_DIR="$d"
  porrio_wait_exit "$PORRIO_PID" 50
  assert_equal "$PORRIO_STATUS" 1
  run jq -c 'select(.level == "error")' "$PORRIO_LOG"
  assert_equal "${#lines[@]}" 1
  assert_equal "$(jfield "$output" .msg)" "the store is damaged: not starting"
  assert_equal "$(jfield "$output" .file)" "$d/$J1"
  assert_equal "$(jfield "$output" .offset)" "$off"
  action=$(jfield "$output" .action)

  # the commands the action names, as written (between backquotes)
  cmd=$(sed -n 's/.*Run `\([^`]*\)`.*/\1/p' <<<"$action")
  assert_equal "$cmd" "porrio store verify $d"
  run store ${cmd#porrio store }
  assert_failure 1
  assert_equal "${lines[-1]}" "DAMAGED: $d/$J1 at offset $off: record fails its checksum; 6 valid records follow"

  cmd=$(sed -n 's/.*then `\([^`]*\)`.*/\1/p' <<<"$action")
  assert_equal "$cmd" "porrio store recover --to NEWDIR $d"
  cmd=${cmd/NEWDIR/$n}
  run store ${cmd#porrio store }
  assert_success
  assert_line "recovered 9 records into $n; skipped 0 records that did not apply and $(rec 4 2) damaged bytes"

  serve "$n"
  assert_equal "$(get_ok /porras | jq -c .)" "$(without_bea)"
  assert_equal "$(get_ok /hitos | jq -c .)" "$(jq -c . "$ANSWERS/hitos")"
  porrio_stop
}
