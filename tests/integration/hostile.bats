#!/usr/bin/env bats
# Every route attacked (README: HTTP API, Logs, In production): a bounded, seeded storm of ~2,000 hostile requests from a
# raw-socket client (hostile.py, 4 threads, 127.0.0.1 only, a timeout on every socket) against one
# server with WORKERS=2 and MAX_BODY_BYTES=4096: registered routes with random methods, attacked
# path segments (%-encoded random bytes, overlong, "..", %00, %zz, "//", ~8 KB paths, UTF-8 edge
# cases), random request targets (traversal out of STATIC_DIR too), hostile bodies (random bytes,
# truncated JSON, 10,000 '[', huge numbers, duplicate keys, null/true, \u0000, just under/at/over the
# limit), chunked bodies, Expect: 100-continue, pipelining, requests malformed at the HTTP level,
# and slowloris-style partial requests closed early or held open.
#
# Each answer: a listed status (any 5xx fails), the JSON error {"error", "status"} with the JSON
# content type on every error, X-Request-Id (the client's when valid), Allow on 405, and the
# status the client's model of its own pools and milestones predicts. h2o's bare "400 Bad
# Request" is accepted only for requests malformed at the HTTP level on purpose. Should the server
# die, the storm stops and names the requests each thread had in flight. Afterwards: the process is
# alive and ready, everything acknowledged reads back, the log is JSON lines holding each answered
# request once, and SIGTERM ends it with status 0 (teardown_file). The summary (answers by status,
# by kind of attack) is printed as TAP comments; hostile.py says more on each check.
#
# HOSTILE_SEED changes the seed (default fixed), HOSTILE_REQUESTS the number of requests (the
# coverage the checks demand scales with it).

load helpers

setup_file() {
  local site="$BATS_FILE_TMPDIR/site"
  mkdir -p "$site/www"
  # a static directory with one file, and next to it a file no path may reach
  printf '<!doctype html><title>porrio</title><p>hostile test index</p>\n' >"$site/www/index.html"
  export HOSTILE_SECRET="secret-$RANDOM-$RANDOM-must-never-be-served"
  printf '%s\n' "$HOSTILE_SECRET" >"$site/secret.txt"
  export HOSTILE_INDEX="$site/www/index.html"
  export HOSTILE_STATE="$BATS_FILE_TMPDIR/state.json" HOSTILE_SUMMARY="$BATS_FILE_TMPDIR/summary.txt"
  porrio_start WORKERS=2 MAX_BODY_BYTES=4096 HITOS_FILE="$REPO_ROOT/data/hitos.json" \
    DATA_DIR="$site/data" STATIC_DIR="$site/www"
  export SHARED_PID=$PORRIO_PID SHARED_PORT=$PORRIO_PORT SHARED_URL=$PORRIO_URL SHARED_LOG=$PORRIO_LOG
}

teardown_file() {
  local rc=0
  # SIGTERM: exit status 0 (porrio_stop), then the whole log, shutdown lines included, is JSON
  porrio_teardown_file "$SHARED_PID" || rc=1
  log_all_json "$SHARED_LOG" || rc=1
  return $rc
}

teardown() { porrio_cleanup; }

# porrio_dump (helpers.bash), shortened: the storm's log lines hold ~8 KB URIs by the thousand.
porrio_dump() {
  echo "--- porrio stdout ($PORRIO_LOG), last 30 lines, each cut to 400 bytes"
  tail -n 30 "$PORRIO_LOG" 2>/dev/null | cut -c1-400
  echo "--- porrio stderr ($PORRIO_ERR)"
  cat "$PORRIO_ERR" 2>/dev/null
}

hostile() { timeout 60 "$PYTHON" "$BATS_TEST_DIRNAME/hostile.py" "$@" 3>&-; }

@test "storm: ~2000 seeded hostile requests; every answer a listed status, JSON errors, the predicted status" {
  run hostile storm --port "$SHARED_PORT" --seed "${HOSTILE_SEED:-20240607}" \
    --requests "${HOSTILE_REQUESTS:-2000}" --threads 4 --max-body 4096 --max-seconds 25 \
    --index "$HOSTILE_INDEX" --secret "$HOSTILE_SECRET" --state "$HOSTILE_STATE" --summary "$HOSTILE_SUMMARY"
  [ -f "$HOSTILE_SUMMARY" ] && sed 's/^/# /' "$HOSTILE_SUMMARY" >&3
  [ "$status" = 0 ] || fail "$output"
  [ -f "$HOSTILE_STATE" ] || fail "the storm wrote no state file"
}

@test "after the storm: the process is alive and /health/ready answers 200" {
  kill -0 "$SHARED_PID" 2>/dev/null || fail "porrio (pid $SHARED_PID) is gone (its exit status: see teardown_file)
$(porrio_dump)"
  http_fetch "$SHARED_URL/health/ready"
  assert_json_ok 200
  run jq -r .status <<<"$BODY"
  assert_output ready
  # and a new write still goes through
  http_fetch "$SHARED_URL/porra/after/storm/Liga/2024" -X PUT
  [ "$STATUS" = 201 ] || [ "$STATUS" = 200 ] || fail "PUT after the storm: $STATUS $BODY"
  http_fetch "$SHARED_URL/porras/after-storm-Liga-2024" -X DELETE
  assert_status 204
}

@test "after the storm: nothing acknowledged was lost (each 201/200 pool and milestone reads back as acknowledged)" {
  [ -f "$HOSTILE_STATE" ] || fail "no state from the storm"
  run hostile verify --port "$SHARED_PORT" --state "$HOSTILE_STATE"
  [ "$status" = 0 ] || fail "$output"
  # the storm did acknowledge things, so the check above checked something
  local n=${HOSTILE_REQUESTS:-2000}
  run jq --argjson p $((n / 100)) --argjson h $((n / 400)) '(.pools | length) >= $p and (.hitos | length) >= $h' \
    "$HOSTILE_STATE"
  assert_output true
}

@test "after the storm: every stdout line is one JSON object; each answered request logged once, with every field the README's Logs section lists, its id, status and method" {
  [ -f "$HOSTILE_STATE" ] || fail "no state from the storm"
  # the event loops flush their log lines within a loop turn (100 ms): wait for the count to settle
  local before=-1 now i
  for ((i = 0; i < 50; i++)); do
    now=$(log_count request "$SHARED_LOG")
    [ "$now" = "$before" ] && break
    before=$now
    sleep 0.2
  done
  log_all_json "$SHARED_LOG"
  run hostile logs --log "$SHARED_LOG" --state "$HOSTILE_STATE"
  [ "$status" = 0 ] || fail "$output"
}
