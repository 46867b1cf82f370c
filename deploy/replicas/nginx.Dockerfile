# nginx in front of the porrio replicas: Debian's nginx on the same base image as porrio's builder,
# the files of public/ baked in, run as www-data (it listens on 8080 and 8443, so it needs no
# capability at all). Built with the repository as its context (see compose.yaml).
ARG BUILDER_IMAGE=debian:bookworm-slim
FROM ${BUILDER_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -q && apt-get install -y -q --no-install-recommends nginx openssl \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled /etc/nginx/conf.d \
    && install -d -o www-data -g www-data -m 0700 /etc/nginx/tls
COPY deploy/replicas/nginx.conf /etc/nginx/nginx.conf
COPY deploy/replicas/nginx-entrypoint.sh deploy/replicas/nginx-health.sh /usr/local/bin/
COPY public/ /srv/public/
USER www-data
# /etc/nginx/tls: the certificate made at the first start (or one mounted there) outlives the container
VOLUME /etc/nginx/tls
EXPOSE 8080 8443
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=2s --timeout=3s --start-period=5s --retries=3 CMD ["/usr/local/bin/nginx-health.sh"]
ENTRYPOINT ["/usr/local/bin/nginx-entrypoint.sh"]
