#!/bin/sh
# The OpenAPI document under Redocly's recommended rules, as one TAP test: ok with 0 errors
# (warnings are shown as comments), not ok with every problem shown.
cd "$(dirname "$0")/../.."
out=$(tests/node/node_modules/.bin/redocly lint --extends=recommended --format=summary \
  internal/api/openapi.json 2>&1)
rc=$?
echo "1..1"
if [ $rc -eq 0 ]; then echo "ok 1 - openapi.json passes redocly lint (recommended rules, 0 errors)"
else echo "not ok 1 - openapi.json fails redocly lint (recommended rules)"; fi
printf '%s\n' "$out" | grep -E '^(error|warning) ' | sed 's/^/# /'
exit 0
