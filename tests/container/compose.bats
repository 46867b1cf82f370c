#!/usr/bin/env bats
# compose.yaml: etcd, the one-shot config service, porrio reading its settings from etcd.
load common

setup_file() {
  prepare_images
  export COMPOSE_PROJECT_NAME="porriotest$$" PUBLISH_ADDRESS=127.0.0.1
  export PORT=$(free_port) LOG_LEVEL=info WORKERS=2
  export PORRIO_IMAGE="porrio-compose-test:$$"
  cd "$REPO"
  compose up -d --build >"$BATS_FILE_TMPDIR/up.log" 2>&1 || { cat "$BATS_FILE_TMPDIR/up.log" >&3; return 1; }
  wait_http "http://127.0.0.1:$PORT/health/ready" 60
}

teardown_file() {
  cd "$REPO"
  compose down -v >/dev/null 2>&1 || true
  docker image rm -f "$PORRIO_IMAGE" >/dev/null 2>&1 || true
}

@test "compose up: porrio answers on the published port" {
  run curl -s "http://127.0.0.1:$PORT/status"
  assert_output --partial '"status":"OK"'
  run curl -s -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$PORT/porra/a/b/c/2024"
  assert_output 200
}

@test "the settings come from etcd, put there by the config service" {
  cd "$REPO"
  run compose ps -a config
  assert_output --partial 'Exit 0'
  run compose logs --no-color porrio
  assert_output --partial "\"name\":\"PORT\",\"value\":\"$PORT\",\"source\":\"etcd\""
  assert_output --partial '"name":"WORKERS","value":"2","source":"etcd"'
  assert_output --partial '"name":"LOG_LEVEL","value":"info","source":"etcd"'
}

@test "an etcdctl put of LOG_LEVEL changes the running service" {
  cd "$REPO"
  curl -s -o /dev/null "http://127.0.0.1:$PORT/status?before"
  compose exec -T etcd /usr/local/bin/etcdctl --endpoints=http://127.0.0.1:2379 put porrio:LOG_LEVEL warn
  for i in $(seq 20); do
    compose logs --no-color porrio | grep -q '"msg":"setting changed","name":"LOG_LEVEL","value":"warn"' && break
    sleep 0.2
  done
  curl -s -o /dev/null "http://127.0.0.1:$PORT/status?after"
  sleep 0.3
  run compose logs --no-color porrio
  assert_output --partial '"msg":"setting changed","name":"LOG_LEVEL","value":"warn"'
  assert_output --partial '"uri":"/status?before"'
  refute_output --partial '"uri":"/status?after"'
}

@test "compose down -v leaves nothing behind" {
  cd "$REPO"
  compose down -v >/dev/null 2>&1
  run docker ps -a --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME" -q
  assert_output ''
  run docker volume ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"
  assert_output ''
  run docker network ls -q --filter "label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"
  assert_output ''
}
