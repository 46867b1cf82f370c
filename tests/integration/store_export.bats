#!/usr/bin/env bats
# `porrio store export [FILE]` and `porrio store import [--merge] [FILE]` against the real binary
# (docs/store.md, "Export and import"): the state as JSON lines, a header first; an import into a
# new DATA_DIR restores what the server answered, byte for byte; every line is checked before any
# is written, so a bad file is refused with exit 2 naming its line and changes nothing; a store
# that holds something takes an import only with --merge; one that porrio serves, none.
#
# setup_file writes a store through the server — odd characters included — and keeps its answers.

load helpers

HITOS_JSON="$REPO_ROOT/data/hitos.json"
MADRID=Madrid-Bar%C3%A7a-Liga-2024
KOLN=K%C3%B6ln-M%C3%BCnchen-Bundesliga-2023
TITLE='Un "título" con \ barra y ñ'

setup_file() {
  export STORE="$BATS_FILE_TMPDIR/store" ANSWERS="$BATS_FILE_TMPDIR/answers"
  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$STORE"
  local w title method path body code
  title=$(jq -c -n --arg t "$TITLE" '$t')
  for w in \
    "PUT /porra/Madrid/Bar%C3%A7a/Liga/2024 - 200" \
    "PUT /porra/gone/b/c/2024 - 200" \
    "PUT /porra/K%C3%B6ln/M%C3%BCnchen/Bundesliga/2023 - 200" \
    "PUT /porras/$MADRID/apuestas/zoe {\"local\":3,\"visitante\":3} 201" \
    "PUT /porras/$MADRID/apuestas/ana-m {\"local\":2,\"visitante\":1} 201" \
    "PUT /porras/$KOLN/apuestas/%C3%91and%C3%BA {\"local\":1,\"visitante\":0} 201" \
    "PUT /porras/$MADRID/apuestas/zoe {\"local\":0,\"visitante\":0} 200" \
    "PUT /porras/$KOLN/resultado {\"local\":1,\"visitante\":0} 200" \
    "DELETE /porras/gone-b-c-2024 - 204" \
    "POST /hitos {\"file\":\"2.Comillas\",\"title\":$title,\"fecha\":\"29/2/2020\"} 201" \
    "POST /hitos {\"file\":\"3.Export\",\"title\":\"t\",\"fecha\":\"1/12/2026\"} 201"; do
    # the method, the path and the status have no spaces: the body is what lies between
    method=${w%% *} w=${w#* } path=${w%% *} w=${w#* } code=${w##* } body=${w% *}
    if [ "$body" = - ]; then
      [ "$(status_of -X "$method" "$PORRIO_URL$path")" = "$code" ]
    else
      [ "$(status_of -X "$method" -H 'Content-Type: application/json' --data-binary "$body" "$PORRIO_URL$path")" = "$code" ]
    fi
  done
  mkdir -p "$ANSWERS"
  curl -s --max-time 5 "$PORRIO_URL/porras" >"$ANSWERS/porras"
  curl -s --max-time 5 "$PORRIO_URL/hitos" >"$ANSWERS/hitos"
  porrio_stop
}

teardown_file() { porrio_cleanup; }

teardown() { porrio_cleanup; }

# ---- local helpers ----------------------------------------------------------------------------

# port DIR IN ARGS...: `porrio store ARGS...` on DATA_DIR DIR with the suite's HITOS_FILE, stdin
# from IN (a file, or /dev/null), stopped after 30 s; for `run`.
port() {
  local dir=$1 in=$2
  shift 2
  _PORRIO_ADD_PORT=0 _porrio_cmd HITOS_FILE="$HITOS_JSON" DATA_DIR="$dir" store "$@"
  (cd "$BATS_TEST_TMPDIR" && exec timeout 30 "${PORRIO_CMD[@]}") <"$in" 3>&-
}

# sums DIR: every file of DIR with its SHA-256 (to compare before and after).
sums() { (cd "$1" && sha256sum ./* 2>/dev/null); }

# serve DIR: starts porrio on DIR.
serve() { porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$1"; }

# exported: the suite's store exported into $BATS_TEST_TMPDIR/export.jsonl; prints its path.
exported() {
  port "$STORE" /dev/null export "$BATS_TEST_TMPDIR/export.jsonl" >/dev/null 2>&1
  printf '%s\n' "$BATS_TEST_TMPDIR/export.jsonl"
}

# restored NAME: a new store $BATS_TEST_TMPDIR/NAME holding the suite's export; prints its path.
restored() {
  local f
  f=$(exported)
  port "$BATS_TEST_TMPDIR/$1" "$f" import >/dev/null 2>&1
  printf '%s\n' "$BATS_TEST_TMPDIR/$1"
}

# ---- export -----------------------------------------------------------------------------------

@test "export: a header announcing what follows, the milestones added, each pool followed by its bets in bet order and its result; a summary on stderr" {
  run --separate-stderr port "$STORE" /dev/null export
  assert_success
  assert_equal "$stderr" "porrio: exported 2 pools, 3 bets, 1 results, 2 milestones"
  assert_equal "$(jq -c 'keys_unsorted' <<<"${lines[0]}")" '["porrio_export","version","pools","bets","results","hitos"]'
  assert_equal "$(jq -c '[.porrio_export, .pools, .bets, .results, .hitos]' <<<"${lines[0]}")" '[1,2,3,1,2]'
  assert_equal "$(jq -r .version <<<"${lines[0]}")" "$(cat "$REPO_ROOT/VERSION")"
  assert_equal "${#lines[@]}" 9
  assert_equal "${lines[1]}" "$(jq -c -n --arg t "$TITLE" '{hito: {file: "2.Comillas", title: $t, fecha: "29/2/2020"}}')"
  assert_equal "${lines[2]}" '{"hito":{"file":"3.Export","title":"t","fecha":"1/12/2026"}}'
  assert_equal "${lines[3]}" '{"pool":{"local":"Madrid","visitante":"Barça","competition":"Liga","year":"2024"}}'
  assert_equal "${lines[4]}" '{"bet":{"ID":"Madrid-Barça-Liga-2024","quien":"zoe","local":0,"visitante":0}}'
  assert_equal "${lines[5]}" '{"bet":{"ID":"Madrid-Barça-Liga-2024","quien":"ana-m","local":2,"visitante":1}}'
  assert_equal "${lines[6]}" '{"pool":{"local":"Köln","visitante":"München","competition":"Bundesliga","year":"2023"}}'
  assert_equal "${lines[7]}" '{"bet":{"ID":"Köln-München-Bundesliga-2023","quien":"Ñandú","local":1,"visitante":0}}'
  assert_equal "${lines[8]}" '{"result":{"ID":"Köln-München-Bundesliga-2023","local":1,"visitante":0}}'
  # "-" is stdout too; FILE gets the same bytes
  local f
  f=$(exported)
  run --separate-stderr port "$STORE" /dev/null export -
  assert_success
  assert_equal "$output" "$(cat "$f")"
}

@test "export of an empty store: the header alone, every count 0; importing it gives an empty store" {
  mkdir "$BATS_TEST_TMPDIR/empty"
  run --separate-stderr port "$BATS_TEST_TMPDIR/empty" /dev/null export
  assert_success
  assert_output "{\"porrio_export\":1,\"version\":\"$(cat "$REPO_ROOT/VERSION")\",\"pools\":0,\"bets\":0,\"results\":0,\"hitos\":0}"
  assert_equal "$stderr" "porrio: exported 0 pools, 0 bets, 0 results, 0 milestones"
  printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/empty.jsonl"
  run --separate-stderr port "$BATS_TEST_TMPDIR/new" "$BATS_TEST_TMPDIR/empty.jsonl" import
  assert_success
  assert_equal "$stderr" "porrio: imported 0 pools, 0 bets, 0 results, 0 milestones; 0 lines skipped: the store held them already"
  serve "$BATS_TEST_TMPDIR/new"
  assert_equal "$(curl -s --max-time 5 "$PORRIO_URL/porras")" "[]"
  porrio_stop
}

# ---- import -----------------------------------------------------------------------------------

@test "restore: export, import into a new DATA_DIR, and the server on it answers GET /porras and GET /hitos byte for byte" {
  local f
  f=$(exported)
  run --separate-stderr port "$BATS_TEST_TMPDIR/new" "$f" import
  assert_success
  assert_output ''
  assert_equal "$stderr" "porrio: imported 2 pools, 3 bets, 1 results, 2 milestones; 0 lines skipped: the store held them already"
  serve "$BATS_TEST_TMPDIR/new"
  curl -s --max-time 5 "$PORRIO_URL/porras" >"$BATS_TEST_TMPDIR/porras"
  curl -s --max-time 5 "$PORRIO_URL/hitos" >"$BATS_TEST_TMPDIR/hitos"
  porrio_stop
  cmp "$ANSWERS/porras" "$BATS_TEST_TMPDIR/porras"
  cmp "$ANSWERS/hitos" "$BATS_TEST_TMPDIR/hitos"
  # from stdin ("-" or no FILE) too; the restored store exports the same lines
  run --separate-stderr port "$BATS_TEST_TMPDIR/again" "$f" import -
  assert_success
  run --separate-stderr port "$BATS_TEST_TMPDIR/again" /dev/null export
  assert_success
  assert_equal "$output" "$(cat "$f")"
}

@test "a damaged or garbled export is refused with exit 2 naming the line and why; the target is unchanged" {
  local f d before
  f=$(exported)
  d=$(restored target)
  before=$(sums "$d")
  # cut short at a line's end: the header's counts tell
  head -n 6 "$f" >"$BATS_TEST_TMPDIR/cut"
  # a byte changed inside a line, a line that is not JSON, binary noise, a line too long
  sed '5s/"quien"/"quien/' "$f" >"$BATS_TEST_TMPDIR/garbled"
  { head -n 3 "$f"; echo 'pool Madrid Barça'; } >"$BATS_TEST_TMPDIR/text"
  { head -n 1 "$f"; head -c 300 /dev/urandom | tr '\n' x; echo; } >"$BATS_TEST_TMPDIR/noise"
  { head -n 1 "$f"; printf '{"hito":{"file":"x","title":"%s","fecha":"1/1/2020"}}\n' "$(head -c 70000 /dev/zero | tr '\0' a)"; } >"$BATS_TEST_TMPDIR/long"
  # not an export at all, and the rules of a write: goals, a bet before its pool, a bet after the result
  echo '{"hitos_lista":[]}' >"$BATS_TEST_TMPDIR/other"
  sed '5s/"local":0/"local":100/' "$f" >"$BATS_TEST_TMPDIR/goals"
  { head -n 3 "$f"; sed -n '5p' "$f"; sed -n '4p' "$f"; tail -n +6 "$f"; } >"$BATS_TEST_TMPDIR/order"
  { head -n 7 "$f"; sed -n '9p' "$f"; sed -n '8p' "$f"; } >"$BATS_TEST_TMPDIR/closed"
  local -A want=(
    [cut]="the header announces 2 pools and the file holds 1: it was cut short or changed"
    [garbled]="line 5: not JSON: "
    [text]="line 4: not JSON: "
    [noise]="line 2: not JSON: "
    [long]="line 2: longer than 65536 bytes: not an export's line"
    [other]="line 1: not an export's header: hitos_lista: unknown field"
    [goals]="line 5: bet: local: must be an integer from 0 to 99"
    [order]="line 4: bet: ID: no pool \"Madrid-Barça-Liga-2024\" (a pool's line comes before its bets and result)"
    [closed]="line 9: bet: betting is closed: the result is set"
  )
  local name
  for name in "${!want[@]}"; do
    # into an empty store, and merged into the restored one: nothing is written either way
    run --separate-stderr port "$BATS_TEST_TMPDIR/empty-$name" "$BATS_TEST_TMPDIR/$name" import
    assert_failure 2
    assert_output ''
    [[ $stderr == "porrio: ${want[$name]}"*": nothing was imported" ]] || fail "$name: $stderr"
    # (merged, the lines of order and closed are what the store holds already: skipped)
    if [ "$name" != order ] && [ "$name" != closed ]; then
      run --separate-stderr port "$d" "$BATS_TEST_TMPDIR/$name" import --merge
      assert_failure 2
      [[ $stderr == "porrio: ${want[$name]}"* ]] || fail "$name (merge): $stderr"
      assert_equal "$(sums "$d")" "$before"
    fi
    run --separate-stderr port "$BATS_TEST_TMPDIR/empty-$name" /dev/null export
    assert_success
    assert_equal "$(jq -c '[.pools, .bets, .results, .hitos]' <<<"$output")" '[0,0,0,0]'
  done
  serve "$d"
  curl -s --max-time 5 "$PORRIO_URL/porras" >"$BATS_TEST_TMPDIR/porras"
  porrio_stop
  cmp "$ANSWERS/porras" "$BATS_TEST_TMPDIR/porras"
}

@test "into a store that holds something: refused without --merge (exit 2, nothing changed); --merge keeps its pools and milestones, the file's bets replace" {
  local f d before
  f=$(exported)
  d=$(restored target)
  before=$(sums "$d")
  run --separate-stderr port "$d" "$f" import
  assert_failure 2
  assert_equal "$stderr" "porrio: cannot import: the store is not empty: it holds 2 pools and 2 milestones added with POST /hitos (--merge imports into it)"
  assert_equal "$(sums "$d")" "$before"
  # the same file merged: every line is held already
  run --separate-stderr port "$d" "$f" import --merge
  assert_success
  assert_equal "$stderr" "porrio: imported 0 pools, 0 bets, 0 results, 0 milestones; 8 lines skipped: the store held them already"
  # a file that changes a bet, adds a bettor and a pool, and names a milestone the store holds
  cat >"$BATS_TEST_TMPDIR/more" <<'EOF'
{"porrio_export":1,"version":"0","pools":2,"bets":3,"results":0,"hitos":1}
{"hito":{"file":"3.Export","title":"another","fecha":"2/2/2022"}}
{"pool":{"local":"Madrid","visitante":"Barça","competition":"Liga","year":"2024"}}
{"bet":{"ID":"Madrid-Barça-Liga-2024","quien":"ana-m","local":5,"visitante":5}}
{"bet":{"ID":"Madrid-Barça-Liga-2024","quien":"eva","local":1,"visitante":1}}
{"pool":{"local":"Nuevo","visitante":"Pool","competition":"Copa","year":"2030"}}
{"bet":{"ID":"Nuevo-Pool-Copa-2030","quien":"eva","local":0,"visitante":2}}
EOF
  run --separate-stderr port "$d" "$BATS_TEST_TMPDIR/more" import --merge
  assert_success
  assert_equal "$stderr" "porrio: imported 1 pools, 3 bets, 0 results, 0 milestones; 2 lines skipped: the store held them already"
  serve "$d"
  http_fetch "$PORRIO_URL/porras/Madrid-Barça-Liga-2024"
  assert_status 200
  assert_equal "$(jq -c .apuestas <<<"$BODY")" '{"zoe":{"local":0,"visitante":0},"ana-m":{"local":5,"visitante":5},"eva":{"local":1,"visitante":1}}'
  assert_equal "$(curl -s --max-time 5 "$PORRIO_URL/porras" | jq -c '[.[].ID]')" '["Madrid-Barça-Liga-2024","Köln-München-Bundesliga-2023","Nuevo-Pool-Copa-2030"]'
  assert_equal "$(curl -s --max-time 5 "$PORRIO_URL/hitos/3" | jq -r .title)" t
  porrio_stop
}

@test "import into a store porrio is serving: refused (exit 1, the directory's lock), the server unaffected" {
  local f d
  f=$(exported)
  d=$(restored target)
  serve "$d"
  run --separate-stderr port "$d" "$f" import --merge
  assert_failure 1
  [[ $stderr == "porrio: cannot open the store: "*"in use by another porrio"* ]] || fail "$stderr"
  http_fetch "$PORRIO_URL/porras"
  assert_status 200
  assert_equal "$BODY" "$(cat "$ANSWERS/porras")"
  porrio_stop
}

@test "import keeps the limits of the settings: past MAX_POOLS the file is refused, naming the line" {
  local f
  f=$(exported)
  run --separate-stderr port "$BATS_TEST_TMPDIR/new" "$f" import MAX_POOLS=1
  assert_failure 2
  # MAX_POOLS=1 given as NAME=VALUE goes to the environment of the command
  assert_equal "$stderr" "porrio: line 7: pool: MAX_POOLS reached: 1 pools, at most 1: nothing was imported"
}

@test "a large export: 20 pools of 1000 bets each, imported, served and exported again to the same bytes" {
  "$PYTHON" - "$BATS_TEST_TMPDIR/big" <<'EOF'
import json, sys
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write('{"porrio_export":1,"version":"0","pools":20,"bets":20000,"results":10,"hitos":0}\n')
    for p in range(20):
        pid = "Local%d-Visita-Liga-2024" % p
        f.write(json.dumps({"pool": {"local": "Local%d" % p, "visitante": "Visita", "competition": "Liga", "year": "2024"}}, separators=(",", ":")) + "\n")
        for b in range(1000):
            f.write(json.dumps({"bet": {"ID": pid, "quien": "p%d-ñ" % b, "local": b % 10, "visitante": b % 7}}, ensure_ascii=False, separators=(",", ":")) + "\n")
        if p % 2 == 0:
            f.write(json.dumps({"result": {"ID": pid, "local": 1, "visitante": 1}}, separators=(",", ":")) + "\n")
EOF
  run --separate-stderr port "$BATS_TEST_TMPDIR/new" "$BATS_TEST_TMPDIR/big" import
  assert_success
  assert_equal "$stderr" "porrio: imported 20 pools, 20000 bets, 10 results, 0 milestones; 0 lines skipped: the store held them already"
  serve "$BATS_TEST_TMPDIR/new"
  assert_equal "$(curl -s --max-time 10 "$PORRIO_URL/porras" | jq '[.[].apuestas | length] | add')" 20000
  porrio_stop
  run --separate-stderr port "$BATS_TEST_TMPDIR/new" /dev/null export
  assert_success
  # the same lines but the header's version
  assert_equal "$(tail -n +2 <<<"$output" | sha256sum)" "$(tail -n +2 "$BATS_TEST_TMPDIR/big" | sha256sum)"
}

@test "bad usage: exit 2 with the usage, nothing read or written" {
  local u
  for u in "export a b" "export --merge" "import --bogus" "import a b" "import --merge --merge"; do
    # shellcheck disable=SC2086
    run --separate-stderr port "$BATS_TEST_TMPDIR/none" /dev/null $u
    assert_failure 2
    [[ $stderr == *"store import [--merge] [FILE]"* ]] || fail "$u: $stderr"
  done
  [ ! -e "$BATS_TEST_TMPDIR/none" ]
  run --separate-stderr port "$BATS_TEST_TMPDIR/none" /dev/null import "$BATS_TEST_TMPDIR/missing"
  assert_failure 1
  [[ $stderr == "porrio: cannot read $BATS_TEST_TMPDIR/missing: "* ]] || fail "$stderr"
  [ ! -e "$BATS_TEST_TMPDIR/none" ]
}
