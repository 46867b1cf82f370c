#!/usr/bin/env bats
# The milestones (hitos) against the real binary, served from the repository's data/hitos.json
# (the course's two milestones): the course routes /all and /one/{id}, the resource routes
# /hitos and /hitos/{id}, adding one with POST /hitos (validation, conflicts, durability), and
# how HITOS_FILE is found and checked at start (README: Settings, HTTP API).

load helpers

HITOS_JSON="$REPO_ROOT/data/hitos.json"

setup_file() {
  # One shared server for the tests that change nothing; the ones that add a milestone start
  # their own on a fresh DATA_DIR.
  mkdir -p "$BATS_FILE_TMPDIR/shared-data"
  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$BATS_FILE_TMPDIR/shared-data"
  export SHARED_PID=$PORRIO_PID SHARED_URL=$PORRIO_URL SHARED_LOG=$PORRIO_LOG SHARED_ERR=$PORRIO_ERR
}

teardown_file() { porrio_teardown_file "$SHARED_PID"; }

teardown() { porrio_cleanup; }

# ---- local helpers ----------------------------------------------------------------------------

# fetch URL [CURL_ARGS...]: http_fetch with the JSON content type on bodies.
fetch() { http_fetch "$1" -H 'Content-Type: application/json' "${@:2}"; }

# file_hitos: the milestones of data/hitos.json, compact.
file_hitos() { jq -c '.hitos_lista' "$HITOS_JSON"; }

# ---- reading ----------------------------------------------------------------------------------

@test "GET /all: {hitos: {comment, hitos_lista (the file's two), hitos keyed by file}}" {
  fetch "$SHARED_URL/all"
  assert_json_ok 200
  run jq -c 'keys' <<<"$BODY"
  assert_output '["hitos"]'
  run jq -r '.hitos.comment' <<<"$BODY"
  assert_output "$(jq -r .comment "$HITOS_JSON")"
  run jq -r '.hitos.hitos_lista | length' <<<"$BODY"
  assert_output 2
  run jq -c '.hitos.hitos_lista' <<<"$BODY"
  assert_output "$(file_hitos)"
  run jq -c '.hitos.hitos["0.Repositorio"]' <<<"$BODY"
  assert_output '{"file":"0.Repositorio","title":"Git y GitHub","fecha":"21/09/2017"}'
  run jq -c '.hitos.hitos | keys' <<<"$BODY"
  assert_output '["0.Repositorio","1.Infraestructura"]'
}

@test "GET /one/0 and /one/1: {hito: hitos_lista[id]}" {
  local i
  for i in 0 1; do
    fetch "$SHARED_URL/one/$i"
    assert_json_ok 200
    run jq -c . <<<"$BODY"
    assert_output "{\"hito\":$(jq -c ".hitos_lista[$i]" "$HITOS_JSON")}"
  done
}

@test "GET /one/2 (out of range): 404 JSON error, however large the index" {
  fetch "$SHARED_URL/one/2"
  assert_json_error 404 "no milestone with index 2"
  fetch "$SHARED_URL/one/99999999999999999999999"
  assert_json_error 404 "no milestone with index 99999999999999999999999"
}

@test "GET /one/{id} and /hitos/{id} with id not an index as written (x, 1.5, 0x1, +1, -1, -0, +0, 00, 01, spaces): 400 naming id" {
  local id path
  for path in one hitos; do
    for id in x 1.5 %20 0x1 1e0 +1 '1%20' -1 -0 +0 %2B0 00 01 000 -00 %200 '0%20' '0%09' %0A0 -99999999999999999999999; do
      fetch "$SHARED_URL/$path/$id"
      [ "$STATUS" = 400 ] || fail "GET /$path/$id: status $STATUS, expected 400 ($BODY)"
      assert_json_error 400 "id: must be a milestone index"
    done
  done
}

@test "GET /hitos: the array of milestones; GET /hitos/{id}: one milestone, 404 / 400 as /one" {
  fetch "$SHARED_URL/hitos"
  assert_json_ok 200
  run jq -c . <<<"$BODY"
  assert_output "$(file_hitos)"

  fetch "$SHARED_URL/hitos/1"
  assert_json_ok 200
  run jq -c . <<<"$BODY"
  assert_output "$(jq -c '.hitos_lista[1]' "$HITOS_JSON")"

  fetch "$SHARED_URL/hitos/2"
  assert_json_error 404
  fetch "$SHARED_URL/hitos/uno"
  assert_json_error 400 id
}

@test "HEAD /all and /hitos/0: GET's status and headers, Content-Length included, no body" {
  local path get_len raw
  for path in /all /hitos/0; do
    fetch "$SHARED_URL$path"
    get_len=$(header Content-Length)
    assert_equal "$get_len" "$(printf '%s' "$BODY" | wc -c)"
    raw=$(http_raw "${SHARED_URL##*:}" "HEAD $path HTTP/1.1"$'\r\n'"Host: t"$'\r\n'"Connection: close"$'\r\n\r\n' | base64 -w0)
    # everything after the blank line that ends the headers: nothing
    run python3 -c 'import base64, sys; r = base64.b64decode(sys.argv[1]); h, _, b = r.partition(b"\r\n\r\n"); print(h.split(b"\r\n")[0].decode()); print(len(b))' "$raw"
    assert_line --index 0 --regexp '^HTTP/1\.1 200 '
    assert_line --index 1 0
    HDRS=$(base64 -d <<<"$raw" | tr -d '\r')
    assert_equal "$(header Content-Length)" "$get_len"
    assert_equal "$(header Content-Type)" "application/json; charset=utf-8"
  done
}

# ---- adding -----------------------------------------------------------------------------------

@test "POST /hitos: 201 with Location /hitos/2 and the milestone; then readable everywhere; same file again: 409" {
  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$BATS_TEST_TMPDIR/data"
  local new='{"file":"2.Tests","title":"Tests de integración","fecha":"29/2/2024"}'

  fetch "$PORRIO_URL/hitos" -X POST --data-binary "$new"
  assert_json_ok 201
  assert_equal "$(header Location)" "/hitos/2"
  run jq -c . <<<"$BODY"
  assert_output "$(jq -c . <<<"$new")"

  fetch "$PORRIO_URL/hitos/2"
  assert_json_ok 200
  run jq -c . <<<"$BODY"
  assert_output "$(jq -c . <<<"$new")"

  fetch "$PORRIO_URL/one/2"
  assert_json_ok 200
  run jq -c '.hito' <<<"$BODY"
  assert_output "$(jq -c . <<<"$new")"

  fetch "$PORRIO_URL/all"
  assert_json_ok 200
  run jq -r '.hitos.hitos_lista | length' <<<"$BODY"
  assert_output 3
  run jq -c '.hitos.hitos_lista[2]' <<<"$BODY"
  assert_output "$(jq -c . <<<"$new")"
  run jq -c '.hitos.hitos["2.Tests"]' <<<"$BODY"
  assert_output "$(jq -c . <<<"$new")"

  fetch "$PORRIO_URL/hitos"
  run jq -r 'length' <<<"$BODY"
  assert_output 3

  # the same file again (other title and date): 409, nothing changes
  fetch "$PORRIO_URL/hitos" -X POST --data-binary '{"file":"2.Tests","title":"otro","fecha":"1/3/2024"}'
  assert_json_error 409
  # a file that came from HITOS_FILE: 409 too
  fetch "$PORRIO_URL/hitos" -X POST --data-binary '{"file":"0.Repositorio","title":"otro","fecha":"1/3/2024"}'
  assert_json_error 409
  fetch "$PORRIO_URL/hitos"
  run jq -r 'length' <<<"$BODY"
  assert_output 3
  fetch "$PORRIO_URL/hitos/2"
  run jq -r '.title' <<<"$BODY"
  assert_output "Tests de integración"

  # the next one gets the next index
  fetch "$PORRIO_URL/hitos" -X POST --data-binary '{"file":"3.Más","title":"t","fecha":"1/12/2024"}'
  assert_json_ok 201
  assert_equal "$(header Location)" "/hitos/3"

  porrio_stop
}

@test "POST /hitos with a bad body: 400 naming the field, nothing added" {
  local u="$SHARED_URL/hitos" ok='"title":"t","fecha":"1/1/2024"'
  # body | word the message must name
  local cases=(
    '{"file":"x",|body'
    '{"file":"x" "title":"t"}|body'
    '|body'
    '[1,2]|body'
    '"text"|body'
    '42|body'
    'null|body'
    '{"title":"t","fecha":"1/1/2024"}|file'
    '{"file":"x","fecha":"1/1/2024"}|title'
    '{"file":"x","title":"t"}|fecha'
    "{\"file\":1,$ok}|file"
    "{\"file\":null,$ok}|file"
    "{\"file\":[\"x\"],$ok}|file"
    '{"file":"x","title":true,"fecha":"1/1/2024"}|title'
    '{"file":"x","title":"t","fecha":20240101}|fecha'
    "{\"file\":\"\",$ok}|file"
    '{"file":"x","title":"","fecha":"1/1/2024"}|title'
    '{"file":"x","title":"t","fecha":""}|fecha'
    "{\"file\":\"x\",$ok,\"extra\":1}|extra"
    "{\"file\":\"x\",\"file\":\"y\",$ok}|file"
    '{"file":"x","title":"t","fecha":"31/4/2024"}|fecha'
    '{"file":"x","title":"t","fecha":"29/2/2023"}|fecha'
    '{"file":"x","title":"t","fecha":"29/2/1900"}|fecha'
    '{"file":"x","title":"t","fecha":"1/1/24"}|fecha'
    '{"file":"x","title":"t","fecha":"aa/bb/cccc"}|fecha'
    '{"file":"x","title":"t","fecha":"0/1/2024"}|fecha'
    '{"file":"x","title":"t","fecha":"1/13/2024"}|fecha'
    '{"file":"x","title":"t","fecha":"32/1/2024"}|fecha'
    '{"file":"x","title":"t","fecha":"001/1/2024"}|fecha'
    '{"file":"x","title":"t","fecha":"1-1-2024"}|fecha'
    '{"file":"x","title":"t","fecha":"1/1/2024 "}|fecha'
    "{\"file\":\"../x\",$ok}|file: must be a file name"
    "{\"file\":\"a/b\",$ok}|file: must be a file name"
    "{\"file\":\"a\\\\b\",$ok}|file: must be a file name"
    "{\"file\":\".\",$ok}|file: must be a file name"
    "{\"file\":\"..\",$ok}|file: must be a file name"
    "{\"file\":\"a\\nb\",$ok}|file: must be a file name"
    "{\"file\":\"a\\u001bb\",$ok}|file: must be a file name"
  )
  local c body word
  for c in "${cases[@]}"; do
    body=${c%|*} word=${c##*|}
    fetch "$u" -X POST --data-binary "$body"
    [ "$STATUS" = 400 ] || fail "body $body: status $STATUS, expected 400 ($BODY)"
    assert_json_error 400 "$word"
  done
  fetch "$u"
  run jq -c . <<<"$BODY"
  assert_output "$(file_hitos)"
}

@test "POST /hitos: valid dates in every accepted form are taken" {
  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$BATS_TEST_TMPDIR/data"
  local i=0 f
  for f in 1/1/2024 01/01/2024 29/2/2024 29/2/2000 31/12/1999 30/4/2024; do
    fetch "$PORRIO_URL/hitos" -X POST --data-binary "{\"file\":\"f$i\",\"title\":\"t\",\"fecha\":\"$f\"}"
    [ "$STATUS" = 201 ] || fail "fecha $f: status $STATUS ($BODY)"
    assert_equal "$(header Location)" "/hitos/$((i + 2))"
    i=$((i + 1))
  done
  porrio_stop
}

@test "POST /hitos with a body over MAX_BODY_BYTES (65536): 413 JSON" {
  local big="$BATS_TEST_TMPDIR/big.json"
  python3 -c 'import sys; sys.stdout.write("{\"file\":\"" + "x" * 70000 + "\",\"title\":\"t\",\"fecha\":\"1/1/2024\"}")' >"$big"
  fetch "$SHARED_URL/hitos" -X POST --data-binary @"$big"
  assert_json_error 413
  fetch "$SHARED_URL/hitos" -X POST -H 'Expect:' --data-binary @"$big"
  assert_json_error 413
  fetch "$SHARED_URL/hitos"
  run jq -r 'length' <<<"$BODY"
  assert_output 2
}

@test "wrong methods: DELETE /hitos 405 Allow: GET, HEAD, POST, OPTIONS; PUT /hitos/0 and POST /all 405 with Allow" {
  fetch "$SHARED_URL/hitos" -X DELETE
  assert_json_error 405
  assert_equal "$(header Allow)" "GET, HEAD, POST, OPTIONS"
  fetch "$SHARED_URL/hitos/0" -X PUT --data-binary '{}'
  assert_json_error 405
  assert_equal "$(header Allow)" "GET, HEAD, OPTIONS"
  fetch "$SHARED_URL/all" -X POST --data-binary '{}'
  assert_json_error 405
  assert_equal "$(header Allow)" "GET, HEAD, OPTIONS"
  fetch "$SHARED_URL/one/0" -X DELETE
  assert_json_error 405
  assert_equal "$(header Allow)" "GET, HEAD, OPTIONS"
}

@test "HITOS_FILE is never written: same checksum and mtime after additions" {
  local before mtime
  before=$(sha256sum "$HITOS_JSON")
  mtime=$(stat -c %Y.%s "$HITOS_JSON")
  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$BATS_TEST_TMPDIR/data"
  fetch "$PORRIO_URL/hitos" -X POST --data-binary '{"file":"2.Tests","title":"t","fecha":"1/1/2024"}'
  assert_json_ok 201
  fetch "$PORRIO_URL/hitos" -X POST --data-binary '{"file":"3.Tests","title":"t","fecha":"2/1/2024"}'
  assert_json_ok 201
  porrio_stop
  assert_equal "$(sha256sum "$HITOS_JSON")" "$before"
  assert_equal "$(stat -c %Y.%s "$HITOS_JSON")" "$mtime"
  # the addition lives under DATA_DIR
  [ "$(cat "$BATS_TEST_TMPDIR"/data/journal-* | wc -c)" -gt 32 ] || fail "nothing written under DATA_DIR (a journal is 32 bytes of header)"
}

@test "a milestone added with POST /hitos, then put into HITOS_FILE too: exit 2 naming both; the store untouched" {
  local data="$BATS_TEST_TMPDIR/data" file="$BATS_TEST_TMPDIR/hitos.json" before
  cp "$HITOS_JSON" "$file"
  porrio_start HITOS_FILE="$file" DATA_DIR="$data"
  fetch "$PORRIO_URL/hitos" -X POST --data-binary '{"file":"9.Nuevo","title":"t","fecha":"1/1/2024"}'
  assert_json_ok 201
  porrio_stop
  jq '.hitos_lista += [{"file": "9.Nuevo", "title": "other", "fecha": "2/2/2024"}]' "$HITOS_JSON" >"$file"
  before=$(cd "$data" && sha256sum ./*)
  run --separate-stderr porrio_exec HITOS_FILE="$file" DATA_DIR="$data"
  assert_failure 2
  assert_regex "$stderr" "hitos\.json.*9\.Nuevo.*POST /hitos.*HITOS_FILE"
  run jq -r 'select(.level == "error") | .msg' <<<"$output"
  assert_output "cannot load the milestones"
  assert_equal "$(cd "$data" && sha256sum ./*)" "$before"
  # taken out of the file again, it starts, the added milestone where it was
  cp "$HITOS_JSON" "$file"
  porrio_start HITOS_FILE="$file" DATA_DIR="$data"
  fetch "$PORRIO_URL/hitos/2"
  assert_json_ok 200
  run jq -r .title <<<"$BODY"
  assert_output t
  porrio_stop
}

@test "additions survive a restart on the same DATA_DIR" {
  local data="$BATS_TEST_TMPDIR/data" new='{"file":"2.Tests","title":"t","fecha":"1/1/2024"}'
  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$data"
  fetch "$PORRIO_URL/hitos" -X POST --data-binary "$new"
  assert_json_ok 201
  porrio_stop

  porrio_start HITOS_FILE="$HITOS_JSON" DATA_DIR="$data"
  fetch "$PORRIO_URL/hitos/2"
  assert_json_ok 200
  run jq -c . <<<"$BODY"
  assert_output "$(jq -c . <<<"$new")"
  fetch "$PORRIO_URL/all"
  run jq -r '.hitos.hitos_lista | length' <<<"$BODY"
  assert_output 3
  run jq -r '.hitos.hitos | has("2.Tests")' <<<"$BODY"
  assert_output true
  # still a conflict after the restart, and the next one is index 3
  fetch "$PORRIO_URL/hitos" -X POST --data-binary "$new"
  assert_json_error 409
  fetch "$PORRIO_URL/hitos" -X POST --data-binary '{"file":"3.Tests","title":"t","fecha":"1/1/2024"}'
  assert_equal "$(header Location)" "/hitos/3"
  porrio_stop
}

# ---- finding and checking HITOS_FILE at start ---------------------------------------------------

@test "HITOS_FILE unset and no file found by the search: starts with an empty list and a warning" {
  [ ! -e /data/hitos.json ] || skip "/data/hitos.json exists on this machine: the search would find it"
  porrio_start DATA_DIR="$BATS_TEST_TMPDIR/data"
  fetch "$PORRIO_URL/all"
  assert_json_ok 200
  run jq -c '.hitos | [(.hitos_lista | length), (.hitos | length)]' <<<"$BODY"
  assert_output '[0,0]'
  fetch "$PORRIO_URL/hitos"
  assert_json_ok 200
  assert_equal "$(jq -c . <<<"$BODY")" "[]"
  fetch "$PORRIO_URL/one/0"
  assert_json_error 404
  # one warning line about it
  run jq -R -c 'fromjson? | objects | select(.level == "warn" and (.msg | test("hitos|milestone"; "i")))' "$PORRIO_LOG"
  assert_success
  [ -n "$output" ] || { porrio_dump; fail "no warning log line about the missing milestones file"; }
  # adding still works, at index 0
  fetch "$PORRIO_URL/hitos" -X POST --data-binary '{"file":"a","title":"t","fecha":"1/1/2024"}'
  assert_json_ok 201
  assert_equal "$(header Location)" "/hitos/0"
  porrio_stop
}

@test "HITOS_FILE unset: ./hitos.json in the working directory is found" {
  export PORRIO_CWD="$BATS_TEST_TMPDIR/cwd"
  mkdir -p "$PORRIO_CWD"
  printf '{"comment":"local","hitos_lista":[{"file":"z","title":"t","fecha":"1/1/2020"}]}\n' >"$PORRIO_CWD/hitos.json"
  porrio_start DATA_DIR="$BATS_TEST_TMPDIR/data"
  fetch "$PORRIO_URL/all"
  run jq -c '[.hitos.comment, (.hitos.hitos_lista | length)]' <<<"$BODY"
  assert_output '["local",1]'
  porrio_stop
}

@test "HITOS_FILE with invalid JSON: exit 2, stderr names the file and the line" {
  local bad="$BATS_TEST_TMPDIR/broken-hitos.json"
  printf '{\n  "comment": "x",\n  "hitos_lista": [\n    {"file": "a", }\n  ]\n}\n' >"$bad"
  porrio_spawn HITOS_FILE="$bad" DATA_DIR="$BATS_TEST_TMPDIR/data"
  porrio_wait_exit "$PORRIO_PID" 50
  assert_equal "$PORRIO_STATUS" 2
  run cat "$PORRIO_ERR"
  assert_output --partial "broken-hitos.json"
  # the error is on line 4
  assert_output --regexp '(broken-hitos\.json:4[^0-9])|(line 4[^0-9])'
}

@test "HITOS_FILE with the wrong shape: exit 2 naming the file" {
  local f i=0 shape
  local shapes=(
    '[]'
    '"text"'
    '{"hitos_lista":[]}'
    '{"comment":"c"}'
    '{"comment":1,"hitos_lista":[]}'
    '{"comment":"c","hitos_lista":{}}'
    '{"comment":"c","hitos_lista":[1]}'
    '{"comment":"c","hitos_lista":[{"file":"a","title":"t"}]}'
    '{"comment":"c","hitos_lista":[{"file":"a","title":"t","fecha":"31/4/2024"}]}'
    '{"comment":"c","hitos_lista":[{"file":"a","title":"t","fecha":"1/1/2024"},{"file":"a","title":"u","fecha":"1/1/2024"}]}'
  )
  for shape in "${shapes[@]}"; do
    f="$BATS_TEST_TMPDIR/shape$i.json"
    printf '%s\n' "$shape" >"$f"
    porrio_spawn HITOS_FILE="$f" DATA_DIR="$BATS_TEST_TMPDIR/data"
    porrio_wait_exit "$PORRIO_PID" 50
    [ "$PORRIO_STATUS" = 2 ] || { porrio_dump; fail "shape $shape: exit $PORRIO_STATUS, expected 2"; }
    grep -q "shape$i.json" "$PORRIO_ERR" || { porrio_dump; fail "shape $shape: stderr does not name the file"; }
    i=$((i + 1))
  done
}

@test "HITOS_FILE set to a file that does not exist: exit 2" {
  porrio_spawn HITOS_FILE="$BATS_TEST_TMPDIR/nope.json" DATA_DIR="$BATS_TEST_TMPDIR/data"
  porrio_wait_exit "$PORRIO_PID" 50
  assert_equal "$PORRIO_STATUS" 2
  run cat "$PORRIO_ERR"
  assert_output --partial "nope.json"
}
