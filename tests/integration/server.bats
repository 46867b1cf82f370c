#!/usr/bin/env bats
# The HTTP chassis against the real binary: the built-in routes, HEAD, errors as JSON, the body
# size limit, X-Request-Id, static files (and path traversal), and the health probe.

load helpers

setup_file() {
  # A second server: a small body limit and a static directory filled here, with a secret file
  # beside (not inside) it that traversal attempts go after.
  export STATIC_ROOT="$BATS_FILE_TMPDIR/site"
  mkdir -p "$STATIC_ROOT/public/sub"
  printf '<!doctype html><title>porrio test</title><p>index page</p>\n' >"$STATIC_ROOT/public/index.html"
  printf 'plain text file\n' >"$STATIC_ROOT/public/file.txt"
  printf 'nested\n' >"$STATIC_ROOT/public/sub/nested.txt"
  printf 'static status file\n' >"$STATIC_ROOT/public/status"
  printf 'TOP SECRET outside the static dir\n' >"$STATIC_ROOT/secret.txt"
  porrio_start MAX_BODY_BYTES=1024 STATIC_DIR="$STATIC_ROOT/public"
  export SMALL_PID=$PORRIO_PID SMALL_URL=$PORRIO_URL SMALL_PORT=$PORRIO_PORT SMALL_LOG=$PORRIO_LOG

  # The main server: defaults, in an empty working directory (so no ./public at all).
  porrio_start
}

teardown_file() { porrio_teardown_file "$SMALL_PID" "$PORRIO_PID"; }

teardown() { porrio_cleanup; }

# assert_ends_with_headers FILE: the raw answer in FILE is one header block and nothing after it.
assert_ends_with_headers() {
  run "$PYTHON" -c 'import sys; d = open(sys.argv[1], "rb").read(); i = d.find(b"\r\n\r\n")
print(len(d) - (i + 4) if i >= 0 else "no end of headers")' "$1"
  assert_output 0
}

assert_new_request_id() {
  assert_regex "$(header X-Request-Id)" '^[0-9a-f]{16}$'
}

@test "GET / and GET /status: 200 {\"status\":\"OK\"} as JSON with Content-Length, not chunked" {
  local path
  for path in / /status; do
    http_fetch "$PORRIO_URL$path"
    assert_equal "$STATUS" 200
    assert_equal "$(header Content-Type)" "application/json; charset=utf-8"
    assert_equal "$(header Content-Length)" "$BODY_SIZE"
    assert_equal "$(header Transfer-Encoding)" ""
    run jq -r '.status' <<<"$BODY"
    assert_output "OK"
  done
}

@test "HEAD /status: GET's status and Content-Length, no body" {
  http_fetch "$PORRIO_URL/status"
  local get_len
  get_len=$(header Content-Length)
  run curl -sI --max-time 5 "$PORRIO_URL/status"
  assert_success
  assert_line --regexp $'^HTTP/1\\.1 200'
  assert_line --regexp "^Content-Length: $get_len"$'\r?$'
  assert_line --regexp $'^Content-Type: application/json; charset=utf-8\r?$'
  run curl -s --max-time 5 --head -o /dev/null -w '%{size_download}' "$PORRIO_URL/status"
  assert_success
  assert_output 0
  # On the wire: nothing after the blank line that ends the headers.
  http_raw "$PORRIO_PORT" $'HEAD /status HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' \
    >"$BATS_TEST_TMPDIR/raw"
  run cat "$BATS_TEST_TMPDIR/raw"
  assert_regex "$output" $'^HTTP/1\\.1 200 [^\r]*\r\n'
  assert_regex "$output" $'\r\n[Cc]ontent-[Ll]ength: '"$get_len"$'\r\n'
  assert_ends_with_headers "$BATS_TEST_TMPDIR/raw"
}

@test "GET /health/live and /health/ready: 200 JSON" {
  http_fetch "$PORRIO_URL/health/live"
  assert_equal "$STATUS" 200
  assert_equal "$(header Content-Type)" "application/json; charset=utf-8"
  run jq -e 'type == "object"' <<<"$BODY"
  assert_success
  http_fetch "$PORRIO_URL/health/ready"
  assert_equal "$STATUS" 200
  assert_equal "$(header Content-Type)" "application/json; charset=utf-8"
  run jq -e 'type == "object"' <<<"$BODY"
  assert_success
}

@test "GET /openapi.json: the repository's document, byte for byte, as JSON" {
  http_fetch "$PORRIO_URL/openapi.json"
  assert_status 200
  assert_equal "$(header Content-Type)" "application/json; charset=utf-8"
  cmp -s "$BATS_TEST_TMPDIR/fetch.b" "$REPO_ROOT/internal/api/openapi.json" || fail "the served document differs from internal/api/openapi.json"
}

@test "unknown path: 404 JSON error (GET, HEAD, POST)" {
  http_fetch "$PORRIO_URL/no/such/thing"
  assert_json_error 404
  assert_new_request_id
  http_fetch "$PORRIO_URL/no/such/thing" -X POST --data-binary 'x=1'
  assert_json_error 404
  run curl -sI --max-time 5 "$PORRIO_URL/no/such/thing"
  assert_line --regexp $'^HTTP/1\\.1 404'
}

@test "POST /status: 405 with Allow: GET, HEAD, OPTIONS and a JSON error" {
  http_fetch "$PORRIO_URL/status" -X POST --data-binary '{}'
  assert_json_error 405
  assert_equal "$(header Allow)" "GET, HEAD, OPTIONS"
  assert_new_request_id
  http_fetch "$PORRIO_URL/health/ready" -X DELETE
  assert_json_error 405
  assert_equal "$(header Allow)" "GET, HEAD, OPTIONS"
}

@test "body over MAX_BODY_BYTES: 413 JSON error, with Content-Length or chunked" {
  head -c 2000 /dev/zero | tr '\0' a >"$BATS_TEST_TMPDIR/big"
  http_fetch "$SMALL_URL/status" -X POST --data-binary @"$BATS_TEST_TMPDIR/big"
  assert_json_error 413
  assert_new_request_id
  http_fetch "$SMALL_URL/status" -X POST -H 'Transfer-Encoding: chunked' --data-binary @"$BATS_TEST_TMPDIR/big"
  assert_json_error 413
  # The default limit is 65536: the same 2000 bytes are fine for the main server.
  http_fetch "$PORRIO_URL/status" -X POST --data-binary @"$BATS_TEST_TMPDIR/big"
  assert_equal "$STATUS" 405
}

@test "body exactly MAX_BODY_BYTES is not 413" {
  head -c 1024 /dev/zero | tr '\0' a >"$BATS_TEST_TMPDIR/exact"
  http_fetch "$SMALL_URL/status" -X POST --data-binary @"$BATS_TEST_TMPDIR/exact"
  assert_json_error 405
  head -c 1025 /dev/zero | tr '\0' a >"$BATS_TEST_TMPDIR/over"
  http_fetch "$SMALL_URL/status" -X POST --data-binary @"$BATS_TEST_TMPDIR/over"
  assert_json_error 413
}

@test "X-Request-Id: a sane client id is echoed back" {
  local id long
  long=$(printf 'a%.0s' {1..128})
  for id in abc "Req-1.2_3:xyz" "$long" "0"; do
    http_fetch "$PORRIO_URL/status" -H "X-Request-Id: $id"
    assert_equal "$STATUS" 200
    assert_equal "$(header X-Request-Id)" "$id"
  done
}

@test "X-Request-Id: an insane client id is replaced by 16 new hex digits" {
  local id long
  long=$(printf 'a%.0s' {1..129})
  for id in "$long" "a b" "<x>" 'a"b' "é" "a/b" "a,b"; do
    http_fetch "$PORRIO_URL/status" -H "X-Request-Id: $id"
    assert_equal "$STATUS" 200
    assert_new_request_id
  done
  # An empty header and no header at all: new ids, different each time.
  http_fetch "$PORRIO_URL/status" -H "X-Request-Id;"
  assert_new_request_id
  local first
  http_fetch "$PORRIO_URL/status"
  assert_new_request_id
  first=$(header X-Request-Id)
  http_fetch "$PORRIO_URL/status"
  assert_new_request_id
  refute [ "$(header X-Request-Id)" = "$first" ]
}

@test "X-Request-Id on 404, 405, 413 and static answers, echoed or new" {
  http_fetch "$PORRIO_URL/nope" -H "X-Request-Id: id-404"
  assert_equal "$STATUS" 404
  assert_equal "$(header X-Request-Id)" id-404
  http_fetch "$PORRIO_URL/status" -X PUT -H "X-Request-Id: id-405"
  assert_equal "$STATUS" 405
  assert_equal "$(header X-Request-Id)" id-405
  head -c 2000 /dev/zero | tr '\0' a >"$BATS_TEST_TMPDIR/big"
  http_fetch "$SMALL_URL/status" -X POST --data-binary @"$BATS_TEST_TMPDIR/big" -H "X-Request-Id: id-413"
  assert_equal "$STATUS" 413
  assert_equal "$(header X-Request-Id)" id-413
  http_fetch "$SMALL_URL/file.txt" -H "X-Request-Id: id-static"
  assert_equal "$STATUS" 200
  assert_equal "$(header X-Request-Id)" id-static
  http_fetch "$SMALL_URL/missing.txt" -H "X-Request-Id: id-static-404"
  assert_equal "$STATUS" 404
  assert_equal "$(header X-Request-Id)" id-static-404
  http_fetch "$SMALL_URL/file.txt"
  assert_new_request_id
  http_fetch "$SMALL_URL/missing.txt"
  assert_new_request_id
}

@test "static files: GET serves them with their content type" {
  http_fetch "$SMALL_URL/file.txt"
  assert_equal "$STATUS" 200
  assert_regex "$(header Content-Type)" '^text/plain'
  assert_equal "$BODY" "plain text file"
  assert_equal "$(header Content-Length)" "$(stat -c %s "$STATIC_ROOT/public/file.txt")"
  http_fetch "$SMALL_URL/index.html"
  assert_equal "$STATUS" 200
  assert_regex "$(header Content-Type)" '^text/html'
  assert_equal "$BODY" "$(cat "$STATIC_ROOT/public/index.html")"
  http_fetch "$SMALL_URL/sub/nested.txt"
  assert_equal "$STATUS" 200
  assert_equal "$BODY" "nested"
}

@test "static files: HEAD answers GET's headers without a body" {
  run curl -sI --max-time 5 "$SMALL_URL/file.txt"
  assert_success
  assert_line --regexp $'^HTTP/1\\.1 200'
  assert_line --regexp "^[Cc]ontent-[Ll]ength: $(stat -c %s "$STATIC_ROOT/public/file.txt")"$'\r?$'
  assert_line --regexp '^[Cc]ontent-[Tt]ype: text/plain'
  http_raw "$SMALL_PORT" $'HEAD /file.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n' \
    >"$BATS_TEST_TMPDIR/raw"
  run grep -c '^HTTP/1.1 200 ' "$BATS_TEST_TMPDIR/raw"
  assert_output 1
  assert_ends_with_headers "$BATS_TEST_TMPDIR/raw"
}

@test "static files: routes win over files (/ and /status stay the status route)" {
  local path
  for path in / /status; do
    http_fetch "$SMALL_URL$path"
    assert_equal "$STATUS" 200
    assert_equal "$(header Content-Type)" "application/json; charset=utf-8"
    run jq -r .status <<<"$BODY"
    assert_output OK
  done
}

@test "static files: a missing file is a 404 JSON error" {
  http_fetch "$SMALL_URL/missing.txt"
  assert_json_error 404
  http_fetch "$SMALL_URL/sub/missing/deeper.html"
  assert_json_error 404
  run curl -sI --max-time 5 "$SMALL_URL/missing.txt"
  assert_line --regexp $'^HTTP/1\\.1 404'
}

@test "static files: other methods on a file are not served as the file" {
  http_fetch "$SMALL_URL/file.txt" -X POST --data-binary x
  refute [ "$STATUS" = 200 ]
  refute [ "$STATUS" -ge 500 ]
  refute_regex "$BODY" 'plain text file'
}

@test "static files: path traversal never leaves STATIC_DIR" {
  local path
  for path in /../../etc/passwd /%2e%2e/%2e%2e/etc/passwd /..%2f..%2fetc/passwd \
    /%2e%2e%2f%2e%2e%2fetc%2fpasswd /sub/../../../../etc/passwd '/..\..\etc\passwd' \
    /../secret.txt /%2e%2e/secret.txt /sub/%2e%2e/%2e%2e/secret.txt /..%2fsecret.txt \
    '/%252e%252e/%252e%252e/etc/passwd'; do
    http_fetch "$SMALL_URL$path" --path-as-is
    [[ $STATUS == 404 || $STATUS == 400 ]] || fail "$path answered $STATUS: $BODY"
    refute_regex "$BODY" 'root:'
    refute_regex "$BODY" 'TOP SECRET'
  done
  # The main server has no static directory: the same paths are 404/400 there too.
  for path in /../../etc/passwd /%2e%2e/%2e%2e/etc/passwd /..%2f..%2fetc/passwd; do
    http_fetch "$PORRIO_URL$path" --path-as-is
    [[ $STATUS == 404 || $STATUS == 400 ]] || fail "$path answered $STATUS: $BODY"
    refute_regex "$BODY" 'root:'
  done
}

@test "percent-encoding errors in a path: 400 or 404 JSON, never 5xx" {
  local url path
  for url in "$PORRIO_URL" "$SMALL_URL"; do
    for path in /%zz /a%4 /% /%%41 /status%zz /health/%zz /%G0/x '/%c3%28' '/%ff%fe' \
      '/a%2fb'; do
      http_fetch "$url$path" --path-as-is
      [[ $STATUS == 404 || $STATUS == 400 ]] || fail "$url$path answered $STATUS: $BODY"
      assert_json_error "$STATUS"
    done
  done
}

@test "a NUL byte encoded in a path (%00) is refused, never cuts the path" {
  local path
  for path in /%00 /file.txt%00 /file.txt%00.html /index.html%00x; do
    http_fetch "$SMALL_URL$path" --path-as-is
    [[ $STATUS == 404 || $STATUS == 400 ]] || fail "$path answered $STATUS: $BODY"
    assert_json_error "$STATUS"
    refute_regex "$BODY" 'plain text file'
  done
}

@test "build/healthcheck exits 0 against the live server" {
  run "$REPO_ROOT/build/healthcheck" "$PORRIO_URL/health/ready"
  assert_success
  PORT=$PORRIO_PORT run "$REPO_ROOT/build/healthcheck"
  assert_success
}
