# Prometheus scraping porrio and evaluating its alert rules: Debian's prometheus on the same base
# image as porrio's builder, run as the package's prometheus user. Built with the repository as
# its context (see compose.yaml): deploy/prometheus/alerts.yml is baked in as it is.
ARG BUILDER_IMAGE=debian:bookworm-slim
FROM ${BUILDER_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
# policy-rc.d: the postinst must not start the daemon inside the build
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \
    && apt-get update -q && apt-get install -y -q --no-install-recommends prometheus \
    && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
    && install -d -o prometheus -g prometheus -m 0750 /var/lib/prometheus/data
COPY deploy/logs/prometheus.yml deploy/prometheus/alerts.yml /etc/prometheus/
COPY deploy/logs/prometheus-entrypoint.sh /usr/local/bin/
USER prometheus
VOLUME /var/lib/prometheus/data
EXPOSE 9090
HEALTHCHECK --interval=2s --timeout=3s --start-period=10s --retries=5 \
  CMD ["promtool", "check", "ready", "--url=http://127.0.0.1:9090"]
ENTRYPOINT ["/usr/local/bin/prometheus-entrypoint.sh"]
