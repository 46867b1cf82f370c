# porrio: a static binary in a scratch image.
# Builder: the same static build as `make static`; the dependency prefix (OpenSSL, zlib, jansson,
# libh2o-evloop from Debian's sources, built with musl) sits in its own layer, so a change to our
# code rebuilds in seconds.
ARG BUILDER_IMAGE=debian:bookworm-slim
FROM ${BUILDER_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive PORRIO_CACHE=/opt/porrio-cache
RUN apt-get update -q && apt-get install -y -q --no-install-recommends make file ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY tools/deps.sh tools/h2o-*.patch tools/
RUN tools/deps.sh /opt/deps >/dev/null && rm -rf /var/lib/apt/lists/*
COPY . .
# touch: COPY keeps the context's mtimes, and a tools/deps.sh newer than the cached prefix would
# make `make` run it again (an apt-get update, or a whole rebuild once Debian has moved on)
RUN rm -rf build && mkdir -p build && ln -s "$(readlink /opt/deps)" build/deps && touch -c build/deps/.complete \
    && make static && file build/porrio | grep -q 'statically linked' \
    && mkdir -p /out/etc /out/data /out/app \
    && echo 'porrio:x:10001:10001:porrio:/data:/nonexistent' > /out/etc/passwd \
    && echo 'porrio:x:10001:' > /out/etc/group \
    && echo 'hosts: files dns' > /out/etc/nsswitch.conf \
    && cp -r public /out/app/public && cp data/hitos.json /out/app/hitos.json

FROM scratch
COPY --from=build /out/etc/ /etc/
COPY --from=build /out/app/ /app/
COPY --from=build --chown=10001:10001 /out/data/ /data/
COPY --from=build /src/build/porrio /src/build/healthcheck /usr/local/bin/
WORKDIR /app
ENV DATA_DIR=/data PORT=3000
USER 10001:10001
VOLUME /data
EXPOSE 3000
HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 CMD ["/usr/local/bin/healthcheck"]
ENTRYPOINT ["/usr/local/bin/porrio"]
