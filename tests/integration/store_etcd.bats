#!/usr/bin/env bats
# STORE=etcd (README: Replicas; docs/store.md, "The state in etcd"): porrio replicas sharing their
# state through a real three-member etcd cluster on loopback. Writes spread over the replicas;
# the rules kept across them (a bet after a result set elsewhere, one pool and one milestone file
# created once, If-Match); kill -9 of a replica, the leader stopped, a majority stopped; a replica
# whose watch fell behind a compaction. The tests that stop etcd members come last and leave the
# cluster whole.

load helpers
load etcd

setup_file() {
  etcd_cluster_start || return 1
  local i
  for i in 0 1 2; do
    porrio_start STORE=etcd "ETCD_ENDPOINTS=$ETCD_URLS" ETCD_PREFIX=t: || return 1
    export "R${i}_PORT=$PORRIO_PORT" "R${i}_PID=$PORRIO_PID" "R${i}_LOG=$PORRIO_LOG"
  done
}

teardown_file() {
  local rc=0
  porrio_teardown_file "$R0_PID" "$R1_PID" "$R2_PID" || rc=1
  etcd_cluster_load && etcd_cluster_stop
  return $rc
}

setup() { etcd_cluster_load; }

teardown() {
  porrio_cleanup
  etcd_cluster_heal # a test that failed with members stopped leaves the next ones a whole cluster
}

# url N PATH: replica N's URL for PATH.
url() { local v="R$1_PORT"; echo "http://127.0.0.1:${!v}$2"; }

# put N PATH [BODY]: PUT through replica N; prints the status.
put() { status_of -X PUT "$(url "$1" "$2")" ${3:+-d "$3"}; }

# store_cmd [NAME=VALUE...] -- ARG...: `porrio ARG...` in a new directory, killed after 60 s (an
# import into etcd is one transaction a line).
store_cmd() {
  local envs=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  shift
  _PORRIO_ADD_PORT=0 _porrio_cmd "${envs[@]}"
  (cd "$(mktemp -d "$BATS_TEST_TMPDIR/exec.XXXXXX")" && exec timeout 60 "${PORRIO_CMD[@]}" "$@") </dev/null 3>&-
}

# listings_identical: GET /porras of the three replicas are the same bytes (within 1 s).
listings_identical() {
  local n a b c
  for ((n = 0; n < 20; n++)); do
    a=$(curl -s --max-time 2 "$(url 0 /porras)") b=$(curl -s --max-time 2 "$(url 1 /porras)")
    c=$(curl -s --max-time 2 "$(url 2 /porras)")
    [ "$a" = "$b" ] && [ "$b" = "$c" ] && return 0
    sleep 0.05
  done
  echo "listings differ: ${#a} ${#b} ${#c} bytes" >&2
  return 1
}

@test "writes spread over three replicas: every acknowledged one is on all of them, listings byte-identical within 1 s" {
  run "$PYTHON" "$BATS_TEST_DIRNAME/replicas.py" load "$BATS_TEST_TMPDIR/acked.json" 4 12 "$R0_PORT" "$R1_PORT" "$R2_PORT"
  assert_success
  assert_output --regexp '^acked [1-9][0-9]* statuses \{("20[01]": [0-9]+(, )?)+\} errors 0$'
  run "$PYTHON" "$BATS_TEST_DIRNAME/replicas.py" check "$BATS_TEST_TMPDIR/acked.json" "$R0_PORT" "$R1_PORT" "$R2_PORT"
  assert_success
  assert_output --partial "identical after"
}

@test "a bet after a result set through another replica is refused with 409" {
  for round in 1 2 3 4 5; do
    [ "$(put 0 "/porra/a$round/b/copa/2025")" = 200 ]
    [ "$(put 1 "/porras/a$round-b-copa-2025/resultado" '{"local":1,"visitante":0}')" = 200 ]
    http_fetch "$(url 2 "/porras/a$round-b-copa-2025/apuestas/ana")" -X PUT -d '{"local":1,"visitante":0}'
    [ "$STATUS" = 409 ]
    assert_equal "$(jq -r .error <<<"$BODY")" "betting is closed: the result is set"
  done
  listings_identical
  run curl -s "$(url 2 /porras/a5-b-copa-2025)"
  assert_equal "$(jq -c .apuestas <<<"$output")" "{}"
}

@test "one pool created at once through the three replicas is created once" {
  local i
  for i in 0 1 2; do (put "$i" /porra/x/y/liga/2030 >"$BATS_TEST_TMPDIR/s$i") & done
  wait
  for i in 0 1 2; do assert_equal "$(cat "$BATS_TEST_TMPDIR/s$i")" 200; done
  listings_identical
  run etcdctl get t:data/pools/x-y-liga-2030 -w json
  assert_equal "$(jq -r '.kvs[0].version' <<<"$output")" 1 # put once: the other two found it there
  assert_equal "$(curl -s "$(url 1 /porras)" | jq '[.[] | select(.ID == "x-y-liga-2030")] | length')" 1
}

@test "one milestone file posted at once through the three replicas: one 201, two 409; indexes have no gap" {
  local i
  for i in 0 1 2; do
    (status_of -X POST "$(url "$i" /hitos)" -d '{"file":"same.md","title":"T","fecha":"1/2/2024"}'; echo) >"$BATS_TEST_TMPDIR/same$i" &
    (status_of -X POST "$(url "$i" /hitos)" -d "{\"file\":\"own$i.md\",\"title\":\"T$i\",\"fecha\":\"1/2/2024\"}"; echo) >"$BATS_TEST_TMPDIR/own$i" &
  done
  wait
  run cat "$BATS_TEST_TMPDIR"/same0 "$BATS_TEST_TMPDIR"/same1 "$BATS_TEST_TMPDIR"/same2
  assert_equal "$(sort <<<"$output" | tr '\n' ' ')" "201 409 409 "
  for i in 0 1 2; do assert_equal "$(cat "$BATS_TEST_TMPDIR/own$i")" 201; done
  for i in 0 1 2; do
    run curl -s "$(url "$i" /hitos)"
    assert_equal "$(jq '[.[] | .file] | sort' <<<"$output" | tr -d ' \n')" '["own0.md","own1.md","own2.md","same.md"]'
  done
  for i in 0 1 2 3; do [ "$(status_of "$(url 2 "/hitos/$i")")" = 200 ]; done
  [ "$(status_of "$(url 2 /hitos/4)")" = 404 ]
}

@test "If-Match with a tag read on another replica" {
  [ "$(put 0 /porra/m/n/liga/2031)" = 200 ]
  [ "$(put 0 /porras/m-n-liga-2031/apuestas/ana '{"local":1,"visitante":1}')" = 201 ]
  http_fetch "$(url 0 /porras/m-n-liga-2031)"
  local tag; tag=$(grep -i '^etag:' <<<"$HDRS" | cut -d' ' -f2-)
  http_fetch "$(url 1 /porras/m-n-liga-2031)"
  assert_equal "$(grep -i '^etag:' <<<"$HDRS" | cut -d' ' -f2-)" "$tag" # the same version, the same tag
  http_fetch "$(url 1 /porras/m-n-liga-2031/apuestas/luis)" -X PUT -H "If-Match: $tag" -d '{"local":2,"visitante":0}'
  assert_equal "$STATUS" 201
  http_fetch "$(url 2 /porras/m-n-liga-2031/apuestas/eva)" -X PUT -H "If-Match: $tag" -d '{"local":0,"visitante":0}'
  assert_equal "$STATUS" 412 # the pool changed through replica 1
}

@test "a write on a pool etcd lacks is 404 when etcd's newest revision is another prefix's" {
  etcdctl put other:moved on >/dev/null # the store's revision moves past every key under t:
  http_fetch "$(url 0 /porras/nadie-x-liga-2031/apuestas/ana)" -X PUT -d '{"local":1,"visitante":1}'
  assert_json_error 404
  http_fetch "$(url 1 /porras/nadie-x-liga-2031)" -X DELETE
  assert_json_error 404
  etcdctl del other:moved >/dev/null
}

@test "an If-Match naming a version no replica reached is 412 and leaves the view's lag alone" {
  [ "$(put 2 /porra/f/g/liga/2031)" = 200 ]
  http_fetch "$(url 2 /porras/f-g-liga-2031)"
  local tag; tag=$(grep -i '^etag:' <<<"$HDRS" | cut -d' ' -f2-)
  http_fetch "$(url 2 /porras/f-g-liga-2031/apuestas/ana)" -X PUT -H "If-Match: ${tag%-p*}-p9000000000000000000\"" \
    -d '{"local":1,"visitante":1}'
  assert_json_error 412
  run curl -s "$(url 2 /metrics)"
  assert_output --partial 'porrio_store_view_lag_revisions 0'
}

@test "a replica started later loads the whole state and shows what the others show" {
  porrio_start STORE=etcd "ETCD_ENDPOINTS=$ETCD_URLS" ETCD_PREFIX=t:
  run curl -s "$PORRIO_URL/porras"
  assert_equal "$output" "$(curl -s "$(url 0 /porras)")"
  run curl -s "$PORRIO_URL/metrics"
  assert_output --regexp 'porrio_store_view_revision [1-9][0-9]*'
  assert_output --partial 'porrio_store_view_lag_revisions 0'
  run curl -s "$PORRIO_URL/health/ready"
  assert_equal "$output" '{"status":"ready","writable":true,"store":"ok"}'
  porrio_stop
}

@test "STORE=etcd needs ETCD_ENDPOINTS; STORE takes local or etcd" {
  run porrio_exec STORE=etcd
  assert_equal "$status" 2
  assert_output --partial "STORE=etcd (from env) needs ETCD_ENDPOINTS"
  run porrio_exec STORE=postgres
  assert_equal "$status" 2
  assert_output --partial "STORE"
}

@test "porrio store export / import: the replicas' state into a local store and into a new prefix, the same listings" {
  local dir="$BATS_TEST_TMPDIR" want
  [ "$(put 0 /porra/exp/imp/liga/2050)" = 200 ]
  [ "$(put 1 /porras/exp-imp-liga-2050/apuestas/ana '{"local":2,"visitante":0}')" = 201 ]
  listings_identical
  want=$(curl -s "$(url 0 /porras)")
  run store_cmd STORE=etcd "ETCD_ENDPOINTS=$ETCD_URLS" ETCD_PREFIX=t: -- store export "$dir/state.jsonl"
  assert_success
  run store_cmd "DATA_DIR=$dir/var" -- store import "$dir/state.jsonl"
  assert_success
  PORRIO_CWD=$dir porrio_start "DATA_DIR=$dir/var"
  assert_equal "$(curl -s "$PORRIO_URL/porras")" "$want"
  porrio_stop
  run store_cmd "DATA_DIR=$dir/var" -- store export "$dir/local.jsonl"
  assert_success
  run store_cmd STORE=etcd "ETCD_ENDPOINTS=$ETCD_URLS" ETCD_PREFIX=copy: -- store import "$dir/local.jsonl"
  assert_success
  porrio_start STORE=etcd "ETCD_ENDPOINTS=$ETCD_URLS" ETCD_PREFIX=copy:
  assert_equal "$(curl -s "$PORRIO_URL/porras")" "$want"
  porrio_stop
  run store_cmd STORE=etcd "ETCD_ENDPOINTS=$ETCD_URLS" ETCD_PREFIX=copy: -- store import "$dir/local.jsonl"
  assert_equal "$status" 2 # not empty: only with --merge
}

@test "keys put under data/ by hand that are not the state's are skipped with a warning; the replicas go on" {
  local before; before=$(curl -s "$(url 0 /porras)")
  etcdctl put t:data/pools/a-b-c-2060 '{"local":"x","visitante":"b","competition":"c","year":"2060"}' >/dev/null
  etcdctl put t:data/pools/d-e-f-2060 'not json' >/dev/null
  etcdctl put t:data/pools/d-e-f-2060/bets/ana '{"local":"1"}' >/dev/null
  etcdctl put t:data/hitos/0000000099 '{"file":"x.md"}' >/dev/null
  etcdctl put t:data/whatever 'x' >/dev/null
  local n
  for ((n = 0; n < 50; n++)); do
    [ "$(grep -c '"msg":"store".*etcd key t:data/' "$R1_LOG" || true)" -ge 4 ] && break
    sleep 0.1
  done
  run grep -c '"msg":"store".*etcd key t:data/' "$R1_LOG"
  [ "$output" -ge 4 ]
  assert_equal "$(curl -s "$(url 1 /porras)")" "$before"
  [ "$(status_of "$(url 1 /porras/a-b-c-2060)")" = 404 ]
  [ "$(put 1 /porra/ok/after/liga/2060)" = 200 ] # and writes go on
  listings_identical
  etcdctl del --prefix t:data/pools/a-b-c-2060 >/dev/null
  etcdctl del --prefix t:data/pools/d-e-f-2060 >/dev/null
  etcdctl del t:data/hitos/0000000099 t:data/whatever >/dev/null
}

@test "kill -9 of a replica during writes: every write it acknowledged is on the others" {
  porrio_start STORE=etcd "ETCD_ENDPOINTS=$ETCD_URLS" ETCD_PREFIX=t:
  "$PYTHON" "$BATS_TEST_DIRNAME/replicas.py" load "$BATS_TEST_TMPDIR/acked.json" 3 8 "$PORRIO_PORT" "$R0_PORT" \
    >"$BATS_TEST_TMPDIR/load.out" &
  local load=$!
  sleep 1.2
  kill -KILL "$PORRIO_PID"
  wait "$load"
  run "$PYTHON" "$BATS_TEST_DIRNAME/replicas.py" check "$BATS_TEST_TMPDIR/acked.json" "$R0_PORT" "$R1_PORT" "$R2_PORT"
  assert_success
}

@test "the etcd leader stopped during writes: no acknowledged write lost, writes work again within 5 s" {
  "$PYTHON" "$BATS_TEST_DIRNAME/replicas.py" load "$BATS_TEST_TMPDIR/acked.json" 4 8 "$R0_PORT" "$R1_PORT" "$R2_PORT" \
    >"$BATS_TEST_TMPDIR/load.out" &
  local load=$! leader
  sleep 1
  leader=$(etcd_leader)
  etcd_member_stop "$leader"
  local stopped=$EPOCHREALTIME n ok=0
  for ((n = 0; n < 50; n++)); do
    [ "$(put $(((leader + 1) % 3)) /porra/after/leader/liga/2040)" = 200 ] && { ok=1; break; }
    sleep 0.1
  done
  [ "$ok" = 1 ]
  wait "$load"
  cat "$BATS_TEST_TMPDIR/load.out"
  grep -q ' errors 0$' "$BATS_TEST_TMPDIR/load.out"
  run "$PYTHON" "$BATS_TEST_DIRNAME/replicas.py" check "$BATS_TEST_TMPDIR/acked.json" "$R0_PORT" "$R1_PORT" "$R2_PORT"
  assert_success
  etcd_member_resume "$leader"
  _etcd_member_healthy "$leader"
}

@test "etcd frozen: a write whose client left and a waiting one end; the replica goes on and stops cleanly" {
  porrio_start STORE=etcd "ETCD_ENDPOINTS=$ETCD_URLS" ETCD_PREFIX=t:
  local i
  for i in 0 1 2; do kill -STOP "${ETCD_M_PID[$i]}"; done
  # the first client gives up while its write waits for etcd; the second waits for the answer
  curl -s -o /dev/null --max-time 0.3 -X PUT "$PORRIO_URL/porra/left/early/liga/2043" || true
  http_fetch "$PORRIO_URL/porra/waited/frozen/liga/2043" -X PUT --max-time 10
  for i in 0 1 2; do kill -CONT "${ETCD_M_PID[$i]}"; done
  assert_equal "$STATUS" 503
  [[ "$(jq -r .error <<<"$BODY")" == *"did not answer"* ]]
  assert_equal "$(status_of "$PORRIO_URL/status")" 200
  local ok=0 n
  for ((n = 0; n < 100; n++)); do
    [ "$(status_of -X PUT "$PORRIO_URL/porra/after/thaw/liga/2043")" = 200 ] && { ok=1; break; }
    sleep 0.1
  done
  [ "$ok" = 1 ]
  porrio_stop # waits for no write: every held answer was finished
}

@test "a majority of etcd stopped: writes 503, reads 200, ready says unreachable; back: writes again" {
  local before warned healed
  before=$(curl -s "$(url 0 /porras)")
  warned=$(grep -c "etcd unreachable: writes answer 503" "$R0_LOG" || true)
  healed=$(grep -c "etcd reachable again: writes are taken" "$R0_LOG" || true)
  etcd_member_stop 1
  etcd_member_stop 2
  local n
  for ((n = 0; n < 150; n++)); do # no write needed: the watch ends when its member loses the leader
    [ "$(curl -s "$(url 2 /health/ready)")" = '{"status":"ready","writable":false,"store":"unreachable"}' ] && break
    sleep 0.1
  done
  run curl -s "$(url 2 /health/ready)"
  assert_equal "$output" '{"status":"ready","writable":false,"store":"unreachable"}'
  http_fetch "$(url 0 /porra/no/quorum/liga/2041)" -X PUT
  assert_equal "$STATUS" 503
  assert_equal "$(jq -r .status <<<"$BODY")" 503
  assert_equal "$(curl -s "$(url 0 /porras)")" "$before"
  run curl -s "$(url 0 /health/ready)"
  assert_equal "$output" '{"status":"ready","writable":false,"store":"unreachable"}'
  [ "$(put 0 /porra/no/quorum2/liga/2041)" = 503 ]
  [ "$(grep -c "etcd unreachable: writes answer 503 and reads come from this replica's view" "$R0_LOG")" = $((warned + 1)) ]
  etcd_member_resume 1
  etcd_member_resume 2
  local ok=0
  for ((n = 0; n < 150; n++)); do
    [ "$(put 0 /porra/quorum/back/liga/2041)" = 200 ] && { ok=1; break; }
    sleep 0.1
  done
  [ "$ok" = 1 ]
  [ "$(grep -c "etcd reachable again: writes are taken" "$R0_LOG")" = $((healed + 1)) ]
  run curl -s "$(url 0 /health/ready)"
  assert_equal "$output" '{"status":"ready","writable":true,"store":"ok"}'
  [ "$(put 1 /porras/quorum-back-liga-2041/apuestas/ana '{"local":1,"visitante":1}')" = 201 ]
  listings_identical
}

@test "a replica whose watch fell behind a compaction reads the state again" {
  porrio_start STORE=etcd "ETCD_ENDPOINTS=${ETCD_M_URL[2]}" ETCD_PREFIX=t:
  etcd_member_stop 2
  [ "$(put 0 /porra/while/away/liga/2042)" = 200 ]
  [ "$(put 0 /porras/while-away-liga-2042/apuestas/ana '{"local":3,"visitante":3}')" = 201 ]
  [ "$(put 1 /porra/while/away2/liga/2042)" = 200 ]
  local rev; rev=$(etcdctl --endpoints="${ETCD_M_URL[0]}" get t:data/pools/while-away2-liga-2042 -w json | jq -r .header.revision)
  etcdctl --endpoints="${ETCD_M_URL[0]}" compact "$rev" >/dev/null
  etcd_member_resume 2
  _etcd_member_healthy 2
  local n
  for ((n = 0; n < 100; n++)); do
    [ "$(curl -s "$PORRIO_URL/porras")" = "$(curl -s "$(url 0 /porras)")" ] && break
    sleep 0.1
  done
  assert_equal "$(curl -s "$PORRIO_URL/porras")" "$(curl -s "$(url 0 /porras)")"
  run curl -s "$PORRIO_URL/porras/while-away-liga-2042"
  assert_equal "$(jq -c .apuestas.ana <<<"$output")" '{"local":3,"visitante":3}'
  porrio_stop
}
