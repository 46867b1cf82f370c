#!/usr/bin/env bats
# TRUSTED_PROXIES (README: Behind a reverse proxy): from a trusted peer the request log's
# remote_addr is the client X-Forwarded-For (read from the right) or X-Real-IP names, and
# peer_addr the proxy; from any other peer both headers are ignored; malformed values fall back
# to the peer and never break the request; an invalid setting is exit 2 naming the entry.

load helpers

setup_file() {
  # the tests reach the server from 127.0.0.1, a trusted proxy here; 10.0.0.0/8 are the others
  porrio_start TRUSTED_PROXIES='127.0.0.1, 10.0.0.0/8'
  export TRUSTED_PID=$PORRIO_PID TRUSTED_URL=$PORRIO_URL TRUSTED_PORT=$PORRIO_PORT TRUSTED_LOG=$PORRIO_LOG
}

teardown_file() { porrio_teardown_file "$TRUSTED_PID"; }

teardown() { porrio_cleanup; }

# get ID [CURL_ARGS...]: GET /status with X-Request-Id ID on the trusted server; asserts the 200.
get() {
  local id=$1
  shift
  http_fetch "$TRUSTED_URL/status" -H "X-Request-Id: $id" "$@"
  assert_status 200
}

# addrs ID [LOG]: "remote_addr peer_addr" of request ID's log line ("-" for an absent peer_addr).
addrs() { log_request "$1" "${2:-$TRUSTED_LOG}" | jq -r '.remote_addr + " " + (.peer_addr // "-")'; }

@test "X-Forwarded-For from a trusted peer: remote_addr is the client, peer_addr the proxy" {
  get xff-1 -H 'X-Forwarded-For: 203.0.113.7'
  assert_equal "$(addrs xff-1)" "203.0.113.7 127.0.0.1"
  get xff-2 -H 'X-Forwarded-For: 2001:db8::7'
  assert_equal "$(addrs xff-2)" "2001:db8::7 127.0.0.1"
  # the line's other fields are there as before, peer_addr beside remote_addr
  run jq -c 'keys' <<<"$(log_request xff-1 "$TRUSTED_LOG")"
  assert_output '["bytes","duration_ms","level","method","msg","peer_addr","remote_addr","request_id","route","status","time","uri","user-agent"]'
}

@test "X-Forwarded-For is read from the right: trusted hops skipped, the first untrusted is the client" {
  get chain-1 -H 'X-Forwarded-For: 203.0.113.7, 10.1.2.3, 10.9.9.9'
  assert_equal "$(addrs chain-1)" "203.0.113.7 127.0.0.1"
  # every entry trusted: the left-most
  get chain-2 -H 'X-Forwarded-For: 10.1.2.3,10.9.9.9'
  assert_equal "$(addrs chain-2)" "10.1.2.3 127.0.0.1"
  # several header lines are one list, the last line rightmost
  run http_raw "$TRUSTED_PORT" $'GET /status HTTP/1.1\r\nHost: a\r\nX-Request-Id: chain-3\r\nX-Forwarded-For: 198.51.100.2\r\nX-Forwarded-For: 203.0.113.9, 10.0.0.1\r\nConnection: close\r\n\r\n'
  assert_regex "$output" '^HTTP/1\.1 200 '
  assert_equal "$(addrs chain-3)" "203.0.113.9 127.0.0.1"
}

@test "a spoofed chain: what the client wrote left of itself is not believed" {
  # the client sent "1.1.1.1, 10.0.0.5" itself; the proxy appended the address it saw
  get spoof-1 -H 'X-Forwarded-For: 1.1.1.1, 10.0.0.5, 198.51.100.2'
  assert_equal "$(addrs spoof-1)" "198.51.100.2 127.0.0.1"
  get spoof-2 -H 'X-Forwarded-For: "><script>, 198.51.100.2'
  assert_equal "$(addrs spoof-2)" "198.51.100.2 127.0.0.1"
}

@test "X-Real-IP names the client when there is no X-Forwarded-For" {
  get real-1 -H 'X-Real-IP: 192.0.2.44'
  assert_equal "$(addrs real-1)" "192.0.2.44 127.0.0.1"
  get real-2 -H 'X-Real-IP: 192.0.2.44' -H 'X-Forwarded-For: 203.0.113.7'
  assert_equal "$(addrs real-2)" "203.0.113.7 127.0.0.1"
  get real-3 -H 'X-Real-IP: 192.0.2.44, 192.0.2.45'
  assert_equal "$(addrs real-3)" "127.0.0.1 -"
}

@test "malformed values are ignored: the peer is logged and the request is served" {
  local i=0 v long
  long=$(printf '9%.0s' {1..3000})
  for v in 'garbage' '203.0.113.7:5678' '[2001:db8::1]' '203.0.113.7,' '203.0.113.7 10.0.0.1' 'unknown' \
    '256.1.1.1' "$long" '203.0.113.7;proto=http'; do
    i=$((i + 1))
    get "bad-$i" -H "X-Forwarded-For: $v"
    assert_equal "$(addrs "bad-$i")" "127.0.0.1 -"
  done
  get bad-real -H 'X-Real-IP: nobody'
  assert_equal "$(addrs bad-real)" "127.0.0.1 -"
  # more than 16 entries to read: the chain is too long to be believed
  get bad-hops -H "X-Forwarded-For: 203.0.113.7$(printf ', 10.0.0.1%.0s' {1..16})"
  assert_equal "$(addrs bad-hops)" "127.0.0.1 -"
  get ok-hops -H "X-Forwarded-For: 203.0.113.7$(printf ', 10.0.0.1%.0s' {1..15})"
  assert_equal "$(addrs ok-hops)" "203.0.113.7 127.0.0.1"
  # a hostile value cannot forge a field: the log stays JSON lines
  run http_raw "$TRUSTED_PORT" $'GET /status HTTP/1.1\r\nHost: a\r\nX-Request-Id: bad-json\r\nX-Forwarded-For: 1.2.3.4","x":"y\r\nConnection: close\r\n\r\n'
  assert_regex "$output" '^HTTP/1\.1 200 '
  assert_equal "$(addrs bad-json)" "127.0.0.1 -"
  run log_all_json "$TRUSTED_LOG"
  assert_success
}

@test "without TRUSTED_PROXIES (the default) the headers are ignored entirely" {
  porrio_start
  http_fetch "$PORRIO_URL/status" -H 'X-Request-Id: none-1' -H 'X-Forwarded-For: 203.0.113.7'
  assert_status 200
  http_fetch "$PORRIO_URL/status" -H 'X-Request-Id: none-2' -H 'X-Real-IP: 192.0.2.44'
  assert_status 200
  assert_equal "$(addrs none-1 "$PORRIO_LOG")" "127.0.0.1 -"
  assert_equal "$(addrs none-2 "$PORRIO_LOG")" "127.0.0.1 -"
  assert_equal "$(log_setting TRUSTED_PROXIES | jq -r '.value + " " + .source')" " default"
  porrio_stop
}

@test "a peer outside the list: the headers are ignored" {
  porrio_start TRUSTED_PROXIES=10.0.0.0/8,::1
  http_fetch "$PORRIO_URL/status" -H 'X-Request-Id: out-1' -H 'X-Forwarded-For: 203.0.113.7'
  assert_status 200
  assert_equal "$(addrs out-1 "$PORRIO_LOG")" "127.0.0.1 -"
  porrio_stop
}

@test "an IPv4-mapped peer (a listener on ::) matches the IPv4 entries" {
  "$PYTHON" -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::", 0)); s.close()' 2>/dev/null ||
    skip "no IPv6 on this machine"
  porrio_start HOST=:: TRUSTED_PROXIES=127.0.0.0/8
  http_fetch "$PORRIO_URL/status" -H 'X-Request-Id: mapped-1' -H 'X-Forwarded-For: 203.0.113.7'
  assert_status 200
  assert_equal "$(addrs mapped-1 "$PORRIO_LOG")" "203.0.113.7 ::ffff:127.0.0.1"
  porrio_stop
}

@test "an invalid TRUSTED_PROXIES is exit 2 naming the setting and the bad entry" {
  run --separate-stderr porrio_exec TRUSTED_PROXIES='10.0.0.0/8, 10.1.0.0/8'
  assert_equal "$status" 2
  [[ $stderr == *"TRUSTED_PROXIES=10.0.0.0/8, 10.1.0.0/8 (from env)"*"'10.1.0.0/8': bits are set past the prefix length"* ]] ||
    fail "stderr: $stderr"
  run --separate-stderr porrio_exec --trusted-proxies 'nginx'
  assert_equal "$status" 2
  [[ $stderr == *"TRUSTED_PROXIES=nginx (from flag)"*"'nginx': not an IPv4 or IPv6 address"* ]] || fail "stderr: $stderr"
  run --separate-stderr porrio_exec TRUSTED_PROXIES='::1/129'
  assert_equal "$status" 2
  [[ $stderr == *"'::1/129': the prefix length is past 128"* ]] || fail "stderr: $stderr"
}
