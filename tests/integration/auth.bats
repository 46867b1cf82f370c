#!/usr/bin/env bats
# Writes that need a key (README: Authentication; openapi.json, security scheme `bearer`): with
# ADMIN_TOKENS set, PUT /porras/{ID}/resultado, DELETE /porras/{ID} and POST /hitos answer 401
# (with WWW-Authenticate) without a well-formed Bearer credential, 403 for a token whose SHA-256 is
# not listed, and go on with a listed one; every other route stays open; unset, all are open and
# start-up warns. The token never reaches the logs; `porrio token new` makes what the setting
# takes; ADMIN_TOKENS rotates through etcd without a restart.

load helpers
load etcd

# Two tokens and their SHA-256 (as `porrio token hash` and sha256sum give them).
TOK_A=alpha-token_0123456789abcdefghijklmnopqrstu
TOK_B=bravo.token~ABCDEFGHIJKLMNOPQRSTUVWXYZ+/98==
TOK_X=not-a-listed-token-but-well-formed
sha() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
H_A=$(sha "$TOK_A")
H_B=$(sha "$TOK_B")
OPEN_WARNING='ADMIN_TOKENS is empty: PUT /porras/{ID}/resultado, DELETE /porras/{ID} and POST /hitos are open to anyone'

setup_file() {
  # debug: the most the service ever logs, for the test that looks for the token in it
  porrio_start WORKERS=2 LOG_LEVEL=debug ADMIN_TOKENS="$H_A,$H_B" DATA_DIR="$BATS_FILE_TMPDIR/data" \
    HITOS_FILE="$REPO_ROOT/data/hitos.json"
  export SHARED_PID=$PORRIO_PID SHARED_URL=$PORRIO_URL SHARED_LOG=$PORRIO_LOG SHARED_ERR=$PORRIO_ERR
}

teardown_file() { porrio_teardown_file "$SHARED_PID"; }

teardown() { porrio_cleanup; }

# ---- local helpers ----------------------------------------------------------------------------

# on URL METHOD PATH [CURL_ARGS...]: http_fetch of METHOD PATH at the server URL.
on() { http_fetch "$1$3" -X "$2" -H 'Content-Type: application/json' "${@:4}"; }

# token_hash: `porrio token hash` with this shell's stdin (porrio_exec's is /dev/null).
token_hash() { "$PORRIO" token hash; }

# pool URL NAME: creates pool NAME-b-c-2024 (open to anyone), asserting 200 (the course route: new or not).
pool() {
  on "$1" PUT "/porra/$2/b/c/2024"
  assert_json_ok 200
}

# guarded URL NAME [CURL_ARGS...]: the three guarded operations on pool NAME-b-c-2024 and a new
# milestone NAME.json, each with CURL_ARGS; prints their three statuses ("result delete post").
guarded() {
  local url=$1 name=$2 out=()
  shift 2
  on "$url" PUT "/porras/$name-b-c-2024/resultado" --data-binary '{"local": 1, "visitante": 0}' "$@"
  out+=("$STATUS")
  on "$url" DELETE "/porras/$name-b-c-2024" "$@"
  out+=("$STATUS")
  on "$url" POST /hitos --data-binary "{\"file\": \"$name.json\", \"title\": \"t\", \"fecha\": \"1/2/2024\"}" "$@"
  out+=("$STATUS")
  echo "${out[*]}"
}

# ---- tests ------------------------------------------------------------------------------------

@test "ADMIN_TOKENS unset: the three guarded routes are open, and start-up warns once saying so" {
  porrio_start
  pool "$PORRIO_URL" open
  assert_equal "$(guarded "$PORRIO_URL" open)" "200 204 201"
  assert_equal "$(log_count "$OPEN_WARNING")" 1
  assert_equal "$(jfield "$(log_line "$OPEN_WARNING")" .level)" warn
  porrio_stop
  # and with a list there is no such warning
  assert_equal "$(log_count "$OPEN_WARNING" "$SHARED_LOG")" 0
}

@test "no credential: 401 JSON error with WWW-Authenticate: Bearer realm=\"porrio\", on each guarded route" {
  pool "$SHARED_URL" none
  local op
  for op in "PUT /porras/none-b-c-2024/resultado" "DELETE /porras/none-b-c-2024" "POST /hitos"; do
    on "$SHARED_URL" ${op% *} "${op#* }" --data-binary '{"local": 1, "visitante": 0}'
    assert_json_error 401 Bearer
    assert_equal "$(header WWW-Authenticate)" 'Bearer realm="porrio"'
  done
  # nothing was changed
  on "$SHARED_URL" GET /porras/none-b-c-2024
  assert_json_ok 200
  assert_equal "$(jfield "$BODY" .resultado)" null
}

@test "a malformed Authorization header is 401 too: other scheme, no token, bad characters, two headers" {
  pool "$SHARED_URL" malformed
  local h
  for h in "Basic $TOK_A" "Bearer" "Bearer " "$TOK_A" "Bearer$TOK_A" "Bearer $TOK_A extra" "Bearer a=b" "Token $TOK_A"; do
    assert_equal "$(guarded "$SHARED_URL" malformed -H "Authorization: $h")" "401 401 401"
  done
  assert_equal "$(guarded "$SHARED_URL" malformed -H "Authorization: Bearer $TOK_A" -H "Authorization: Bearer $TOK_A")" \
    "401 401 401"
  on "$SHARED_URL" DELETE /porras/malformed-b-c-2024 -H "Authorization: Basic $TOK_A"
  assert_json_error 401
  assert_equal "$(header WWW-Authenticate)" 'Bearer realm="porrio"'
}

@test "a well-formed token whose SHA-256 is not listed: 403 JSON error, nothing changed" {
  pool "$SHARED_URL" denied
  assert_equal "$(guarded "$SHARED_URL" denied -H "Authorization: Bearer $TOK_X")" "403 403 403"
  on "$SHARED_URL" DELETE /porras/denied-b-c-2024 -H "Authorization: Bearer $TOK_X"
  assert_json_error 403 ADMIN_TOKENS
  assert_equal "$(header WWW-Authenticate)" ""
  # the hash itself is not a token
  assert_equal "$(guarded "$SHARED_URL" denied -H "Authorization: Bearer $H_A")" "403 403 403"
  on "$SHARED_URL" GET /porras/denied-b-c-2024
  assert_json_ok 200
  on "$SHARED_URL" GET /hitos
  assert_json_ok 200
  [[ $BODY != *denied.json* ]] || fail "the milestone was added: $BODY"
}

@test "a listed token (either of the two, scheme in any case): 2xx on each guarded route" {
  pool "$SHARED_URL" first
  assert_equal "$(guarded "$SHARED_URL" first -H "Authorization: Bearer $TOK_A")" "200 204 201"
  pool "$SHARED_URL" second
  assert_equal "$(guarded "$SHARED_URL" second -H "Authorization: bearer $TOK_B")" "200 204 201"
  # the token is checked before the path or the body: a stranger learns nothing of what exists
  on "$SHARED_URL" DELETE /porras/nobody-b-c-2024
  assert_json_error 401
  on "$SHARED_URL" DELETE /porras/nobody-b-c-2024 -H "Authorization: Bearer $TOK_A"
  assert_json_error 404
}

@test "with ADMIN_TOKENS set, bets and the course routes stay open" {
  local p
  on "$SHARED_URL" PUT /porra/open/b/c/2024
  assert_json_ok 200
  on "$SHARED_URL" PUT /porras/open-b-c-2024/apuestas/ana --data-binary '{"local": 1, "visitante": 0}'
  assert_json_ok 201
  for p in / /status /all /one/0 /porras /porras/open-b-c-2024 /hitos /hitos/1 /health/ready /openapi.json; do
    on "$SHARED_URL" GET "$p"
    assert_status 200
  done
  on "$SHARED_URL" GET /porras/open-b-c-2024/ganadores
  assert_json_error 409 # no result yet: the route answered, not the guard
}

@test "the token and the Authorization header never reach the log, whatever the answer" {
  pool "$SHARED_URL" secret
  local id
  for id in leak-1 leak-2 leak-3; do
    case $id in
      leak-1) guarded "$SHARED_URL" secret -H "X-Request-Id: $id" -H "Authorization: Bearer $TOK_X" >/dev/null ;;
      leak-2) guarded "$SHARED_URL" secret -H "X-Request-Id: $id" -H "Authorization: Basic $TOK_B" >/dev/null ;;
      leak-3) guarded "$SHARED_URL" secret -H "X-Request-Id: $id" -H "Authorization: Bearer $TOK_A" >/dev/null ;;
    esac
    log_request "$id" >/dev/null
  done
  run grep -c -e "$TOK_A" -e "$TOK_B" -e "$TOK_X" -e Bearer -e Basic -i -e authorization "$SHARED_LOG" "$SHARED_ERR"
  assert_output "$SHARED_LOG:0
$SHARED_ERR:0"
  log_all_json "$SHARED_LOG"
}

@test "porrio token new: KEY=value lines usable as-is, as a .env file and in a shell; exit 0" {
  local out dir
  run --separate-stderr porrio_exec token new
  assert_success
  assert_equal "${#lines[@]}" 2
  assert_regex "${lines[0]}" '^TOKEN=[A-Za-z0-9_-]{43}$'
  assert_regex "${lines[1]}" '^ADMIN_TOKENS=[0-9a-f]{64}$'
  assert_regex "$stderr" 'Authorization: Bearer'
  out=$output
  # the hash is the token's, as sha256sum and `porrio token hash` give it
  eval "$out"
  assert_equal "$ADMIN_TOKENS" "$(sha "$TOKEN")"
  assert_equal "$(printf '%s\n' "$TOKEN" | token_hash)" "$ADMIN_TOKENS"
  # a fresh one each time
  run porrio_exec token new
  [ "${lines[0]}" != "TOKEN=$TOKEN" ] || fail "the same token twice"
  # the output, as it is, is a .env the server takes
  dir=$(mktemp -d "$BATS_TEST_TMPDIR/cwd.XXXXXX")
  printf '%s\n' "$out" >"$dir/.env"
  PORRIO_CWD=$dir porrio_start
  assert_equal "$(jfield "$(log_setting ADMIN_TOKENS)" '.value + " " + .source')" "$ADMIN_TOKENS dotenv"
  pool "$PORRIO_URL" fresh
  assert_equal "$(guarded "$PORRIO_URL" fresh -H "Authorization: Bearer $TOKEN")" "200 204 201"
  assert_equal "$(log_count "$OPEN_WARNING")" 0
  porrio_stop
}

@test "porrio token: bad usage and a malformed token on stdin are exit 2" {
  run --separate-stderr porrio_exec token
  assert_failure 2
  assert_regex "$stderr" 'usage: porrio token new'
  run --separate-stderr porrio_exec token new extra
  assert_failure 2
  run --separate-stderr porrio_exec token rotate
  assert_failure 2
  run --separate-stderr porrio_exec token hash # stdin is /dev/null: no token
  assert_failure 2
  assert_regex "$stderr" 'one token'
  assert_equal "$output" ""
  run --separate-stderr token_hash <<<"two words"
  assert_failure 2
  assert_equal "$output" ""
}

@test "an invalid ADMIN_TOKENS (a token instead of its hash, uppercase hex) is refused at start: exit 2" {
  run --separate-stderr porrio_exec ADMIN_TOKENS="$TOK_A"
  assert_failure 2
  assert_regex "$stderr" "ADMIN_TOKENS=.* \(from env\): must be empty, or a comma-separated list of 1 to 64 SHA-256 hashes"
  run --separate-stderr porrio_exec --admin-tokens "${H_A^^}"
  assert_failure 2
  assert_regex "$stderr" 'ADMIN_TOKENS=.* \(from flag\)'
}

@test "rotation through etcd without restart: a new list applies live, an invalid one is refused, deleting opens" {
  local pfx="auth:" i code
  etcd_start_new
  etcdctl put "${pfx}ADMIN_TOKENS" "$H_A" >/dev/null
  porrio_start ETCD_ENDPOINTS="$ETCD_URL" ETCD_PREFIX="$pfx"
  local pid=$PORRIO_PID
  assert_equal "$(jfield "$(log_setting ADMIN_TOKENS)" .source)" etcd
  log_wait "etcd watch connected"
  for i in 1 2 3 4; do pool "$PORRIO_URL" "rot$i"; done
  auth_status() { status_of -X DELETE -H "Authorization: Bearer $1" "$PORRIO_URL/porras/$2-b-c-2024"; }
  assert_equal "$(auth_status "$TOK_B" rot1)" 403
  assert_equal "$(auth_status "$TOK_A" rot4)" 204

  etcdctl put "${pfx}ADMIN_TOKENS" "$H_B" >/dev/null
  for ((i = 0; i < 50; i++)); do
    code=$(auth_status "$TOK_B" rot1)
    [ "$code" = 403 ] || break
    sleep 0.1
  done
  assert_equal "$code" 204
  assert_equal "$(auth_status "$TOK_A" rot2)" 403
  assert_equal "$(log_count "setting changed")" 1
  assert_equal "$(jfield "$(log_line "setting changed")" '.name + " " + .value + " " + .source')" "ADMIN_TOKENS $H_B etcd"

  # an invalid value (a token, not a hash) is refused: B stays in force
  etcdctl put "${pfx}ADMIN_TOKENS" "$TOK_A" >/dev/null
  log_wait "invalid setting from etcd refused; the previous value stays"
  assert_equal "$(auth_status "$TOK_A" rot2)" 403
  assert_equal "$(auth_status "$TOK_B" rot2)" 204

  # deleted: the fallback (the default, empty) opens the routes, and says so
  etcdctl del "${pfx}ADMIN_TOKENS" >/dev/null
  log_wait "$OPEN_WARNING"
  assert_equal "$(status_of -X DELETE "$PORRIO_URL/porras/rot3-b-c-2024")" 204
  assert_equal "$PORRIO_PID" "$pid"
  porrio_stop
  etcd_stop
}
