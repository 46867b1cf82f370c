#!/usr/bin/env bats
# Damage at start (docs/store.md: "Files", "The chain of files", "Torn tail", "Damage at start")
# against the real binary. setup_file builds a realistic store through the server itself: pools
# (non-ASCII IDs too), bets, results and a correction, deletions, milestones, then ~8 MiB of bet
# replacements so that a compaction runs (there is no setting for its threshold), then more writes
# into the new journal: snapshot-0000000000000002 and journal-0000000000000002, every acknowledged
# write and the exact answers recorded (damage.py build). Each test then damages copies of that
# store in one way, many places, and starts porrio on each copy. The either/or of docs/store.md:
# porrio EITHER refuses -- exit 1, exactly one error-level JSON line (msg, file, offset, problem,
# action), stderr naming the file, every file byte for byte unchanged -- OR starts, serves every
# acknowledged record (answers compared byte for byte) and stops on SIGTERM with status 0. A model
# of the strict walk written from docs/store.md (damage.py) also predicts which: the file and
# offset named, or where a torn tail is cut (a warning; the journal's size after). On each copy
# `porrio store verify` must agree with start-up, and after a refusal `porrio store recover`
# must write a new store that verifies whole and starts (store_cmd.bats checks what it holds).
#
# DAMAGE_SEED fixes the seed of the random campaign (printed as a TAP comment), DAMAGE_COUNT its
# number of flips (default 40). A campaign may take 60 s; a sanitizer build (PORRIO_SANITIZER)
# starts each porrio several times slower, and gets 300 s.

load helpers

HITOS_JSON="$REPO_ROOT/data/hitos.json"

DAMAGE_SECONDS=$([ -n "${PORRIO_SANITIZER:-}" ] && echo 300 || echo 60)
damage() { timeout $((DAMAGE_SECONDS + 30)) "$PYTHON" "$BATS_TEST_DIRNAME/damage.py" "$@" 3>&-; }

setup_file() {
  export DAMAGE_BASE="$BATS_FILE_TMPDIR/base" DAMAGE_STATE="$BATS_FILE_TMPDIR/state.json"
  export DAMAGE_FOREIGN="$BATS_FILE_TMPDIR/foreign" DAMAGE_WORK="$BATS_FILE_TMPDIR/work"
  mkdir -p "$DAMAGE_WORK"
  porrio_start WORKERS=2 HITOS_FILE="$HITOS_JSON" DATA_DIR="$DAMAGE_BASE"
  if ! damage build --port "$PORRIO_PORT" --data "$DAMAGE_BASE" --out "$DAMAGE_STATE" --max-seconds 40 \
    >"$BATS_FILE_TMPDIR/build.out" 2>&1; then
    cat "$BATS_FILE_TMPDIR/build.out" >&2
    porrio_dump >&2
    return 1
  fi
  porrio_stop
  # a second store: the source of "a journal of another store"
  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$DAMAGE_FOREIGN"
  [ "$(status_of -X PUT "$PORRIO_URL/porra/otra/tienda/Liga/2024")" = 200 ]
  [ "$(status_of -X PUT -H 'Content-Type: application/json' --data-binary '{"local":1,"visitante":1}' \
    "$PORRIO_URL/porras/otra-tienda-Liga-2024/apuestas/ana")" = 201 ]
  porrio_stop
}

teardown_file() { porrio_cleanup; }

teardown() { porrio_cleanup; }

# campaign KIND [ARGS...]: damage.py campaign on copies of the base store; fails with its report.
# Its summary line goes out as a TAP comment.
campaign() {
  run damage campaign --kind "$1" --base "$DAMAGE_BASE" --state "$DAMAGE_STATE" --work "$DAMAGE_WORK" \
    --porrio "$PORRIO" --hitos "$HITOS_JSON" --foreign "$DAMAGE_FOREIGN" --max-seconds "$DAMAGE_SECONDS" "${@:2}"
  grep -E '^(seed|[0-9]+ cases)' <<<"$output" | sed 's/^/# /' >&3
  [ "$status" = 0 ] || fail "$output"
}

@test "the base store: a compaction ran (snapshot 2 and journal 2 alone), and a restart serves every acknowledged write" {
  run ls "$DAMAGE_BASE"
  assert_output "journal-0000000000000002
snapshot-0000000000000002"
  sed 's/^/# /' "$BATS_FILE_TMPDIR/build.out" >&3
  damage layout --base "$DAMAGE_BASE" | cut -c1-200 | sed 's/^/# /' >&3
  campaign whole
}

@test "every bit of both headers (one bit of each byte flipped, 64 starts): refused at offset 0 of that file" {
  campaign headers
}

@test "frame length, CRC-8 and CRC-32 bytes of the first, middle and last records of the snapshot and the journal: refused at that record" {
  campaign frames
}

@test "payload bytes (first, middle, last) of the first, middle and last records of the snapshot and the journal: refused at that record" {
  campaign payloads
}

@test "every byte of the snapshot's trailer: refused" {
  campaign trailer
}

@test "the snapshot cut short at 11 points (just its trailer, inside records, to its header, to nothing): refused" {
  campaign snapshot-cut
}

@test "the journal cut inside its last record: cut off with a warning, every other record kept; inside a middle record: the same as cut there; inside its header: refused" {
  campaign journal-cut
}

@test "files missing, of another store, renamed, of generation 0, leftovers: refused, or started as a whole chain" {
  campaign files
}

@test "tails: zeros appended or a sector never written are cut with a warning; random bytes appended are refused" {
  campaign tails
}

@test "frames that verify holding records that do not apply (a bet on no pool, 100 goals, a taken milestone, an unknown op...): refused naming the record" {
  campaign semantic
}

@test "seeded random campaign: single-byte changes at random offsets of random files" {
  campaign random --count "${DAMAGE_COUNT:-40}" ${DAMAGE_SEED:+--seed "$DAMAGE_SEED"}
}
