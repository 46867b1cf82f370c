#!/usr/bin/env bash
# Runs the course's functional tests (tests/node/course, mocha + supertest) against the real
# build/porrio (started and stopped by serve.bash), mocha's TAP on stdout. A server that does not
# start or stop cleanly is a "not ok" line. Exit status: 0 when everything passed. Needs node and
# `npm ci` in tests/node (tools/test-deps.sh).
set -u
here=$(cd "$(dirname "$0")" && pwd)
suite=course
. "$here/serve.bash"

[ -x "$here/node_modules/.bin/mocha" ] || fail "mocha is not installed in tests/node (run tools/test-deps.sh)"
porrio_up
PORRIO_URL=$url HITOS_FILE=$hitos "$here/node_modules/.bin/mocha" --reporter tap "$here/course/*.test.js"
rc=$?
porrio_down
exit "$rc"
