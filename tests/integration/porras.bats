#!/usr/bin/env bats
# The betting pools (porras) against the real binary: the course's PUT /porra/... and GET /porras,
# the resource routes under /porras/{ID} (bets, result, winners, delete), the segment rule of
# IDs, the order of the checks (path 400, exists 404, body 400, state 409), the shape of every
# answer, and the pages of GET /porras?limit=N&after=ID (ID byte order, the Link header, 400 naming
# the parameter) beside the full listing in creation order (README: HTTP API; openapi.json).

load helpers

setup_file() {
  # One server for the whole file (two workers, so requests land on both); each test works on
  # pools of its own.
  porrio_start WORKERS=2 HITOS_FILE="$REPO_ROOT/data/hitos.json" DATA_DIR="$BATS_FILE_TMPDIR/data"
  export SHARED_PID=$PORRIO_PID SHARED_URL=$PORRIO_URL SHARED_PORT=$PORRIO_PORT
}

teardown_file() { porrio_teardown_file "$SHARED_PID"; }

teardown() { porrio_cleanup; }

# ---- local helpers ----------------------------------------------------------------------------

# fetch PATH [CURL_ARGS...]: http_fetch to the shared server, the path sent as written
# (--path-as-is: curl must not squash "." or ".." segments), with the JSON content type on
# bodies.
fetch() { http_fetch "$SHARED_URL$1" --path-as-is -H 'Content-Type: application/json' "${@:2}"; }

# put PATH [BODY]: PUT with BODY (none when omitted).
put() {
  if [ $# -ge 2 ]; then fetch "$1" -X PUT --data-binary "$2"; else fetch "$1" -X PUT; fi
}

# assert_pool JSON ID LOCAL VISITANTE COMPETITION YEAR: JSON is that pool with no bets and no
# result, every field but apuestas/resultado a string.
assert_pool_new() {
  run jq -c --arg id "$2" --arg l "$3" --arg v "$4" --arg c "$5" --arg y "$6" \
    '. == {"ID": $id, "local": $l, "visitante": $v, "competition": $c, "year": $y,
           "apuestas": {}, "resultado": null}' <<<"$1"
  assert_output true
}

# new_pool NAME: creates pool NAME-b-c-2024 (asserting 200) and prints nothing; its ID is NAME-b-c-2024.
new_pool() {
  put "/porra/$1/b/c/2024"
  assert_json_ok 200
}

# head_raw PATH: HEAD PATH on a connection of its own (Connection: close), read until the server
# closes it (at most 5 s). Sets HDRS (the headers, CRs removed), HEAD_STATUS_LINE and
# HEAD_BODY_SIZE (bytes after the blank line that ends the headers).
head_raw() {
  local raw="$BATS_TEST_TMPDIR/head.raw" end size fd
  exec {fd}<>"/dev/tcp/127.0.0.1/$SHARED_PORT"
  printf 'HEAD %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$1" >&"$fd"
  timeout 5 cat <&"$fd" >"$raw" || true
  exec {fd}<&-
  # bytes up to and including the empty line that ends the headers
  end=$(LC_ALL=C awk '{ n += length($0) + 1 } $0 == "\r" { print n; exit }' "$raw")
  [ -n "$end" ] || fail "HEAD $1: no complete header block in: $(cat -v "$raw")"
  size=$(stat -c %s "$raw")
  HEAD_BODY_SIZE=$((size - end))
  HDRS=$(head -c "$end" "$raw" | tr -d '\r')
  HEAD_STATUS_LINE=$(head -n 1 <<<"$HDRS")
}

# reason CODE: the reason phrase the server uses.
reason() {
  case $1 in 200) echo OK ;; 404) echo "Not Found" ;; *) echo "?" ;; esac
}

SCORE21='{"local":2,"visitante":1}'

# ---- pools ------------------------------------------------------------------------------------

@test "PUT /porra/local/visitante/Copa/2013: 200 with the pool and its Location, again 200 with the same body, listed by GET /porras" {
  put /porra/local/visitante/Copa/2013
  assert_json_ok 200
  assert_equal "$(header Location)" /porras/local-visitante-Copa-2013
  assert_pool_new "$BODY" local-visitante-Copa-2013 local visitante Copa 2013
  run jq -r '[.local, .visitante, .competition, .year, .ID] | map(type) | unique | .[]' <<<"$BODY"
  assert_output string
  local first=$BODY

  put /porra/local/visitante/Copa/2013
  assert_json_ok 200
  assert_equal "$(header Location)" /porras/local-visitante-Copa-2013
  assert_equal "$BODY" "$first"

  fetch /porras
  assert_json_ok 200
  run jq -r 'type' <<<"$BODY"
  assert_output array
  run jq -c --argjson p "$first" '[.[] | select(.ID == $p.ID)]' <<<"$BODY"
  assert_output "[$(jq -c . <<<"$first")]"

  fetch /porras/local-visitante-Copa-2013
  assert_json_ok 200
  assert_equal "$(jq -c . <<<"$BODY")" "$(jq -c . <<<"$first")"
}

@test "PUT /porra with a body ignores it; the year stays a string as given (e.g. 0042)" {
  put /porra/Betis/Sevilla/Liga/0042 '{"ignored":true}'
  assert_json_ok 200
  run jq -r '.year' <<<"$BODY"
  assert_output 0042
  run jq -r '.ID' <<<"$BODY"
  assert_output Betis-Sevilla-Liga-0042
}

@test "percent-encoded UTF-8 segments work and the ID holds the decoded text" {
  put /porra/Espa%C3%B1a/Italia/Eurocopa/2012
  assert_json_ok 200
  assert_pool_new "$BODY" "España-Italia-Eurocopa-2012" "España" Italia Eurocopa 2012
  # Location is ASCII: the ID percent-encoded, a path that GET takes as it is
  assert_equal "$(header Location)" /porras/Espa%C3%B1a-Italia-Eurocopa-2012
  # the same pool through its encoded ID, and through the raw UTF-8 bytes
  fetch /porras/Espa%C3%B1a-Italia-Eurocopa-2012
  assert_json_ok 200
  run jq -r .ID <<<"$BODY"
  assert_output "España-Italia-Eurocopa-2012"
  put /porra/España/Italia/Eurocopa/2012
  assert_json_ok 200
  # 4-byte sequences, letters, digits, '_' and '.' (not only dots)
  put /porra/%F0%9F%98%80/K%C3%B6ln/a_b.c/.1
  assert_json_ok 200
  assert_equal "$(header Location)" /porras/%F0%9F%98%80-K%C3%B6ln-a_b.c-.1
  run jq -r .ID <<<"$BODY"
  assert_output "😀-Köln-a_b.c-.1"
  # 64 characters is the limit, whatever their size: 64 ASCII, 64 two-byte, 64 four-byte ones
  local a64 n64 e64
  a64=$(printf 'a%.0s' {1..64})
  n64=$(printf '%%C3%%B1%.0s' {1..64})
  e64=$(printf '%%F0%%9F%%98%%80%.0s' {1..64})
  put "/porra/$a64/$n64/$e64/2024"
  assert_json_ok 200
  run jq -r '[.local, .visitante, .competition] | map("\(length):\(utf8bytelength)") | @csv' <<<"$BODY"
  assert_output '"64:64","64:128","64:256"'
}

@test "a bad segment in PUT /porra: 400 naming the segment" {
  local a65 n65 e65 before
  fetch /porras
  before=$(jq length <<<"$BODY")
  a65=$(printf 'a%.0s' {1..65})
  n65=$(printf '%%C3%%B1%.0s' {1..65})
  e65=$(printf '%%F0%%9F%%98%%80%.0s' {1..65})
  # bad segment value | any three good ones around it
  local bad=(
    'a-b' '%2D' '-' '.' '..' '...' "$a65" "$n65" "$e65" '%C3' '%C3%28' '%C0%AF' '%ED%A0%80' '%F4%90%80%80'
    '%FF' 'a%20b' '%20' 'a!b' 'a%2Fb' 'a+b' "a'b" 'a%22b' 'a%5Cb' 'a%0Ab'
  )
  # each value in one position, the positions taken in turn
  local names=(local visitante competition year) i=0 k segs path
  for ((i = 0; i < ${#bad[@]}; i++)); do
    k=$((i % 4))
    segs=(L V C 2024)
    segs[k]=${bad[i]}
    path="/porra/${segs[0]}/${segs[1]}/${segs[2]}/${segs[3]}"
    put "$path"
    [ "$STATUS" = 400 ] || fail "PUT $path: status $STATUS, expected 400 ($BODY)"
    assert_json_error 400 "${names[k]}"
  done
  # a '-' in every position
  for k in 0 1 2 3; do
    segs=(L V C 2024)
    segs[k]=x-y
    put "/porra/${segs[0]}/${segs[1]}/${segs[2]}/${segs[3]}"
    assert_json_error 400 "${names[k]}"
  done
  # nothing was created by any of them
  fetch /porras
  assert_equal "$(jq length <<<"$BODY")" "$before"
}

@test "malformed percent-encoding (%zz, %C, %, %00) in a segment: 400 JSON" {
  local seg
  for seg in '%zz' '%C' '%' 'a%g1' 'a%00b'; do
    put "/porra/$seg/b/c/d"
    assert_json_error 400
  done
}

@test "wrong number of segments: 404 JSON" {
  put /porra/a/b/c
  assert_json_error 404
  put /porra/a/b/c/d/e
  assert_json_error 404
  put /porra/a//c/d
  [ "$STATUS" = 400 ] || [ "$STATUS" = 404 ] || fail "empty segment: status $STATUS"
  assert_json_error "$STATUS"
}

@test "GET /porras/{ID}: 200 the pool; a well-formed unknown ID 404" {
  new_pool getone
  fetch /porras/getone-b-c-2024
  assert_json_ok 200
  assert_pool_new "$BODY" getone-b-c-2024 getone b c 2024
  local id
  for id in nope-b-c-2024 getone-b-c-2025 Getone-b-c-2024 getone-b-c-2024.; do
    fetch "/porras/$id"
    [ "$STATUS" = 404 ] || fail "GET /porras/$id: status $STATUS, expected 404 ($BODY)"
    assert_json_error 404
  done
}

@test "a malformed pool ID: 400 naming ID and its rule, on /porras/{ID} and every route under it, before the body" {
  new_pool badid
  local id
  for id in getone-b-c getone a--b - badid-b-c-2024-x 'a%20b' '...' 'a-b-c-%2E%2E' 'a-b-c-d%2Fe' 'a-b-c-%C3'     "$(printf 'a%.0s' {1..65})-b-c-d"; do
    fetch "/porras/$id"
    [ "$STATUS" = 400 ] || fail "GET /porras/$id: status $STATUS, expected 400 ($BODY)"
    assert_json_error 400 "ID: must be local-visitante-competition-year"
    fetch "/porras/$id" -X DELETE
    assert_json_error 400 "ID:"
    put "/porras/$id/apuestas/ana" '{'
    assert_json_error 400 "ID:"
    put "/porras/$id/resultado" "$SCORE21"
    assert_json_error 400 "ID:"
    fetch "/porras/$id/ganadores"
    assert_json_error 400 "ID:"
  done
  # nothing happened to the pool that is there
  fetch /porras/badid-b-c-2024
  assert_json_ok 200
  assert_pool_new "$BODY" badid-b-c-2024 badid b c 2024
}

# ---- bets -------------------------------------------------------------------------------------

@test "bets: 201 new, 200 replaced; quien may hold '-'; the pool shows them" {
  new_pool bets
  local id=bets-b-c-2024
  put "/porras/$id/apuestas/ana" "$SCORE21"
  assert_json_ok 201
  put "/porras/$id/apuestas/ana" '{"local":0,"visitante":0}'
  assert_json_ok 200
  put "/porras/$id/apuestas/jos%C3%A9-luis" '{"local":99,"visitante":0}'
  assert_json_ok 201
  put /porras/$id/apuestas/-- '{"local":1,"visitante":1}'
  assert_json_ok 201

  fetch "/porras/$id"
  assert_json_ok 200
  run jq -c '.apuestas' <<<"$BODY"
  assert_output '{"ana":{"local":0,"visitante":0},"josé-luis":{"local":99,"visitante":0},"--":{"local":1,"visitante":1}}'
  run jq -c '.resultado' <<<"$BODY"
  assert_output null
  # the listing shows the same
  fetch /porras
  run jq -c --arg id "$id" '.[] | select(.ID == $id) | .apuestas | keys' <<<"$BODY"
  assert_output '["--","ana","josé-luis"]'
}

@test "a bad quien: 400 naming quien, even on an unknown pool and with a bad body" {
  new_pool quien
  local a65 q
  a65=$(printf 'q%.0s' {1..65})
  for q in '...' '.' 'a%20b' 'a!b' "$a65" '%C3' 'a%2Fb'; do
    put "/porras/quien-b-c-2024/apuestas/$q" "$SCORE21"
    [ "$STATUS" = 400 ] || fail "quien $q: status $STATUS, expected 400 ($BODY)"
    assert_json_error 400 quien
    # path first: before "exists" and "body"
    put "/porras/nope-b-c-2024/apuestas/$q" '{'
    assert_json_error 400 quien
  done
  fetch /porras/quien-b-c-2024
  run jq -c .apuestas <<<"$BODY"
  assert_output '{}'
}

@test "order of the checks: unknown pool 404 even with a bad body; body 400 before state 409" {
  local body
  for body in '{' '' '{"local":"x"}' "$SCORE21"; do
    put /porras/nope-b-c-2024/apuestas/ana "$body"
    assert_json_error 404
    put /porras/nope-b-c-2024/resultado "$body"
    assert_json_error 404
  done
  fetch /porras/nope-b-c-2024/ganadores
  assert_json_error 404
  fetch /porras/nope-b-c-2024 -X DELETE
  assert_json_error 404

  new_pool order
  put /porras/order-b-c-2024/resultado "$SCORE21"
  assert_json_ok 200
  # closed: a bad body is still a 400, a good one a 409
  put /porras/order-b-c-2024/apuestas/ana '{"local":1}'
  assert_json_error 400 visitante
  put /porras/order-b-c-2024/apuestas/ana "$SCORE21"
  assert_json_error 409
}

@test "a bad bet or result body: 400 naming the field" {
  new_pool body
  # body | word the message must name
  local cases=(
    '{|body'
    '{"local":2,"visitante":1|body'
    '|body'
    '[2,1]|body'
    '"2-1"|body'
    'null|body'
    '{"local":"2","visitante":1}|local'
    '{"local":2,"visitante":"1"}|visitante'
    '{"local":-1,"visitante":1}|local'
    '{"local":2,"visitante":-1}|visitante'
    '{"local":100,"visitante":1}|local'
    '{"local":2,"visitante":100}|visitante'
    '{"local":1.5,"visitante":1}|local'
    '{"local":2.0,"visitante":1}|local'
    '{"local":1e1,"visitante":1}|local'
    '{"local":true,"visitante":1}|local'
    '{"local":null,"visitante":1}|local'
    '{"local":[2],"visitante":1}|local'
    '{"visitante":1}|local'
    '{"local":2}|visitante'
    '{}|local'
    '{"local":2,"visitante":1,"extra":0}|extra'
    '{"local":2,"visitante":1,"local":3}|local'
  )
  # every case on a bet; every other one on the result too (the same rule)
  local c b w route i
  for ((i = 0; i < ${#cases[@]}; i++)); do
    c=${cases[i]} b=${c%|*} w=${c##*|}
    for route in apuestas/ana resultado; do
      [ "$route" = apuestas/ana ] || ((i % 2 == 0)) || continue
      put "/porras/body-b-c-2024/$route" "$b"
      [ "$STATUS" = 400 ] || fail "PUT $route $b: status $STATUS, expected 400 ($BODY)"
      assert_json_error 400 "$w"
    done
  done
  # an integer too big for the JSON parser: 400 (the message names the body, not the field)
  put /porras/body-b-c-2024/apuestas/ana '{"local":99999999999999999999,"visitante":1}'
  assert_json_error 400
  # nothing changed
  fetch /porras/body-b-c-2024
  assert_pool_new "$BODY" body-b-c-2024 body b c 2024
  # the limits themselves are fine
  put /porras/body-b-c-2024/apuestas/ana '{"local":0,"visitante":99}'
  assert_json_ok 201
}

# ---- result and winners -------------------------------------------------------------------------

@test "the course's sequence: bets, no winners yet (409), result, winners, closed betting, correction" {
  new_pool seq
  local id=seq-b-c-2024
  put "/porras/$id/apuestas/ana" "$SCORE21"
  assert_json_ok 201
  put "/porras/$id/apuestas/bea" '{"local":0,"visitante":0}'
  assert_json_ok 201
  put "/porras/$id/apuestas/carlos-m" "$SCORE21"
  assert_json_ok 201

  fetch "/porras/$id/ganadores"
  assert_json_error 409

  put "/porras/$id/resultado" "$SCORE21"
  assert_json_ok 200
  run jq -c '[.ID, .resultado, (.apuestas | keys)]' <<<"$BODY"
  assert_output '["seq-b-c-2024","2-1",["ana","bea","carlos-m"]]'
  run jq -r '.resultado | type' <<<"$BODY"
  assert_output string

  fetch "/porras/$id/ganadores"
  assert_json_ok 200
  run jq -c '{resultado, ganadores: (.ganadores | sort)}' <<<"$BODY"
  assert_output '{"resultado":"2-1","ganadores":["ana","carlos-m"]}'
  run jq -c 'keys' <<<"$BODY"
  assert_output '["ganadores","resultado"]'

  # betting is closed: new bets and replacements
  put "/porras/$id/apuestas/dani" "$SCORE21"
  assert_json_error 409
  put "/porras/$id/apuestas/bea" "$SCORE21"
  assert_json_error 409
  fetch "/porras/$id"
  run jq -c '.apuestas.bea' <<<"$BODY"
  assert_output '{"local":0,"visitante":0}'

  # a correction: the winners follow
  put "/porras/$id/resultado" '{"local":0,"visitante":0}'
  assert_json_ok 200
  run jq -r .resultado <<<"$BODY"
  assert_output 0-0
  fetch "/porras/$id/ganadores"
  assert_json_ok 200
  run jq -c . <<<"$BODY"
  assert_output '{"resultado":"0-0","ganadores":["bea"]}'

  # nobody right: an empty list
  put "/porras/$id/resultado" '{"local":7,"visitante":7}'
  assert_json_ok 200
  fetch "/porras/$id/ganadores"
  run jq -c . <<<"$BODY"
  assert_output '{"resultado":"7-7","ganadores":[]}'
}

@test "a result on a pool without bets: winners is an empty list" {
  new_pool nobets
  put /porras/nobets-b-c-2024/resultado '{"local":10,"visitante":0}'
  assert_json_ok 200
  fetch /porras/nobets-b-c-2024/ganadores
  assert_json_ok 200
  run jq -c . <<<"$BODY"
  assert_output '{"resultado":"10-0","ganadores":[]}'
}

# ---- delete -------------------------------------------------------------------------------------

@test "DELETE /porras/{ID}: 204 with no body; again 404; gone from everywhere; can be created anew" {
  new_pool del
  put /porras/del-b-c-2024/apuestas/ana "$SCORE21"
  fetch /porras/del-b-c-2024 -X DELETE
  assert_status 204
  assert_equal "$BODY_SIZE" 0
  [ -z "$(header Content-Type)" ] || fail "204 with a Content-Type: $(header Content-Type)"
  local cl
  cl=$(header Content-Length)
  [ -z "$cl" ] || [ "$cl" = 0 ] || fail "204 with Content-Length $cl"

  fetch /porras/del-b-c-2024 -X DELETE
  assert_json_error 404
  fetch /porras/del-b-c-2024
  assert_json_error 404
  fetch /porras/del-b-c-2024/ganadores
  assert_json_error 404
  put /porras/del-b-c-2024/apuestas/ana "$SCORE21"
  assert_json_error 404
  fetch /porras
  run jq -r '[.[] | select(.ID == "del-b-c-2024")] | length' <<<"$BODY"
  assert_output 0

  # created again: a fresh pool, the old bets are gone
  put /porra/del/b/c/2024
  assert_json_ok 200
  assert_pool_new "$BODY" del-b-c-2024 del b c 2024
}

# ---- methods, HEAD, unknown paths ---------------------------------------------------------------

@test "wrong method: 405 JSON with the Allow header" {
  new_pool meth
  local id=meth-b-c-2024
  # method path allow
  local cases=(
    "GET|/porra/a/b/c/d|PUT, OPTIONS"
    "POST|/porra/a/b/c/d|PUT, OPTIONS"
    "DELETE|/porra/a/b/c/d|PUT, OPTIONS"
    "POST|/porras|GET, HEAD, OPTIONS"
    "PUT|/porras|GET, HEAD, OPTIONS"
    "DELETE|/porras|GET, HEAD, OPTIONS"
    "POST|/porras/$id|GET, HEAD, DELETE, OPTIONS"
    "PUT|/porras/$id|GET, HEAD, DELETE, OPTIONS"
    "GET|/porras/$id/apuestas/ana|PUT, OPTIONS"
    "DELETE|/porras/$id/apuestas/ana|PUT, OPTIONS"
    "GET|/porras/$id/resultado|PUT, OPTIONS"
    "POST|/porras/$id/resultado|PUT, OPTIONS"
    "PUT|/porras/$id/ganadores|GET, HEAD, OPTIONS"
    "DELETE|/porras/$id/ganadores|GET, HEAD, OPTIONS"
  )
  local c m p a
  for c in "${cases[@]}"; do
    IFS='|' read -r m p a <<<"$c"
    fetch "$p" -X "$m" --data-binary "$SCORE21"
    [ "$STATUS" = 405 ] || fail "$m $p: status $STATUS, expected 405 ($BODY)"
    assert_json_error 405
    assert_equal "$(header Allow)" "$a"
  done
  # none of them changed the pool
  fetch "/porras/$id"
  assert_pool_new "$BODY" "$id" meth b c 2024
}

@test "HEAD /porras, /porras/{ID}, /porras/{ID}/ganadores: GET's status and headers, no body" {
  new_pool head
  put /porras/head-b-c-2024/resultado "$SCORE21"
  local path raw get_len
  for path in /porras /porras/head-b-c-2024 /porras/head-b-c-2024/ganadores /porras/nope-b-c-2024; do
    fetch "$path"
    local get_status=$STATUS get_type
    get_len=$(header Content-Length)
    get_type=$(header Content-Type)
    assert_equal "$get_len" "$BODY_SIZE"
    head_raw "$path"
    assert_equal "$HEAD_STATUS_LINE" "HTTP/1.1 $get_status $(reason "$get_status")"
    assert_equal "$HEAD_BODY_SIZE" 0
    assert_equal "$(header Content-Length)" "$get_len"
    assert_equal "$(header Content-Type)" "$get_type"
    [ -n "$(header X-Request-Id)" ] || fail "HEAD $path: no X-Request-Id"
  done
}

@test "unknown paths under /porras and /porra: 404 JSON" {
  local p
  for p in /porras/x/apuestas /porras/x/apuestas/a/b /porras/x/y /porra /porrass /porras/x/resultado/y; do
    fetch "$p"
    [ "$STATUS" = 404 ] || fail "GET $p: status $STATUS, expected 404 ($BODY)"
    assert_json_error 404
  done
}

@test "a pool created through one connection is seen at once through others (both workers)" {
  local i code
  put /porra/shared/b/c/2024
  assert_json_ok 200
  for i in 1 2 3 4 5 6; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$SHARED_URL/porras/shared-b-c-2024")
    assert_equal "$code" 200
  done
}

# ---- pagination: GET /porras?limit=N&after=ID ----------------------------------------------------
# Most of these start a server of their own (a fresh DATA_DIR), so that the set of pools is
# exactly the test's.

# own_server: a server of this test's own, two workers; PORRIO_URL/PORRIO_PORT name it.
own_server() {
  porrio_start WORKERS=2 HITOS_FILE="$REPO_ROOT/data/hitos.json" DATA_DIR="$BATS_TEST_TMPDIR/own"
}

# ofetch PATH [CURL_ARGS...]: http_fetch to the test's own server, the path as written.
ofetch() { http_fetch "$PORRIO_URL$1" --path-as-is "${@:2}"; }

# writes FILE: sends every line of FILE ("METHOD PATH [BODY]", PATH percent-encoded) to the test's
# own server, in order, pipelined on one connection (so creation order is line order, and
# concurrent writes share fsyncs); fails unless every answer is 2xx.
writes() {
  timeout 60 "$PYTHON" - "$PORRIO_PORT" "$1" <<'PY'
import socket, sys
port, lines = int(sys.argv[1]), [l.split(" ", 2) for l in open(sys.argv[2], encoding="utf-8").read().splitlines() if l]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
f = s.makefile("rb")
for at in range(0, len(lines), 64):
    batch = lines[at:at + 64]
    out = b""
    for w in batch:
        body = w[2].encode() if len(w) > 2 else b""
        out += ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                % (w[0], w[1], len(body))).encode() + body
    s.sendall(out)
    for w in batch:
        status = int(f.readline().split()[1])
        length = 0
        while True:
            h = f.readline()
            if h in (b"\r\n", b""):
                break
            if h.lower().startswith(b"content-length:"):
                length = int(h.split(b":", 1)[1])
        f.read(length)
        if not 200 <= status < 300:
            sys.exit("%s %s: status %d" % (w[0], w[1], status))
PY
}

# pages LIMIT [FIRST]: walks GET /porras?limit=LIMIT (or FIRST, a path) of the test's own server
# through the Link headers, each followed verbatim (one Python client, so that a walk of 26 pages
# costs one process). Checks each page: 200 with the JSON type, Content-Length the body's length,
# at most LIMIT pools, a Link exactly when the page is full and more follow, of the form
# </porras?limit=LIMIT&after=ID>; rel="next" with ID the page's last, percent-encoded but for
# unreserved bytes. Sets PAGES (every page's pools in order, one JSON array) and NPAGES.
pages() {
  local out
  out=$(timeout 60 "$PYTHON" - "$PORRIO_PORT" "$1" "${2:-/porras?limit=$1}" <<'PY'
import http.client, json, sys, urllib.parse
port, limit, url = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
pools, n = [], 0
while True:
    c.request("GET", url)
    r = c.getresponse()
    body = r.read()
    n += 1
    where = "GET %s (page %d)" % (url, n)
    if r.status != 200 or r.getheader("Content-Type") != "application/json; charset=utf-8":
        sys.exit("%s: %d %s %r" % (where, r.status, r.getheader("Content-Type"), body[:300]))
    if int(r.getheader("Content-Length")) != len(body):
        sys.exit("%s: Content-Length %s, body %d bytes" % (where, r.getheader("Content-Length"), len(body)))
    page = json.loads(body)
    if len(page) > limit:
        sys.exit("%s: %d pools, more than %d" % (where, len(page), limit))
    pools += page
    link = r.getheader("Link")
    if link is None:
        break
    if len(page) != limit:
        sys.exit("%s: a Link on a page of %d pools: %s" % (where, len(page), link))
    want = '</porras?limit=%d&after=%s>; rel="next"' % (limit, urllib.parse.quote(page[-1]["ID"], safe="-._~"))
    if link != want:
        sys.exit("%s: Link %r, expected %r" % (where, link, want))
    url = link[1:link.index(">")]
    if n > 5000:
        sys.exit("more than 5000 pages")
print(n)
print(json.dumps(pools, ensure_ascii=False, separators=(",", ":")))
PY
  ) || fail "$out"
  NPAGES=$(head -n 1 <<<"$out")
  PAGES=$(tail -n +2 <<<"$out")
}

# byte_order: the IDs of a JSON array of pools on stdin sorted by their bytes, as a JSON array.
byte_order() { jq -r '.[].ID' | LC_ALL=C sort | jq -R -s -c 'split("\n") | map(select(length > 0))'; }

@test "pages of GET /porras?limit=N: every pool exactly once, in ID byte order (non-ASCII IDs too); a Link until the last page, followed verbatim" {
  own_server
  local a64 e64 p
  a64=$(printf 'a%.0s' {1..64})
  e64=$(printf '%%F0%%9F%%98%%80%.0s' {1..64}) # 64 characters of 4-byte UTF-8
  # 27 pools, created out of order: case, digits, '_', '.', prefixes, 2-, 3- and 4-byte UTF-8,
  # the longest IDs (1027 bytes; 3075 characters in a Link, percent-encoded)
  for p in z/b/c/d a/b/c/10 a/b/c/2 a/b/c/1 a/b/c/d a0/b/c/d a.x/b/c/d A/b/c/d B/b/c/d Z/z/z/z _/b/c/d \
    .5/b/c/d 0/b/c/d 9/b/c/d Espa%C3%B1a/Italia/Eurocopa/2012 Espa%C3%B1ol/b/c/d Espana/b/c/d \
    K%C3%B6ln/b/c/d %CE%A9/b/c/d %C3%B1/b/c/d %F0%9F%98%80/b/c/d %EF%BD%9A/b/c/d zz/b/c/d \
    x/%C3%B1/c/d x/n/c/d "$a64/$a64/$a64/$a64" "$e64/$e64/$e64/$e64"; do
    echo "PUT /porra/$p"
  done >"$BATS_TEST_TMPDIR/w"
  writes "$BATS_TEST_TMPDIR/w"
  ofetch /porras
  assert_json_ok 200
  local full=$BODY want sorted
  assert_equal "$(jq length <<<"$full")" 27
  want=$(byte_order <<<"$full")
  # jq compares strings by their bytes too: the pools in byte order, whole
  sorted=$(jq -c 'sort_by(.ID)' <<<"$full")
  assert_equal "$(jq -c '[.[].ID]' <<<"$sorted")" "$want"
  assert_equal "$(jq -r '.[0].ID, .[-2].ID' <<<"$sorted" | tr '\n' ' ')" ".5-b-c-d 😀-b-c-d "
  assert_equal "$(jq -r '.[-1].ID | utf8bytelength' <<<"$sorted")" 1027

  local limit
  for limit in 1 2 7 13 26 27 28 1000; do
    pages "$limit"
    assert_equal "$PAGES" "$sorted"
    assert_equal "$NPAGES" $(((27 + limit - 1) / limit))
  done
  # a page's pools are the listing's, whole (bets and result too)
  printf '%s\n' 'PUT /porras/%C3%B1-b-c-d/apuestas/ana {"local":1,"visitante":2}' \
    'PUT /porras/%C3%B1-b-c-d/resultado {"local":1,"visitante":2}' >"$BATS_TEST_TMPDIR/w2"
  writes "$BATS_TEST_TMPDIR/w2"
  ofetch /porras
  sorted=$(jq -c 'sort_by(.ID)' <<<"$BODY")
  pages 4
  assert_equal "$PAGES" "$sorted"
  assert_equal "$(jq -c '.[] | select(.ID == "ñ-b-c-d") | [.apuestas, .resultado]' <<<"$PAGES")" '[{"ana":{"local":1,"visitante":2}},"1-2"]'
  porrio_stop
}

@test "limit: 0, 1001, -1, abc, 1.5, empty, 1e3, +5, 0x10, ' 5', huge, given twice: 400 naming limit; 1 and 1000 are fine" {
  local l
  for l in 0 1001 -1 abc 1.5 '' 1e3 %2B5 0x10 %205 99999999999999999999 '1&limit=2' 5%00; do
    fetch "/porras?limit=$l"
    [ "$STATUS" = 400 ] || fail "limit=$l: status $STATUS, expected 400 ($BODY)"
    assert_json_error 400 limit
    [ -z "$(header Link)" ] || fail "limit=$l: a Link on an error"
  done
  fetch /porras?limit
  assert_json_error 400 limit
  # the bounds themselves, on the shared server (the other tests' pools, and two of this one's)
  local total
  new_pool limit1
  new_pool limit2
  fetch /porras
  total=$(jq length <<<"$BODY")
  fetch "/porras?limit=1"
  assert_json_ok 200
  assert_equal "$(jq length <<<"$BODY")" 1
  [ -n "$(header Link)" ] || fail "limit=1 of $total pools: no Link"
  fetch "/porras?limit=1000"
  assert_json_ok 200
  assert_equal "$(jq length <<<"$BODY")" "$((total < 1000 ? total : 1000))"
  # leading zeros are an integer too
  fetch "/porras?limit=001"
  assert_json_ok 200
  assert_equal "$(jq length <<<"$BODY")" 1
}

@test "after that is not a pool ID: 400 naming after (with or without limit)" {
  local a65 a
  a65=$(printf 'a%.0s' {1..65})
  for a in abc a-b-c a-b-c-d-e a-b-c- -a-b-c a--b-c '' %ZZ %00 a%00-b-c-d 'a%20b-c-d-e' "$a65-b-c-d" \
    ...-b-c-d a%2Fb-c-d-e '%C3-b-c-d' 'a-b-c-d&after=a-b-c-d'; do
    fetch "/porras?after=$a"
    [ "$STATUS" = 400 ] || fail "after=$a: status $STATUS, expected 400 ($BODY)"
    assert_json_error 400 after
  done
  for a in abc a--b-c %ZZ; do
    fetch "/porras?limit=5&after=$a"
    assert_json_error 400 after
  done
}

@test "after a deleted or a nonexistent ID: the page starts at the next ID in byte order; after the last: [] with no Link" {
  own_server
  printf 'PUT /porra/a/b/c/%s\n' 1 3 5 7 >"$BATS_TEST_TMPDIR/w"
  echo "DELETE /porras/a-b-c-3" >>"$BATS_TEST_TMPDIR/w"
  writes "$BATS_TEST_TMPDIR/w"
  local c a want
  for c in "a-b-c-3|a-b-c-5 a-b-c-7" "a-b-c-4|a-b-c-5 a-b-c-7" "a-b-c-0|a-b-c-1 a-b-c-5 a-b-c-7" \
    "A-b-c-d|a-b-c-1 a-b-c-5 a-b-c-7" "a-b-c-1|a-b-c-5 a-b-c-7" "a-b-c-7|" "z-z-z-z|" "a-b-c-10|a-b-c-5 a-b-c-7"; do
    a=${c%|*} want=${c#*|}
    ofetch "/porras?after=$a&limit=1000"
    assert_json_ok 200
    assert_equal "$(jq -r '[.[].ID] | join(" ")' <<<"$BODY")" "$want"
    [ -z "$(header Link)" ] || fail "after=$a: a Link on the last page: $(header Link)"
  done
  # a page of one after the deleted ID: a Link to go on from the one it holds
  ofetch "/porras?after=a-b-c-3&limit=1"
  assert_equal "$(jq -r '[.[].ID] | join(" ")' <<<"$BODY")" a-b-c-5
  assert_equal "$(header Link)" '</porras?limit=1&after=a-b-c-5>; rel="next"'
  porrio_stop
}

@test "after alone pages by 100; limit alone starts at the first ID; HEAD of a page: GET's status, headers (Link, Content-Length) and no body" {
  own_server
  local i
  for i in $(seq -w 1 150); do echo "PUT /porra/p$i/b/c/2024"; done >"$BATS_TEST_TMPDIR/w"
  writes "$BATS_TEST_TMPDIR/w"
  ofetch "/porras?after=0-0-0-0"
  assert_json_ok 200
  assert_equal "$(jq length <<<"$BODY")" 100
  assert_equal "$(jq -r '.[0].ID, .[-1].ID' <<<"$BODY" | tr '\n' ' ')" "p001-b-c-2024 p100-b-c-2024 "
  assert_equal "$(header Link)" '</porras?limit=100&after=p100-b-c-2024>; rel="next"'
  local first=$BODY
  ofetch "/porras?after=0-0-0-0&limit=100"
  assert_equal "$BODY" "$first"
  ofetch "/porras?limit=100"
  assert_equal "$BODY" "$first"
  pages 100 "/porras?after=0-0-0-0"
  assert_equal "$NPAGES" 2
  assert_equal "$(jq length <<<"$PAGES")" 150

  # HEAD: same status line, Content-Length, Content-Type and Link as GET, no body (head_raw
  # speaks to $SHARED_PORT: here, this test's server)
  local SHARED_PORT=$PORRIO_PORT path get_len get_link get_type
  for path in "/porras?limit=100" "/porras?after=p100-b-c-2024" "/porras?limit=7&after=p007-b-c-2024" \
    "/porras?limit=0" "/porras?after=x"; do
    ofetch "$path"
    local get_status=$STATUS
    get_len=$(header Content-Length) get_link=$(header Link) get_type=$(header Content-Type)
    assert_equal "$get_len" "$BODY_SIZE"
    head_raw "$path"
    [[ $HEAD_STATUS_LINE == "HTTP/1.1 $get_status "* ]] || fail "HEAD $path: $HEAD_STATUS_LINE, GET: $get_status"
    assert_equal "$HEAD_BODY_SIZE" 0
    assert_equal "$(header Content-Length)" "$get_len"
    assert_equal "$(header Content-Type)" "$get_type"
    assert_equal "$(header Link)" "$get_link"
  done
  porrio_stop
}

@test "GET /porras without parameters is unchanged: every pool in creation order (a pool made again goes last), no Link; unknown parameters change nothing" {
  own_server
  local p
  for p in z/b/c/d m/b/c/d %CE%A9/b/c/d B/b/c/d a/b/c/d; do echo "PUT /porra/$p"; done >"$BATS_TEST_TMPDIR/w"
  printf '%s\n' "DELETE /porras/m-b-c-d" "PUT /porra/m/b/c/d" \
    'PUT /porras/a-b-c-d/apuestas/ana {"local":1,"visitante":0}' >>"$BATS_TEST_TMPDIR/w"
  writes "$BATS_TEST_TMPDIR/w"
  ofetch /porras
  assert_json_ok 200
  assert_equal "$(jq -c '[.[].ID]' <<<"$BODY")" '["z-b-c-d","Ω-b-c-d","B-b-c-d","a-b-c-d","m-b-c-d"]'
  assert_equal "$(jq -c '.[3].apuestas' <<<"$BODY")" '{"ana":{"local":1,"visitante":0}}'
  [ -z "$(header Link)" ] || fail "a Link on the full listing: $(header Link)"
  assert_equal "$(header Content-Length)" "$BODY_SIZE"
  local full=$BODY
  for p in "/porras?" "/porras?foo=1" "/porras?Limit=1" "/porras?after" ; do
    ofetch "$p"
    if [ "$p" = "/porras?after" ]; then
      assert_json_error 400 after
      continue
    fi
    assert_json_ok 200
    assert_equal "$BODY" "$full"
  done
  porrio_stop
}

@test "2,000 pools: Content-Length is the body's length (full listing, pages, HEAD); pages of 1000 and 999 cover them all" {
  own_server
  local i
  for i in $(seq 1 2000); do
    echo "PUT /porra/equipo$i/rival/Liga/2024"
    ((i % 10 == 0)) && echo "PUT /porras/equipo$i-rival-Liga-2024/apuestas/jos%C3%A9 {\"local\":$((i % 100)),\"visitante\":1}"
  done >"$BATS_TEST_TMPDIR/w"
  writes "$BATS_TEST_TMPDIR/w"
  ofetch /porras
  assert_json_ok 200
  assert_equal "$(header Content-Length)" "$BODY_SIZE"
  [ "$BODY_SIZE" -gt 200000 ] || fail "only $BODY_SIZE bytes"
  assert_equal "$(jq length <<<"$BODY")" 2000
  # creation order
  assert_equal "$(jq -r '.[].local' <<<"$BODY" | sed 's/equipo//' | tr '\n' ' ')" "$(seq 1 2000 | tr '\n' ' ')"
  assert_equal "$(jq '[.[] | select(.apuestas | length == 1)] | length' <<<"$BODY")" 200
  local sorted len
  sorted=$(jq -c 'sort_by(.ID)' <<<"$BODY")
  len=$(header Content-Length)
  local SHARED_PORT=$PORRIO_PORT
  head_raw /porras
  assert_equal "$(header Content-Length)" "$len"
  assert_equal "$HEAD_BODY_SIZE" 0

  pages 1000
  assert_equal "$NPAGES" 2
  assert_equal "$PAGES" "$sorted"
  pages 999
  assert_equal "$NPAGES" 3
  assert_equal "$PAGES" "$sorted"
  ofetch "/porras?limit=1000"
  assert_equal "$(header Content-Length)" "$BODY_SIZE"
  porrio_stop
}
