#!/usr/bin/env bats
# The HTTP conventions of the README (HTTP conventions): OPTIONS and CORS, entity tags with
# If-None-Match (304) and If-Match (412), gzip for answers over 1 KiB.
load helpers

ORIGIN=https://a.example

setup_file() {
  export DATA="$BATS_FILE_TMPDIR/data"
  porrio_start WORKERS=2 DATA_DIR="$DATA" HITOS_FILE="$REPO_ROOT/data/hitos.json" \
    CORS_ORIGINS="$ORIGIN,http://localhost:8080"
}

teardown_file() {
  porrio_teardown_file
}

POOL=Betis-Sevilla-Liga-2017
SCORE10='{"local": 1, "visitante": 0}'

# new_pool NAME: creates NAME-b-c-2024 and prints its ETag.
new_pool() {
  http_fetch "$PORRIO_URL/porra/$1/b/c/2024" -X PUT
  header ETag
}

# assert_vary TOKEN...: the answer's Vary lists every TOKEN.
assert_vary() {
  local t
  for t in "$@"; do
    [[ ", $(header Vary), " == *", $t, "* ]] || fail "Vary '$(header Vary)' does not list $t"
  done
}

# body_bytes URL [CURL_ARGS...]: how many body bytes an answer had (curl leaves no file for none).
body_bytes() { curl -s -o /dev/null -w '%{size_download}' --max-time 5 "$@"; }

# big_listing: enough pools for GET /porras to pass 1 KiB.
big_listing() {
  local i
  for i in $(seq 1 12); do curl -s -o /dev/null --max-time 5 -X PUT "$PORRIO_URL/porra/big$i/b/c/2024"; done
}

# ---- OPTIONS and CORS ---------------------------------------------------------------------------

@test "OPTIONS on a route: 204 with Allow; on an unknown path: 404; 405 lists OPTIONS too" {
  http_fetch "$PORRIO_URL/porras/x-y-z-1" -X OPTIONS
  assert_status 204
  assert_equal "$(header Allow)" "GET, HEAD, DELETE, OPTIONS"
  assert_equal "$(body_bytes "$PORRIO_URL/porras/x-y-z-1" -X OPTIONS)" 0
  http_fetch "$PORRIO_URL/porras/x-y-z-1/apuestas/ana" -X OPTIONS
  assert_status 204
  assert_equal "$(header Allow)" "PUT, OPTIONS"
  http_fetch "$PORRIO_URL/no/such/path" -X OPTIONS
  assert_json_error 404
  http_fetch "$PORRIO_URL/porras" -X DELETE
  assert_json_error 405
  assert_equal "$(header Allow)" "GET, HEAD, OPTIONS"
}

@test "a preflight from an allowed origin gets the CORS headers; from another origin none" {
  http_fetch "$PORRIO_URL/porras/$POOL/resultado" -X OPTIONS -H "Origin: $ORIGIN" \
    -H 'Access-Control-Request-Method: PUT' -H 'Access-Control-Request-Headers: if-match, content-type'
  assert_status 204
  assert_equal "$(header Access-Control-Allow-Origin)" "$ORIGIN"
  assert_equal "$(header Access-Control-Allow-Methods)" "PUT, OPTIONS"
  local h
  for h in Content-Type Authorization If-Match If-None-Match; do
    [[ ", $(header Access-Control-Allow-Headers), " == *", $h, "* ]] || fail "no $h in $(header Access-Control-Allow-Headers)"
  done
  assert_equal "$(header Access-Control-Max-Age)" 600
  assert_equal "$(header Vary)" Origin
  http_fetch "$PORRIO_URL/porras/$POOL/resultado" -X OPTIONS -H 'Origin: https://evil.example' \
    -H 'Access-Control-Request-Method: PUT'
  assert_status 204
  run grep -ci '^access-control-' <<<"$HDRS"
  assert_output 0
}

@test "actual requests from an allowed origin get Allow-Origin and Expose-Headers, errors included" {
  http_fetch "$PORRIO_URL/status" -H 'Origin: http://localhost:8080'
  assert_json_ok 200
  assert_equal "$(header Access-Control-Allow-Origin)" http://localhost:8080
  assert_equal "$(header Access-Control-Expose-Headers)" "ETag, Location, Link, X-Request-Id"
  [ -z "$(header Access-Control-Allow-Methods)" ] || fail "Allow-Methods on an actual request"
  http_fetch "$PORRIO_URL/porras/nope-a-b-1" -H "Origin: $ORIGIN"
  assert_json_error 404
  assert_equal "$(header Access-Control-Allow-Origin)" "$ORIGIN"
  # another origin, an origin that only starts like an allowed one, no origin: no CORS headers
  local o
  for o in https://b.example https://a.example.evil.com HTTPS://A.EXAMPLE; do
    http_fetch "$PORRIO_URL/status" -H "Origin: $o"
    run grep -ci '^access-control-' <<<"$HDRS"
    assert_output 0
  done
  http_fetch "$PORRIO_URL/status"
  run grep -ci '^access-control-' <<<"$HDRS"
  assert_output 0
  assert_equal "$(header Vary)" Origin
}

@test "CORS_ORIGINS empty (the default): no CORS headers and no Vary: Origin; '*' allows any origin" {
  porrio_start WORKERS=1
  http_fetch "$PORRIO_URL/status" -H "Origin: $ORIGIN"
  run grep -ci '^access-control-\|^vary:' <<<"$HDRS"
  assert_output 0
  porrio_stop
  porrio_start WORKERS=1 CORS_ORIGINS='*'
  http_fetch "$PORRIO_URL/porras" -X OPTIONS -H 'Origin: https://anyone.example' -H 'Access-Control-Request-Method: GET'
  assert_status 204
  assert_equal "$(header Access-Control-Allow-Origin)" https://anyone.example
  porrio_stop
  run --separate-stderr porrio_exec CORS_ORIGINS=a.example
  assert_equal "$status" 2
  [[ $stderr == *CORS_ORIGINS* ]] || fail "stderr does not name the setting: $stderr"
}

# ---- conditional requests -----------------------------------------------------------------------

@test "GET of the state carries a strong ETag; If-None-Match gives 304 with it and no body" {
  new_pool cond >/dev/null
  local url
  for url in /porras /porras/cond-b-c-2024 /hitos /hitos/0 /all /one/0 /openapi.json; do
    http_fetch "$PORRIO_URL$url"
    assert_status 200
    local tag
    tag=$(header ETag)
    [[ $tag =~ ^\"[^\"]+\"$ ]] || fail "$url: no strong ETag: '$tag'"
    http_fetch "$PORRIO_URL$url" -H "If-None-Match: $tag"
    assert_status 304
    assert_equal "$(header ETag)" "$tag"
    assert_equal "$(body_bytes "$PORRIO_URL$url" -H "If-None-Match: $tag")" 0
    # a list, a weak form of it, and "*" match; another tag does not
    http_fetch "$PORRIO_URL$url" -H "If-None-Match: \"other\", W/$tag"
    assert_status 304
    http_fetch "$PORRIO_URL$url" -I -H 'If-None-Match: *'
    assert_status 304
    http_fetch "$PORRIO_URL$url" -H 'If-None-Match: "other"'
    assert_status 200
  done
  curl -s -o /dev/null --max-time 5 -X PUT "$PORRIO_URL/porras/cond-b-c-2024/resultado" -d "$SCORE10"
  local old
  http_fetch "$PORRIO_URL/porras/cond-b-c-2024/ganadores"
  old=$(header ETag)
  http_fetch "$PORRIO_URL/porras/cond-b-c-2024/ganadores" -H "If-None-Match: $old"
  assert_status 304
}

@test "a change gives new ETags to the pool and to the listing, and leaves other pools' alone" {
  local a b list a2
  a=$(new_pool tagA)
  b=$(new_pool tagB)
  http_fetch "$PORRIO_URL/porras"
  list=$(header ETag)
  http_fetch "$PORRIO_URL/porras/tagA-b-c-2024/apuestas/ana" -X PUT -d "$SCORE10"
  assert_status 201
  a2=$(header ETag)
  [ "$a2" != "$a" ] || fail "the bet's answer kept the old ETag"
  http_fetch "$PORRIO_URL/porras/tagA-b-c-2024" -H "If-None-Match: $a"
  assert_status 200
  assert_equal "$(header ETag)" "$a2"
  http_fetch "$PORRIO_URL/porras/tagB-b-c-2024" -H "If-None-Match: $b"
  assert_status 304
  http_fetch "$PORRIO_URL/porras" -H "If-None-Match: $list"
  assert_status 200
}

@test "If-Match on the writes of a pool: 412 when stale or missing, the write when current" {
  local t
  t=$(new_pool im)
  http_fetch "$PORRIO_URL/porras/im-b-c-2024/apuestas/ana" -X PUT -d "$SCORE10" -H 'If-Match: "stale"'
  assert_json_error 412
  http_fetch "$PORRIO_URL/porras/im-b-c-2024/apuestas/ana" -X PUT -d "$SCORE10" -H "If-Match: W/$t"
  assert_json_error 412 # a weak tag never matches for a write
  http_fetch "$PORRIO_URL/porras/im-b-c-2024/apuestas/ana" -X PUT -d "$SCORE10" -H "If-Match: \"x\", $t"
  assert_status 201
  local t2
  t2=$(header ETag)
  http_fetch "$PORRIO_URL/porras/im-b-c-2024/resultado" -X PUT -d "$SCORE10" -H "If-Match: $t"
  assert_json_error 412
  http_fetch "$PORRIO_URL/porras/im-b-c-2024/resultado" -X PUT -d "$SCORE10" -H "If-Match: $t2"
  assert_json_ok 200
  t=$(header ETag)
  # the precondition comes before the body is looked at
  http_fetch "$PORRIO_URL/porras/im-b-c-2024/resultado" -X PUT -d '{' -H "If-Match: $t2"
  assert_json_error 412
  http_fetch "$PORRIO_URL/porras/im-b-c-2024" -X DELETE -H "If-Match: $t2"
  assert_json_error 412
  http_fetch "$PORRIO_URL/porras/im-b-c-2024" -X DELETE -H "If-Match: $t"
  assert_status 204
  http_fetch "$PORRIO_URL/porras/im-b-c-2024" -X DELETE -H 'If-Match: *'
  assert_json_error 412
  http_fetch "$PORRIO_URL/porras/im-b-c-2024" -X DELETE
  assert_json_error 404
}

@test "two correctors with the same If-Match: one result is written, the other gets 412" {
  local round t d="$BATS_TEST_TMPDIR"
  for round in 1 2 3 4 5; do
    t=$(new_pool race$round)
    for who in 1 2; do
      curl -s -o "$d/body$who" -w '%{http_code}' --max-time 5 -X PUT -H "If-Match: $t" \
        -d "{\"local\": $who, \"visitante\": 0}" "$PORRIO_URL/porras/race$round-b-c-2024/resultado" >"$d/st$who" &
    done
    wait
    assert_equal "$(sort "$d/st1" "$d/st2" | tr '\n' ' ')" "200 412 "
    local winner
    winner=$(grep -l 200 "$d/st1" "$d/st2" | sed 's/.*st//')
    http_fetch "$PORRIO_URL/porras/race$round-b-c-2024"
    assert_equal "$(jq -r .resultado <<<"$BODY")" "$winner-0"
  done
}

@test "ETags change across a restart on the same store" {
  local data="$BATS_TEST_TMPDIR/data"
  porrio_start WORKERS=1 DATA_DIR="$data"
  new_pool restart >/dev/null
  http_fetch "$PORRIO_URL/porras/restart-b-c-2024"
  local before=$(header ETag) body=$BODY
  porrio_stop
  porrio_start WORKERS=1 DATA_DIR="$data"
  http_fetch "$PORRIO_URL/porras/restart-b-c-2024" -H "If-None-Match: $before"
  assert_status 200
  assert_equal "$BODY" "$body"
  [ "$(header ETag)" != "$before" ] || fail "the same ETag after a restart"
  porrio_stop
}

# ---- gzip ---------------------------------------------------------------------------------------

@test "an answer over 1 KiB is gzipped for a client that accepts it, identity for one that does not" {
  big_listing
  http_fetch "$PORRIO_URL/porras"
  assert_status 200
  local plain=$BODY tag=$(header ETag)
  [ "$BODY_SIZE" -gt 1024 ] || fail "the listing is only $BODY_SIZE bytes"
  [ -z "$(header Content-Encoding)" ] || fail "identity asked, got $(header Content-Encoding)"
  assert_vary Origin Accept-Encoding
  curl -s --max-time 5 -H 'Accept-Encoding: gzip' -D "$BATS_TEST_TMPDIR/h" -o "$BATS_TEST_TMPDIR/gz" "$PORRIO_URL/porras"
  HDRS=$(tr -d '\r' <"$BATS_TEST_TMPDIR/h")
  assert_equal "$(header Content-Encoding)" gzip
  local gztag=$(header ETag)
  [ "$gztag" != "$tag" ] || fail "the gzip and identity answers share the strong ETag $tag"
  assert_equal "$(gzip -dc "$BATS_TEST_TMPDIR/gz")" "$plain"
  # curl --compressed and weights: gzip;q=0 is a refusal, gzip;q=0.5 an acceptance
  assert_equal "$(curl -s --compressed --max-time 5 "$PORRIO_URL/porras")" "$plain"
  http_fetch "$PORRIO_URL/porras" -H 'Accept-Encoding: gzip;q=0, identity'
  [ -z "$(header Content-Encoding)" ] || fail "gzip;q=0 got gzip"
  http_fetch "$PORRIO_URL/porras" -H 'Accept-Encoding: br, gzip; q=0.5'
  assert_equal "$(header Content-Encoding)" gzip
  # each encoding's tag gives a 304 with that same tag
  http_fetch "$PORRIO_URL/porras" -H 'Accept-Encoding: gzip' -H "If-None-Match: $gztag"
  assert_status 304
  assert_equal "$(header ETag)" "$gztag"
  assert_vary Origin Accept-Encoding
  http_fetch "$PORRIO_URL/porras" -H "If-None-Match: $tag"
  assert_status 304
  assert_equal "$(header ETag)" "$tag"
}

@test "small answers, errors and HEAD stay right; the log records the status and bytes sent" {
  http_fetch "$PORRIO_URL/status" -H 'Accept-Encoding: gzip'
  assert_json_ok 200
  [ -z "$(header Content-Encoding)" ] || fail "a small answer was compressed"
  http_fetch "$PORRIO_URL/porras/nope-a-b-1" -H 'Accept-Encoding: gzip'
  assert_json_error 404
  big_listing
  http_fetch "$PORRIO_URL/porras" -I -H 'Accept-Encoding: gzip'
  assert_status 200
  assert_equal "$(body_bytes "$PORRIO_URL/porras" -I -H 'Accept-Encoding: gzip')" 0
  assert_equal "$(header Content-Encoding)" gzip
  [[ $(header ETag) == *-gzip\" ]] || fail "HEAD's ETag is not the gzip one: $(header ETag)"
  local rid=gz-log-$RANDOM
  curl -s --max-time 5 -H 'Accept-Encoding: gzip' -H "X-Request-Id: $rid" -o "$BATS_TEST_TMPDIR/gz" "$PORRIO_URL/porras"
  local line
  line=$(log_request "$rid")
  assert_equal "$(jfield "$line" .status)" 200
  local bytes
  bytes=$(jfield "$line" .bytes)
  [ "$bytes" -ge "$(stat -c %s "$BATS_TEST_TMPDIR/gz")" ] || fail "logged $bytes bytes, sent more"
  [ "$bytes" -lt "$(curl -s --max-time 5 "$PORRIO_URL/porras" | wc -c)" ] || fail "logged $bytes bytes: not the compressed size"
}

@test "a big pool: gzipped, and its gzip ETag is good for If-Match" {
  local t i
  new_pool gzpool >/dev/null
  for i in $(seq 1 40); do
    curl -s -o /dev/null --max-time 5 -X PUT -d "$SCORE10" "$PORRIO_URL/porras/gzpool-b-c-2024/apuestas/bettor$i"
  done
  http_fetch "$PORRIO_URL/porras/gzpool-b-c-2024" --compressed
  assert_equal "$(header Content-Encoding)" gzip
  t=$(header ETag)
  jq -e '.apuestas | length == 40' <<<"$BODY" >/dev/null || fail "not the pool: $BODY"
  http_fetch "$PORRIO_URL/porras/gzpool-b-c-2024/resultado" -X PUT -d "$SCORE10" -H "If-Match: $t"
  assert_json_ok 200
}
