#!/bin/sh
# The logs database's entrypoint, as the postgres user: at the first start (no cluster in the
# volume yet) make the cluster, the database, the collector's role and the table; then serve.
# LOGS_DB_PASSWORD is the password of the role `rsyslog`, the only one allowed in over TCP.
set -eu
: "${LOGS_DB_PASSWORD:?LOGS_DB_PASSWORD must be set}"

# The cluster is made in a directory beside PGDATA and renamed when whole: a first start cut short
# leaves no half-made cluster behind, and the next start makes it again.
if [ ! -d "$PGDATA" ]; then
  new="$PGDATA.new"
  rm -rf "$new"
  initdb --pgdata="$new" --username=postgres --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=peer --auth-host=scram-sha-256 >/dev/null
  echo 'host logs rsyslog all scram-sha-256' >>"$new/pg_hba.conf"
  # listen on the socket alone while the schema is made: nobody writes before it exists
  pg_ctl --pgdata="$new" --options="-c listen_addresses=''" --wait --silent start
  psql -X -q -v ON_ERROR_STOP=1 -v pw="$LOGS_DB_PASSWORD" -d postgres <<'SQL'
CREATE ROLE rsyslog LOGIN PASSWORD :'pw';
CREATE DATABASE logs;
\connect logs
-- one row per log line: time is the line's own (the RFC 5424 TIMESTAMP porrio sets from it),
-- received when the collector wrote it; line the JSON object itself
CREATE TABLE logs (
  id       bigserial PRIMARY KEY,
  time     timestamptz NOT NULL,
  received timestamptz NOT NULL DEFAULT now(),
  host     text NOT NULL,
  line     jsonb NOT NULL
);
CREATE INDEX logs_time ON logs (time);
CREATE INDEX logs_request_id ON logs ((line->>'request_id'));
GRANT INSERT ON logs TO rsyslog;
GRANT USAGE ON SEQUENCE logs_id_seq TO rsyslog;
SQL
  pg_ctl --pgdata="$new" --mode=fast --wait --silent stop
  mv "$new" "$PGDATA"
  echo "postgres-init: made the logs database in $PGDATA"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*'
