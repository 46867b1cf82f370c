#!/usr/bin/env bats
# The limits of the state (README: Settings, MAX_POOLS, MAX_BETS_PER_POOL, MAX_HITOS) against the
# real binary: a write past one is a 409 JSON error naming the setting and changes nothing, what
# is already there is never refused (an existing pool, a replaced bet), and an invalid limit
# stops the start with exit 2. Their live change from etcd: etcd.bats.

load helpers

teardown() { porrio_cleanup; }

HITOS_JSON="$REPO_ROOT/data/hitos.json"
SCORE='{"local":1,"visitante":0}'

# fetch PATH [CURL_ARGS...]: http_fetch to the test's server, JSON bodies.
fetch() { http_fetch "$PORRIO_URL$1" -H 'Content-Type: application/json' "${@:2}"; }

@test "MAX_POOLS=2: a third pool 409 naming MAX_POOLS and not created; an existing one 200; a deletion makes room" {
  porrio_start MAX_POOLS=2 HITOS_FILE="$HITOS_JSON" DATA_DIR="$BATS_TEST_TMPDIR/data"
  fetch /porra/a/b/c/1 -X PUT
  assert_json_ok 200
  fetch /porra/a/b/c/2 -X PUT
  assert_json_ok 200
  fetch /porra/a/b/c/3 -X PUT
  assert_json_error 409 "MAX_POOLS reached: 2 pools, at most 2"
  [ -z "$(header Location)" ] || fail "a refused pool with a Location: $(header Location)"
  fetch /porras/a-b-c-3
  assert_json_error 404
  fetch /porra/a/b/c/1 -X PUT
  assert_json_ok 200
  # the path is checked first: a bad segment is still 400
  fetch /porra/a/b/c/x-y -X PUT
  assert_json_error 400 year
  fetch /porras/a-b-c-2 -X DELETE
  assert_status 204
  fetch /porra/a/b/c/3 -X PUT
  assert_json_ok 200
  fetch /porras
  assert_equal "$(jq -c '[.[].ID]' <<<"$BODY")" '["a-b-c-1","a-b-c-3"]'
  porrio_stop
}

@test "MAX_BETS_PER_POOL=2: a third bettor 409 naming the limit; replacing a bet 200; other pools unaffected" {
  porrio_start MAX_BETS_PER_POOL=2 HITOS_FILE="$HITOS_JSON" DATA_DIR="$BATS_TEST_TMPDIR/data"
  fetch /porra/p/b/c/1 -X PUT
  fetch /porra/q/b/c/1 -X PUT
  fetch /porras/p-b-c-1/apuestas/ana -X PUT --data-binary "$SCORE"
  assert_json_ok 201
  fetch /porras/p-b-c-1/apuestas/bea -X PUT --data-binary "$SCORE"
  assert_json_ok 201
  fetch /porras/p-b-c-1/apuestas/carla -X PUT --data-binary "$SCORE"
  assert_json_error 409 "MAX_BETS_PER_POOL reached: 2 bets in this pool, at most 2"
  fetch /porras/p-b-c-1/apuestas/ana -X PUT --data-binary '{"local":3,"visitante":3}'
  assert_json_ok 200
  fetch /porras/q-b-c-1/apuestas/carla -X PUT --data-binary "$SCORE"
  assert_json_ok 201
  # the body is checked before the limit
  fetch /porras/p-b-c-1/apuestas/carla -X PUT --data-binary '{"local":100,"visitante":0}'
  assert_json_error 400 local
  fetch /porras/p-b-c-1
  assert_equal "$(jq -c .apuestas <<<"$BODY")" '{"ana":{"local":3,"visitante":3},"bea":{"local":1,"visitante":0}}'
  porrio_stop
}

@test "MAX_HITOS=3 counts the file's milestones: one added, the next 409 naming MAX_HITOS; a taken file is still 409 for that" {
  porrio_start MAX_HITOS=3 HITOS_FILE="$HITOS_JSON" DATA_DIR="$BATS_TEST_TMPDIR/data"
  fetch /hitos -X POST --data-binary '{"file":"2.Uno","title":"t","fecha":"1/1/2024"}'
  assert_json_ok 201
  fetch /hitos -X POST --data-binary '{"file":"3.Dos","title":"t","fecha":"1/1/2024"}'
  assert_json_error 409 "MAX_HITOS reached: 3 milestones, at most 3"
  fetch /hitos -X POST --data-binary '{"file":"2.Uno","title":"t","fecha":"1/1/2024"}'
  assert_json_error 409 "already exists"
  fetch /hitos
  assert_equal "$(jq -c '[.[].file]' <<<"$BODY")" '["0.Repositorio","1.Infraestructura","2.Uno"]'
  porrio_stop
}

@test "an invalid limit (0, -1, x, over 100000000) is exit 2 naming the setting" {
  local v k
  for k in MAX_POOLS MAX_BETS_PER_POOL MAX_HITOS; do
    for v in 0 -1 x 100000001; do
      run --separate-stderr porrio_exec "$k=$v"
      assert_equal "$status" 2
      assert_regex "$stderr" "$k=$v \\(from env\\): must be an integer from 1 to 100000000"
    done
  done
}
