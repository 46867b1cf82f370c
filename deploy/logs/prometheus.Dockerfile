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
RUN promtool check config /etc/prometheus/prometheus.yml
USER prometheus
VOLUME /var/lib/prometheus/data
EXPOSE 9090
# healthy once /-/ready answers 200 (the image has no HTTP client: bash speaks HTTP/1.0 itself)
HEALTHCHECK --interval=2s --timeout=3s --start-period=10s --retries=5 CMD ["bash", "-c", \
  "exec 3<>/dev/tcp/127.0.0.1/9090 && printf 'GET /-/ready HTTP/1.0\\r\\n\\r\\n' >&3 && read -r s <&3 && [[ $s == *' 200 '* ]]"]
ENTRYPOINT ["/usr/local/bin/prometheus-entrypoint.sh"]
