#!/usr/bin/env bats
# Chunked request bodies are read strictly (README: In production; RFC 9112 section 7.1): a
# chunk-size line is hex digits, optional chunk extensions after ';', then CRLF. Anything else is
# answered 400 with the connection closed, so bytes after a malformed chunk never reach a handler
# as a request of their own. Each case sends one POST on a raw socket with a request for
# /smuggled-CASE behind it.

load helpers

setup_file() {
  porrio_start
}

teardown_file() {
  porrio_teardown_file
}

HEAD=$'POST /status HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nX-Request-Id: '
# smuggled ID: sets SMUGGLED to the request hidden behind case ID's body.
smuggled() { printf -v SMUGGLED 'GET /smuggled-%s HTTP/1.1\r\nHost: t\r\nX-Request-Id: smuggled-%s\r\n\r\n' "$1" "$1"; }

# refused ID BODY: sends the chunked POST with BODY (and the smuggled request after it), then
# checks one answer only, a JSON 400 that closes the connection, and no request for /smuggled-ID.
refused() {
  local out="$BATS_TEST_TMPDIR/raw-$1"
  smuggled "$1"
  http_raw "$PORRIO_PORT" "$HEAD$1"$'\r\n\r\n'"$2$SMUGGLED" >"$out"
  run grep -a -o 'HTTP/1\.1 [0-9][0-9][0-9]' "$out"
  assert_output 'HTTP/1.1 400'
  run grep -i -c $'^connection: close\r$' "$out"
  assert_output 1
  run sed -n $'/^\r$/,$p' "$out"
  assert_regex "$output" '"status": ?400'
  run log_request "$1"
  assert_success
  assert_equal "$(jfield "$output" .status)" 400
  run jq -R -c 'fromjson? | objects | select(.request_id == "smuggled-\($id)" or .uri == "/smuggled-\($id)")' \
    --arg id "$1" "$PORRIO_LOG"
  assert_output ""
}

@test "chunked: a chunk size with a letter after it (19x) is refused" {
  refused size-letter $'19x\r\n0123456789012345678901234\r\n0\r\n\r\n'
}

@test "chunked: a chunk size with whitespace and no extension (19 ) is refused" {
  refused size-space $'19 \r\n0123456789012345678901234\r\n0\r\n\r\n'
}

@test "chunked: 0x19 is not read as a last chunk of size 0" {
  refused size-0x $'0x19\r\n0123456789012345678901234\r\n0\r\n\r\n'
}

@test "chunked: a bare LF ending the chunk-size line is refused" {
  refused size-lf $'19\n0123456789012345678901234\r\n0\r\n\r\n'
}

@test "chunked: a bare LF after the chunk data is refused" {
  refused data-lf $'5\r\nhello\n0\r\n\r\n'
}

@test "chunked: chunk data longer than its size is refused" {
  refused data-long $'5\r\nhello!\r\n0\r\n\r\n'
}

@test "chunked: a bare LF ending the last chunk's trailer section is refused" {
  refused trailer-lf $'5\r\nhello\r\n0\r\n\n'
}

@test "chunked: a well-formed body with extensions is read, and the next request on the connection too" {
  local out="$BATS_TEST_TMPDIR/raw-good"
  smuggled good
  http_raw "$PORRIO_PORT" "${HEAD}good"$'\r\n\r\n'$'5;name=value\r\nhello\r\n6 ; x\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n'"$SMUGGLED" >"$out"
  # POST /status is not allowed (405): the body was read to its end, and what followed it was
  # the next request on the keep-alive connection, answered 404.
  run grep -a -o 'HTTP/1\.1 [0-9][0-9][0-9]' "$out"
  assert_output $'HTTP/1.1 405\nHTTP/1.1 404'
  run log_request good
  assert_success
  assert_equal "$(jfield "$output" .status)" 405
  run log_request smuggled-good
  assert_success
  assert_equal "$(jfield "$output" .status)" 404
}
