# rsyslog, the collector of LOG_SINK: Debian's rsyslog and its PostgreSQL output on the same base
# image as porrio's builder, run as its own user (port 514 needs no capability: Docker lets a
# container bind low ports). Built with the repository as its context (see compose.yaml).
ARG BUILDER_IMAGE=debian:bookworm-slim
FROM ${BUILDER_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
# policy-rc.d: a package's postinst must not start its daemon inside the build
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \
    && apt-get update -q && apt-get install -y -q --no-install-recommends rsyslog rsyslog-pgsql \
    && rm -rf /var/lib/apt/lists/* /etc/rsyslog.d /usr/sbin/policy-rc.d \
    && useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin rsyslog
COPY deploy/logs/rsyslog.conf /etc/rsyslog.conf
# a configuration rsyslog would run without some of its actions fails the build instead
RUN rsyslogd -N1 -f /etc/rsyslog.conf
ENV TZ=UTC
USER rsyslog
EXPOSE 514
# -n: in the foreground; -iNONE: no pid file (the root is read-only)
ENTRYPOINT ["/usr/sbin/rsyslogd", "-n", "-iNONE", "-f", "/etc/rsyslog.conf"]
