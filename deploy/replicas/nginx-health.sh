#!/bin/bash
# The image's health check: exit 0 when nginx answers 200 on its loopback-only health server.
# bash's /dev/tcp does the request, so the image needs no HTTP client.
exec 3<>/dev/tcp/127.0.0.1/8081 || exit 1
printf 'GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
read -r -t 2 status <&3 || exit 1
[[ $status == "HTTP/1.1 200 "* ]]
