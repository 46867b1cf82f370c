#!/usr/bin/env bats
# deploy/porrio.service, the systemd unit of README: In production: systemd's own checks accept
# it without a warning, its sandbox rates "OK" or better, and the settings it gives are valid.

load helpers

UNIT=$REPO_ROOT/deploy/porrio.service

# The unit as installed, but for ExecStart pointing at this build (verify checks that it runs).
setup() {
  skip_if_sanitizer "the unit runs the shipped static build/porrio, checked by make test"
  sed "s|^ExecStart=/usr/local/bin/porrio|ExecStart=$REPO_ROOT/build/porrio|" "$UNIT" >"$BATS_TEST_TMPDIR/porrio.service"
}

@test "systemd-analyze verify: the unit loads without a single warning" {
  run --separate-stderr systemd-analyze verify "$BATS_TEST_TMPDIR/porrio.service"
  assert_success
  assert_equal "$stderr" ""
  assert_output ""
}

@test "a unit with a mistake is reported by the same check (the check can fail)" {
  sed 's/^Restart=on-failure/Restart=sometimes/' "$BATS_TEST_TMPDIR/porrio.service" >"$BATS_TEST_TMPDIR/bad.service"
  run --separate-stderr systemd-analyze verify "$BATS_TEST_TMPDIR/bad.service"
  [[ $stderr == *"restart specifier"* ]] || fail "no complaint about Restart=sometimes: $stderr"
}

@test "systemd-analyze security --offline=yes: overall exposure OK or better" {
  run systemd-analyze security --offline=yes "$UNIT"
  local level
  level=$(grep -o 'Overall exposure level for porrio.service: [0-9.]* [A-Z]*' <<<"$output")
  [[ $level =~ :\ ([0-9.]+)\ (PERFECT|SAFE|OK)$ ]] || fail "exposure: ${level:-not reported}"
}

@test "the unit restarts on failure, runs as a dynamic user, writes only its state directory" {
  run grep -E '^(Restart=on-failure|DynamicUser=yes|ProtectSystem=strict|StateDirectory=porrio|SystemCallFilter=@system-service|NoNewPrivileges=yes)$' "$UNIT"
  assert_equal "${#lines[@]}" 6
}

@test "the settings the unit sets are valid: porrio config list accepts them" {
  local env
  env=$(sed -n 's/^Environment=//p' "$UNIT" | tr ' ' '\n')
  [ -n "$env" ]
  # shellcheck disable=SC2086
  run env -i $env "$REPO_ROOT/build/porrio" config list
  assert_success
  assert_line --regexp $'^DATA_DIR\t/var/lib/porrio\tenv'
  assert_line --regexp $'^ETCD_ENDPOINTS\t\tenv'
}

# syscalls GROUP: every system call of systemd's group GROUP, nested groups expanded.
syscalls() {
  systemd-analyze syscall-filter "$1" | sed 1d | grep -vE '^\s*(#|$)' | tr -d ' ' | while read -r s; do
    case $s in @*) syscalls "$s" ;; *) echo "$s" ;; esac
  done
}

@test "every system call porrio makes (start, writes, reads, SIGTERM) passes the unit's SystemCallFilter" {
  command -v strace >/dev/null || fail "strace is missing (tools/test-deps.sh installs it)"
  local port dir=$BATS_TEST_TMPDIR i used allowed denied
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  (cd "$dir" && exec strace -f -qq -o "$dir/trace" env -i HOST=127.0.0.1 PORT="$port" ETCD_ENDPOINTS= \
    DATA_DIR="$dir/data" HITOS_FILE="$REPO_ROOT/data/hitos.json" STATIC_DIR="$REPO_ROOT/public" \
    "$REPO_ROOT/build/porrio" >"$dir/log" 2>&1 3>&-) &
  local pid=$!
  for i in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$port/health/ready" && break; sleep 0.1; done
  curl -sf -o /dev/null -X PUT "http://127.0.0.1:$port/porra/a/b/c/2024"
  curl -sf -o /dev/null -X PUT -d '{"local":1,"visitante":0}' "http://127.0.0.1:$port/porras/a-b-c-2024/apuestas/ana"
  curl -sf -o /dev/null -X POST -d '{"file":"x","title":"t","fecha":"1/1/2024"}' "http://127.0.0.1:$port/hitos"
  curl -sf -o /dev/null "http://127.0.0.1:$port/porras"
  curl -sf -o /dev/null "http://127.0.0.1:$port/index.html"
  curl -sf -o /dev/null "http://127.0.0.1:$port/metrics"
  pkill -TERM -P "$pid" # strace's child: porrio
  wait "$pid"
  grep -q '"msg":"stopped"' "$dir/log" || fail "porrio did not stop cleanly: $(tail -n 3 "$dir/log")"
  used=$(sed -E 's/^[0-9]+ +//; s/^<\.\.\. ([a-z_0-9]+) resumed>.*/\1(/' "$dir/trace" | grep -oE '^[a-z_0-9]+\(' | tr -d '(' | sort -u)
  allowed=$(syscalls @system-service | sort -u)
  denied=$(for g in $(sed -n 's/^SystemCallFilter=~//p' "$UNIT"); do syscalls "$g"; done | sort -u)
  [ "$(wc -l <<<"$used")" -gt 20 ] || fail "too few system calls traced: $used"
  run comm -23 <(echo "$used") <(echo "$allowed")
  assert_output ""
  run comm -12 <(echo "$used") <(echo "$denied")
  assert_output ""
}
