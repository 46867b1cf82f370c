#!/usr/bin/env bats
# deploy/replicas/compose.yaml: nginx in front of three porrio replicas and a three-member etcd
# cluster. The tests marked "STORE=etcd" need the replicas to share their state through etcd and
# are skipped while the binary keeps a local store per replica; "TRUSTED_PROXIES" likewise.
load common

setup_file() {
  prepare_images
  export COMPOSE_PROJECT_NAME="porriorep$$" PUBLISH_ADDRESS=127.0.0.1
  export COMPOSE_FILE="$REPO/deploy/replicas/compose.yaml"
  export HTTP_PORT=$(free_port) HTTPS_PORT=$(free_port)
  export REPLICAS_NET=$(free_net) || return 1
  export PORRIO_IMAGE="porrio-replicas-test:$$" NGINX_IMAGE="porrio-nginx-test:$$"
  # set once here: a test runs in a process of its own, whose $$ is not this one's
  export RUN_LABEL="porrio-replicas-test=$$"
  export TLS_DIR="$BATS_FILE_TMPDIR/tls"
  build_image "$PORRIO_IMAGE" # once: the compose file's four porrio services share it
  compose build -q nginx >"$BATS_FILE_TMPDIR/build.log" 2>&1 || { cat "$BATS_FILE_TMPDIR/build.log" >&3; return 1; }
  compose up -d >"$BATS_FILE_TMPDIR/up.log" 2>&1 || { cat "$BATS_FILE_TMPDIR/up.log" >&3; return 1; }
  wait_http "http://127.0.0.1:$HTTP_PORT/health/ready" 60
  # docker, not compose, from here on: one docker-compose 1.29 call costs a second or more
  local svc
  for svc in etcd-1 etcd-2 etcd-3 config porrio-1 porrio-2 porrio-3 nginx; do
    export "CID_${svc//-/_}=$(compose ps -a -q "$svc")"
  done
}

teardown_file() {
  compose down -v >/dev/null 2>&1 || true
  docker ps -aq --filter "label=$RUN_LABEL" | xargs -r docker rm -f >/dev/null
  # --no-prune keeps nginx's layers (the apt-get install) for the next run's build
  docker image rm --no-prune -f "$NGINX_IMAGE" >/dev/null 2>&1 || true
  docker image rm -f "$PORRIO_IMAGE" >/dev/null 2>&1 || true
}

# free_net: the first three numbers of a 10.213.N.0/24 that no Docker network holds
free_net() {
  local used n
  used=" $(docker network ls -q | xargs docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{end}}') "
  for n in $(shuf -i 1-254); do
    [[ $used == *" 10.213.$n.0/24 "* ]] || { echo "10.213.$n"; return 0; }
  done
  return 1
}

cid() { local v="CID_${1//-/_}"; printf '%s\n' "${!v}"; }
logs() { docker logs "$(cid "$1")" 2>&1; }

# wait_healthy SERVICE [SECONDS]
wait_healthy() {
  local i
  for ((i = 0; i < ${2:-30} * 5; i++)); do
    [ "$(docker inspect -f '{{.State.Health.Status}}' "$(cid "$1")")" = healthy ] && return 0
    sleep 0.2
  done
  return 1
}

# nginx_line REQUEST_ID: nginx's access log line of that request
nginx_line() { logs nginx | grep -F "\"request_id\":\"$1\""; }

# needs SETTING [VALUE]: skips the test unless porrio-1 logged that setting (with that value) at start
needs() {
  logs porrio-1 | grep -qF "\"msg\":\"setting\",\"name\":\"$1\",\"value\":\"${2-}" ||
    skip "needs $1 in porrio (this binary does not know it)"
}

# fingerprint PORT: SHA-256 fingerprint of the certificate served on PORT
fingerprint() {
  openssl s_client -connect "127.0.0.1:$1" -servername localhost </dev/null 2>/dev/null |
    openssl x509 -noout -fingerprint -sha256
}

@test "replicas: every container healthy, the etcd members one cluster of three" {
  local svc
  for svc in etcd-1 etcd-2 etcd-3 porrio-1 porrio-2 porrio-3 nginx; do
    wait_healthy "$svc" 30 || fail "$svc: $(docker inspect -f '{{.State.Health.Status}}' "$(cid "$svc")")"
  done
  run docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$(cid config)"
  assert_output 'exited 0'
  run docker exec "$(cid etcd-2)" /usr/local/bin/etcdctl --endpoints=http://127.0.0.1:2379 member list
  assert_success
  assert_equal "$(grep -c ', started, ' <<<"$output")" 3
  run docker exec "$(cid etcd-1)" /usr/local/bin/etcdctl --endpoints=http://127.0.0.1:2379 get porrio:LOG_LEVEL --print-value-only
  assert_output info
}

@test "nginx: read-only root, no capabilities, no-new-privileges, limits, not root; only nginx is published" {
  run docker inspect -f '{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.CapDrop}} {{json .HostConfig.CapAdd}} {{json .HostConfig.SecurityOpt}} {{.HostConfig.PidsLimit}} {{.HostConfig.Memory}}' "$(cid nginx)"
  [[ $output =~ ^true\ \[\"ALL\"\]\ null\ \[\"no-new-privileges:true\"\]\ [1-9][0-9]*\ [1-9][0-9]*$ ]] || fail "$output"
  run docker exec "$(cid nginx)" id -u
  assert_output 33
  local svc
  for svc in etcd-1 porrio-1 porrio-2 porrio-3; do
    run docker inspect -f '{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.CapDrop}} {{json .NetworkSettings.Ports}}' "$(cid "$svc")"
    [[ $output =~ ^true\ \[\"ALL\"\]\  ]] || fail "$svc: $output"
    refute_output --partial HostPort
  done
}

@test "through nginx: the API answers from the replicas, spread over the three" {
  local i
  for i in $(seq 9); do
    run curl -s -D - -H "X-Request-Id: spread-$$-$i" "http://127.0.0.1:$HTTP_PORT/status"
    assert_output --partial '"status":"OK"'
    assert_output --partial 'Server: porrio'
  done
  run sort -u < <(logs nginx | grep -F "\"request_id\":\"spread-$$-" | grep -o '"upstream":"[^"]*"')
  assert_equal "${#lines[@]}" 3
  assert_output --partial "\"upstream\":\"$REPLICAS_NET.11:3000\""
  assert_output --partial "\"upstream\":\"$REPLICAS_NET.13:3000\""
}

@test "nginx serves the files of public/ itself; / stays the replicas' status route" {
  run curl -s -D "$BATS_TEST_TMPDIR/h" -o "$BATS_TEST_TMPDIR/body" "http://127.0.0.1:$HTTP_PORT/index.html"
  run tr -d '\r' <"$BATS_TEST_TMPDIR/h"
  assert_line --partial 'HTTP/1.1 200'
  assert_line --regexp '^Server: nginx'
  assert_line --regexp '^Content-Type: text/html'
  cmp "$BATS_TEST_TMPDIR/body" "$REPO/public/index.html"
  # the headers porrio gives its static files, the same bytes from nginx
  local csp; csp=$(sed -n "/^#define STATIC_CSP/,/frame-ancestors/p" "$REPO/internal/middleware/middleware.c" |
    grep -o '"[^"]*"' | tr -d '"' | tr -d '\n')
  assert_line "Content-Security-Policy: $csp"
  assert_line 'X-Content-Type-Options: nosniff'
  assert_line 'Cache-Control: no-cache'
  run curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $(grep -i '^etag:' "$BATS_TEST_TMPDIR/h" | cut -d' ' -f2 | tr -d '\r')" \
    "http://127.0.0.1:$HTTP_PORT/index.html"
  assert_output 304
  run curl -s -D - "http://127.0.0.1:$HTTP_PORT/"
  assert_output --partial 'Server: porrio'
  assert_output --partial '"status":"OK"'
  run curl -s -D - "http://127.0.0.1:$HTTP_PORT/no/such/thing"
  assert_output --partial 'Server: porrio'
  assert_output --partial '"status":404'
}

@test "HTTPS on the TLS port answers over HTTP/2, and plain HTTP/1.1 too" {
  run curl -sk --http2 -o "$BATS_TEST_TMPDIR/body" -w '%{http_version} %{http_code}' "https://127.0.0.1:$HTTPS_PORT/status"
  assert_output '2 200'
  run cat "$BATS_TEST_TMPDIR/body"
  assert_output --partial '"status":"OK"'
  run curl -sk --http2 -o /dev/null -w '%{http_version} %{http_code}' -X PUT "https://127.0.0.1:$HTTPS_PORT/porra/h2/b/c/2024"
  assert_output '2 200'
  run curl -sk --http1.1 -o /dev/null -w '%{http_version} %{http_code}' "https://127.0.0.1:$HTTPS_PORT/index.html"
  assert_output '1.1 200'
}

@test "nginx's own errors are JSON in the API's form" {
  head -c 1100000 /dev/zero | tr '\0' 'x' >"$BATS_TEST_TMPDIR/big"
  run curl -s -D - -X PUT --data-binary @"$BATS_TEST_TMPDIR/big" "http://127.0.0.1:$HTTP_PORT/porras/a-b-c-2024/apuestas/x"
  assert_output --partial 'HTTP/1.1 413'
  assert_output --partial 'Content-Type: application/json'
  assert_output --partial '"status":413}'
}

@test "one replica stopped: GET and PUT through nginx keep answering 200" {
  docker stop "$(cid porrio-2)" >/dev/null
  local i codes=
  for i in $(seq 12); do
    codes+="$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X PUT "http://127.0.0.1:$HTTP_PORT/porra/down$i/b/c/2024") "
    codes+="$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$HTTP_PORT/status") "
  done
  assert_equal "$codes" "$(printf '200 %.0s' $(seq 24))"
  # what nginx tried on the stopped replica went to another one
  run grep '"uri":"/porra/down' < <(logs nginx)
  assert_line --partial '"status":200'
  refute_output --regexp "\"upstream\":\"$REPLICAS_NET\\.12:3000\""
}

@test "a replica started again gets requests again" {
  docker start "$(cid porrio-2)" >/dev/null
  wait_healthy porrio-2 30
  local i seen=
  for ((i = 0; i < 100 && !seen; i++)); do # nginx leaves a failed replica alone for 5 s
    curl -s -o /dev/null -H "X-Request-Id: back-$$-$i" "http://127.0.0.1:$HTTP_PORT/status"
    nginx_line "back-$$-$i" | grep -q "\"upstream\":\"$REPLICAS_NET.12:3000\"" && seen=1
    sleep 0.2
  done
  [ "$seen" = 1 ] || fail "porrio-2 got no request in 20 s"
}

@test "TRUSTED_PROXIES: the replicas log the client's address as nginx saw it, never a forged one" {
  needs TRUSTED_PROXIES
  local id="xff-$$" nginx_addr porrio_line svc
  curl -s -o /dev/null -H "X-Request-Id: $id" -H 'X-Forwarded-For: 203.0.113.9' "http://127.0.0.1:$HTTP_PORT/status"
  sleep 0.3
  nginx_addr=$(nginx_line "$id" | grep -o '"remote_addr":"[^"]*"')
  [ -n "$nginx_addr" ] || fail "no nginx log line for $id"
  porrio_line=$(for svc in porrio-1 porrio-2 porrio-3; do logs "$svc"; done | grep -F "\"request_id\":\"$id\"")
  [[ $porrio_line == *"$nginx_addr"* ]] || fail "nginx: $nginx_addr; porrio: $porrio_line"
  [[ $porrio_line != *'"remote_addr":"203.0.113.9"'* ]] || fail "forged address logged: $porrio_line"
  [[ $porrio_line != *"\"remote_addr\":\"$REPLICAS_NET.10\""* ]] || fail "nginx's address logged: $porrio_line"
}

@test "STORE=etcd: a pool written through nginx is read back from every replica" {
  needs STORE 'etcd"'
  run curl -s -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$HTTP_PORT/porra/Betis/Sevilla/Liga/2017"
  assert_output 200
  run curl -s -o /dev/null -w '%{http_code}' -X PUT "http://127.0.0.1:$HTTP_PORT/porras/Betis-Sevilla-Liga-2017/apuestas/ana" -d '{"local":2,"visitante":1}'
  assert_output 201
  local svc i
  for svc in porrio-1 porrio-2 porrio-3; do # each replica asked directly, from inside its container
    for ((i = 0; i < 25; i++)); do
      docker exec "$(cid "$svc")" /usr/local/bin/healthcheck http://127.0.0.1:3000/porras/Betis-Sevilla-Liga-2017 && break
      sleep 0.2
    done
    [ "$i" -lt 25 ] || fail "$svc does not have the pool"
  done
  for i in $(seq 6); do
    run curl -s "http://127.0.0.1:$HTTP_PORT/porras/Betis-Sevilla-Liga-2017"
    assert_output --partial '"ana":{"local":2,"visitante":1}'
  done
}

@test "STORE=etcd: a pool's ETag is the same on every replica (If-None-Match, If-Match)" {
  needs STORE 'etcd"'
  curl -s -o /dev/null -X PUT "http://127.0.0.1:$HTTP_PORT/porra/Tag/Sevilla/Liga/2017"
  local tag i
  tag=$(curl -s -D - -o /dev/null "http://127.0.0.1:$HTTP_PORT/porras/Tag-Sevilla-Liga-2017" | tr -d '\r' | sed -n 's/^ETag: //Ip')
  [ -n "$tag" ] || fail "no ETag"
  for i in $(seq 6); do # round robin: each replica twice
    run curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $tag" "http://127.0.0.1:$HTTP_PORT/porras/Tag-Sevilla-Liga-2017"
    assert_output 304
  done
  run curl -s -o /dev/null -w '%{http_code}' -X PUT -H "If-Match: $tag" -d '{"local":1,"visitante":0}' \
    "http://127.0.0.1:$HTTP_PORT/porras/Tag-Sevilla-Liga-2017/apuestas/eva"
  assert_output 201
}

@test "STORE=etcd: with a replica and an etcd member stopped, writes and reads go on" {
  needs STORE 'etcd"'
  docker stop "$(cid porrio-3)" "$(cid etcd-1)" >/dev/null
  local i
  for i in $(seq 6); do
    run curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X PUT "http://127.0.0.1:$HTTP_PORT/porra/quorum$i/b/c/2024"
    assert_output 200
    run curl -s --max-time 10 "http://127.0.0.1:$HTTP_PORT/porras/quorum$i-b-c-2024"
    assert_output --partial "\"ID\":\"quorum$i-b-c-2024\""
  done
  run curl -s --max-time 10 "http://127.0.0.1:$HTTP_PORT/health/ready"
  refute_output --partial unreachable
  docker start "$(cid porrio-3)" "$(cid etcd-1)" >/dev/null
}

@test "the certificate is made at the first start and kept across a restart" {
  local before after
  before=$(fingerprint "$HTTPS_PORT")
  [ -n "$before" ] || fail "no certificate served"
  docker restart "$(cid nginx)" >/dev/null
  wait_http "http://127.0.0.1:$HTTP_PORT/status" 30
  after=$(fingerprint "$HTTPS_PORT")
  assert_equal "$after" "$before"
  run grep -c 'made a self-signed certificate' < <(logs nginx)
  assert_output 1
  run bash -c "openssl s_client -connect 127.0.0.1:$HTTPS_PORT </dev/null 2>/dev/null | openssl x509 -noout -subject -ext subjectAltName"
  assert_output --partial 'CN = localhost'
  assert_output --partial 'IP Address:127.0.0.1'
}

@test "alone, with no replica: a mounted certificate is served as it is; a JSON 502" {
  mkdir -p "$TLS_DIR"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mounted.example \
    -keyout "$TLS_DIR/key.pem" -out "$TLS_DIR/cert.pem" 2>/dev/null
  chmod 755 "$TLS_DIR" && chmod 644 "$TLS_DIR"/*.pem
  local http https want i got=
  http=$(free_port) https=$(free_port)
  want=$(openssl x509 -noout -fingerprint -sha256 -in "$TLS_DIR/cert.pem")
  # the replicas' names point at a port where nothing listens
  docker run -d --label "$RUN_LABEL" --read-only --tmpfs /tmp --cap-drop ALL \
    --add-host porrio-1:127.0.0.1 --add-host porrio-2:127.0.0.1 --add-host porrio-3:127.0.0.1 \
    -v "$TLS_DIR:/etc/nginx/tls:ro" -p "127.0.0.1:$http:8080" -p "127.0.0.1:$https:8443" \
    "$NGINX_IMAGE" >/dev/null
  for ((i = 0; i < 50; i++)); do
    got=$(fingerprint "$https") && [ -n "$got" ] && break
    sleep 0.2
  done
  assert_equal "$got" "$want"
  run ls "$TLS_DIR"
  assert_output "$(printf 'cert.pem\nkey.pem')"
  run curl -s -D - "http://127.0.0.1:$http/status"
  assert_output --partial 'HTTP/1.1 502'
  assert_output --partial 'Content-Type: application/json'
  assert_output --partial '{"error":"no replica answered","status":502}'
}
