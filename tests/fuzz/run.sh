#!/usr/bin/env bash
# Runs each libFuzzer target given (build/fuzz/<name>_fuzz) for FUZZ_SECONDS on a copy of its
# seed corpus (tests/fuzz/corpus/<name>/): the copy grows, the repository's corpus never does.
# Ends with one line per target, ok or failed with the file that reproduces the finding, and
# exits 1 when any target failed. README: Fuzzing.
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-300}
work=${FUZZ_WORK:-build/fuzz/work}
summary=()
failed=0
for bin in "$@"; do
  name=$(basename "$bin" _fuzz)
  dir="$work/$name"
  rm -rf "$dir" && mkdir -p "$dir/corpus" "$dir/artifacts"
  [ -d "tests/fuzz/corpus/$name" ] && cp -R "tests/fuzz/corpus/$name/." "$dir/corpus/"
  echo "fuzz: $name for ${seconds}s (log $dir/log)"
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/" "$dir/corpus" >"$dir/log" 2>&1
  rc=$?
  crash=$(find "$dir/artifacts" -type f | head -n 1)
  if [ "$rc" -eq 0 ] && [ -z "$crash" ]; then
    summary+=("fuzz $name: ok ($(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/log" | grep -o '[0-9]*$') runs)")
  else
    failed=1
    tail -n 40 "$dir/log"
    summary+=("fuzz $name: failed (exit $rc) ${crash:-see $dir/log}")
  fi
done
printf '%s\n' "${summary[@]}"
exit "$failed"
