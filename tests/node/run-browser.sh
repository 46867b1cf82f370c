#!/usr/bin/env bash
# Runs the page's tests in a real browser (tests/node/browser, mocha + playwright-core driving
# Debian's headless Chromium) against the real build/porrio (serve.bash) serving public/, with
# ADMIN_TOKENS set to the hash of a fresh token the tests are given. TAP on stdout; screenshots
# under build/screenshots. Without Chromium it reports one skipped test saying so. Exit status:
# 0 when everything passed or was skipped.
set -u
here=$(cd "$(dirname "$0")" && pwd)
suite=browser
. "$here/serve.bash"
chromium=${CHROMIUM:-/usr/bin/chromium}

if [ ! -x "$chromium" ]; then
  echo "1..1"
  echo "ok 1 - the page in a browser # skip no Chromium at $chromium (tools/test-deps.sh installs Debian's chromium)"
  exit 0
fi
[ -x "$here/node_modules/.bin/mocha" ] && [ -d "$here/node_modules/playwright-core" ] ||
  fail "mocha or playwright-core is not installed in tests/node (run tools/test-deps.sh)"
eval "$("$porrio" token new 2>/dev/null)" || fail "porrio token new failed"
porrio_up ADMIN_TOKENS="$ADMIN_TOKENS" STATIC_DIR="$root/public"
PORRIO_URL=$url PORRIO_TOKEN=$TOKEN CHROMIUM=$chromium SCREENSHOT_DIR="$root/build/screenshots" \
  "$here/node_modules/.bin/mocha" --reporter tap --timeout 60000 "$here/browser/*.test.mjs"
rc=$?
porrio_down
exit "$rc"
