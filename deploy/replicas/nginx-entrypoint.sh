#!/bin/sh
# Starts nginx once a certificate is in /etc/nginx/tls: cert.pem and key.pem mounted there are
# used as they are; when neither is there, a self-signed pair is made once and kept (the
# directory is a volume), so a restart serves the same certificate.
set -eu
dir=/etc/nginx/tls
if [ ! -e "$dir/cert.pem" ] && [ ! -e "$dir/key.pem" ]; then
  # made beside and renamed into place: a start cut short never leaves half a pair
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
    -subj "/CN=${TLS_NAME:-localhost}" \
    -addext "subjectAltName=DNS:${TLS_NAME:-localhost},DNS:localhost,IP:127.0.0.1" \
    -keyout "$dir/key.pem.new" -out "$dir/cert.pem.new" 2>/dev/null
  mv "$dir/key.pem.new" "$dir/key.pem"
  mv "$dir/cert.pem.new" "$dir/cert.pem"
  echo "nginx-entrypoint: made a self-signed certificate for ${TLS_NAME:-localhost} in $dir" >&2
fi
for f in cert.pem key.pem; do
  [ -r "$dir/$f" ] || { echo "nginx-entrypoint: $dir/$f missing or unreadable (uid $(id -u))" >&2; exit 1; }
done
exec nginx -e stderr -g 'daemon off;'
