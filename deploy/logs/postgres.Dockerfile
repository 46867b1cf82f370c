# PostgreSQL 15, where the collector keeps porrio's log lines: Debian's postgresql-15 on the same
# base image as porrio's builder, run as the postgres user throughout (no capability, no user
# switch). Built with the repository as its context (see compose.yaml).
ARG BUILDER_IMAGE=debian:bookworm-slim
FROM ${BUILDER_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
# policy-rc.d: the postinst must not start a server inside the build; createcluster.conf: nor make
# the packaged cluster, as the entrypoint makes one in the volume at the first start
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \
    && mkdir -p /etc/postgresql-common && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \
    && apt-get update -q && apt-get install -y -q --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
    && install -d -o postgres -g postgres -m 0700 /var/lib/postgresql/data \
    && rm -rf /run/postgresql
# /run/postgresql (the socket) is a tmpfs in compose: left absent here, it gets the tmpfs's mode,
# where an existing directory would impose its own
ENV PATH=/usr/lib/postgresql/15/bin:$PATH PGDATA=/var/lib/postgresql/data/pgdata
COPY deploy/logs/postgres-init.sh /usr/local/bin/
USER postgres
# the volume takes this directory's owner (postgres) when Docker creates it
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
# over TCP: the server listens there only once the first start made the schema
HEALTHCHECK --interval=2s --timeout=3s --start-period=10s --retries=5 CMD ["pg_isready", "-q", "-h", "127.0.0.1", "-d", "logs"]
ENTRYPOINT ["/usr/local/bin/postgres-init.sh"]
