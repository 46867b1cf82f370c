#!/usr/bin/env bats
# The page of public/ as porrio serves it (README, HTTP conventions: static files): the headers
# a browser needs on every static answer and on no API answer, revalidation by ETag and
# Last-Modified, and the page's own rules: self-contained, relative, no inline script or style
# (the Content-Security-Policy would refuse them), small. The page's behaviour in a browser is
# tested by tests/node/run-browser.sh.

load helpers

CSP="default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
PAGE_FILES=(index.html app.js api.js style.css favicon.svg) # what a browser loads for the page

setup_file() {
  porrio_start STATIC_DIR="$REPO_ROOT/public"
}

teardown_file() { porrio_teardown_file "$PORRIO_PID"; }

teardown() { porrio_cleanup; }

assert_static_headers() {
  assert_equal "$(header Content-Security-Policy)" "$CSP"
  assert_equal "$(header X-Content-Type-Options)" nosniff
  assert_equal "$(header Cache-Control)" no-cache
}

@test "every file of public/: its type, the security headers, an ETag and a Last-Modified" {
  local f type
  for f in "${PAGE_FILES[@]}" api.html api.css; do
    case $f in
      *.html) type='^text/html' ;; *.js) type='^(application|text)/javascript' ;;
      *.css) type='^text/css' ;; *.svg) type='^image/svg\+xml' ;;
    esac
    http_fetch "$PORRIO_URL/$f"
    assert_equal "$STATUS" 200
    assert_regex "$(header Content-Type)" "$type"
    assert_static_headers
    assert_regex "$(header ETag)" '^"[^"]+"$'
    assert_regex "$(header Last-Modified)" 'GMT$'
    assert_equal "$BODY_SIZE" "$(stat -c %s "$REPO_ROOT/public/$f")"
  done
}

@test "revalidation: If-None-Match and If-Modified-Since answer 304 with the same headers and no body" {
  http_fetch "$PORRIO_URL/app.js"
  local etag modified
  etag=$(header ETag) modified=$(header Last-Modified)
  run curl -s --max-time 5 -o /dev/null -w '%{http_code} %{size_download}' -H "If-None-Match: $etag" "$PORRIO_URL/app.js"
  assert_output "304 0"
  http_fetch "$PORRIO_URL/app.js" -H "If-None-Match: $etag"
  assert_equal "$STATUS" 304
  assert_equal "$(header ETag)" "$etag"
  assert_static_headers
  http_fetch "$PORRIO_URL/app.js" -H "If-Modified-Since: $modified"
  assert_equal "$STATUS" 304
  assert_static_headers
  http_fetch "$PORRIO_URL/app.js" -H 'If-None-Match: "another"'
  assert_equal "$STATUS" 200
}

@test "HEAD of a static file carries the same headers" {
  run curl -sI --max-time 5 "$PORRIO_URL/index.html"
  assert_success
  assert_line --regexp $'^HTTP/1\\.1 200'
  assert_line "Content-Security-Policy: $CSP"$'\r'
  assert_line $'X-Content-Type-Options: nosniff\r'
  assert_line $'Cache-Control: no-cache\r'
}

@test "a missing file's JSON 404 is still a static answer; API answers carry none of these headers" {
  http_fetch "$PORRIO_URL/missing.js"
  assert_json_error 404
  assert_equal "$(header X-Content-Type-Options)" nosniff
  local url
  for url in / /status /porras /porras/No-Such-Pool-1 /openapi.json /health/ready; do
    http_fetch "$PORRIO_URL$url"
    assert_equal "$(header Content-Security-Policy)" ""
    assert_equal "$(header X-Content-Type-Options)" ""
    assert_equal "$(header Cache-Control)" ""
  done
  http_fetch "$PORRIO_URL/nope/route" -X PUT
  assert_json_error 404
  assert_equal "$(header Content-Security-Policy)" ""
}

@test "the metrics count static answers under the route \"static\"" {
  http_fetch "$PORRIO_URL/style.css"
  http_fetch "$PORRIO_URL/missing.css"
  http_fetch "$PORRIO_URL/metrics"
  assert_regex "$BODY" 'porrio_http_requests_total\{route="static",method="GET",code="200"\} [1-9]'
  assert_regex "$BODY" 'porrio_http_requests_total\{route="unknown",method="GET",code="404"\} [1-9]'
  refute_regex "$BODY" 'route="static",method="GET",code="404"'
}

@test "the page is self-contained: relative links, nothing from another origin, no inline script or style" {
  local f
  for f in index.html api.html; do
    run grep -oE '(src|href|action)="[^"]*"' "$REPO_ROOT/public/$f"
    assert_success
    refute_line --regexp '="(/|[a-z]+:|//)'                    # no absolute path, scheme or host
    run grep -cE '<script>|<script [^>]*>[^<]|<style|style=| on[a-z]+=' "$REPO_ROOT/public/$f"
    assert_output 0
  done
  # the scripts call the API by relative paths, never another origin
  run grep -nE "(fetch|call)\([^)]*['\`\"](/|https?:)" "$REPO_ROOT"/public/*.js
  assert_failure
  run grep -nE 'https?://' "$REPO_ROOT"/public/*.js "$REPO_ROOT"/public/*.css
  assert_failure
  # every file the page names is in public/
  for f in $(grep -ohE '(src|href)="[a-z.]+\.(js|css|svg|html)"' "$REPO_ROOT"/public/*.html | cut -d'"' -f2 | sort -u); do
    [ -f "$REPO_ROOT/public/$f" ] || fail "public/ names $f, which is not there"
  done
}

@test "the page's files are under 30 KB together" {
  local total=0 f
  for f in "${PAGE_FILES[@]}"; do total=$((total + $(stat -c %s "$REPO_ROOT/public/$f"))); done
  [ "$total" -lt 30720 ] || fail "index.html and what it loads weigh $total bytes"
}
