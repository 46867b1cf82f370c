#!/usr/bin/env bats
# deploy/porrio.service, the systemd unit of README: In production: systemd's own checks accept
# it without a warning, its sandbox rates "OK" or better, and the settings it gives are valid.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

REPO_ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
UNIT=$REPO_ROOT/deploy/porrio.service

# The unit as installed, but for ExecStart pointing at this build (verify checks that it runs).
setup() {
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
