# porrio: one static binary (musl + libh2o-evloop + jansson) and a static health probe.
# `make` / `make static` build both; `make test` runs the unit and integration suites.
CC       := musl-gcc
DEPS     := build/deps
KINC     := build/kinc
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
OPT      ?= -O2
CFLAGS   := $(OPT) -std=gnu11 -Wall -Wextra -Werror -ffunction-sections -fdata-sections
CPPFLAGS := -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -DPORRIO_VERSION='"$(VERSION)"' -Iinternal \
            -isystem $(DEPS)/include -idirafter $(KINC) -MMD -MP
LDFLAGS  := -static -Wl,--gc-sections -L$(DEPS)/lib
LDLIBS   := -lh2o-evloop -ljansson -lssl -lcrypto -lz -pthread

SRC   := $(wildcard internal/*/*.c) $(wildcard internal/*/*.S)
OBJ   := $(patsubst %.S,build/obj/%.o,$(SRC:%.c=build/obj/%.o))
UNIT  := $(patsubst tests/unit/%_test.c,build/tests/%_test,$(wildcard tests/unit/*_test.c))
CMD   := $(patsubst %.c,build/obj/%.o,$(wildcard cmd/porrio/*.c))
BINS  := build/porrio build/healthcheck
PIDFILE ?= build/porrio.pid

.PHONY: all static deps run start stop test unit clean image up down up-replicas down-replicas \
        up-logs down-logs logs-query bench lint-openapi format format-check
.SECONDARY: # keep the objects of the unit tests: `make test` must end with its count line
all static: $(BINS)

deps: $(DEPS)/.complete
$(DEPS)/.complete: tools/deps.sh $(wildcard tools/h2o-*.patch)
	tools/deps.sh $(DEPS) >/dev/null
	@touch -c $@

$(KINC):
	@mkdir -p $@
	@ln -sfn /usr/include/linux $@/linux
	@ln -sfn /usr/include/x86_64-linux-gnu/asm $@/asm
	@ln -sfn /usr/include/asm-generic $@/asm-generic

build/obj/%.o: %.c | $(DEPS)/.complete $(KINC)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# the assembler embeds files (.incbin) by paths relative to the top directory
build/obj/%.o: %.S | $(DEPS)/.complete
	@mkdir -p $(@D)
	$(CC) -c -Wa,-I. -MMD -MP -o $@ $<

build/obj/internal/api/openapi.o: internal/api/openapi.json

build/libporrio.a: $(OBJ)
	@rm -f $@
	ar rcs $@ $^

build/porrio: $(CMD) build/libporrio.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
	strip $@

# The probe needs nothing but libc: no h2o, no OpenSSL.
build/healthcheck: healthcheck/healthcheck.c | $(DEPS)/.complete
	@mkdir -p $(@D)
	$(CC) -Os -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -static -o $@ $<
	strip $@

build/tests/%_test: build/obj/tests/unit/%_test.o build/libporrio.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

build/obj/tests/unit/%.o: CPPFLAGS += -Itests/unit

unit: $(UNIT)

run: $(BINS)
	./build/porrio

start: $(BINS)
	@tools/service.sh start $(PIDFILE)

stop:
	@tools/service.sh stop $(PIDFILE)

test: $(BINS) $(UNIT)
	@tools/test-deps.sh
	@tests/run $(UNIT)

bench: $(BINS)
	bench/run.sh

# Container targets. No image registry here: BUILDER_IMAGE / ETCD_IMAGE may name local images
# (tests/container/prepare.sh makes them); only the legacy builder exists.
IMAGE ?= porrio:latest
DOCKER_BUILD := DOCKER_BUILDKIT=0 docker build $(if $(BUILDER_IMAGE),--build-arg BUILDER_IMAGE=$(BUILDER_IMAGE))
COMPOSE = $(shell docker compose version >/dev/null 2>&1 && echo docker compose || echo docker-compose)

image:
	$(DOCKER_BUILD) -t $(IMAGE) .

up:
	COMPOSE_DOCKER_CLI_BUILD=0 DOCKER_BUILDKIT=0 $(COMPOSE) up -d --build

down:
	$(COMPOSE) down

# nginx, three porrio replicas and three etcd members: deploy/replicas/compose.yaml
REPLICAS := $(COMPOSE) -f deploy/replicas/compose.yaml

up-replicas:
	COMPOSE_DOCKER_CLI_BUILD=0 DOCKER_BUILDKIT=0 $(REPLICAS) up -d --build

down-replicas:
	$(REPLICAS) down

# compose.yaml plus rsyslog, PostgreSQL and Prometheus: deploy/logs/compose.yaml
LOGS := $(COMPOSE) -f compose.yaml -f deploy/logs/compose.yaml
Q ?= errors

up-logs:
	COMPOSE_DOCKER_CLI_BUILD=0 DOCKER_BUILDKIT=0 $(LOGS) up -d --build

down-logs:
	$(LOGS) down

# `make logs-query Q=errors|routes|latency`: that query of deploy/logs/queries/ in the logs database
logs-query:
	@test -f deploy/logs/queries/$(Q).sql || { echo "Q=$(Q): one of $(notdir $(basename $(wildcard deploy/logs/queries/*.sql)))" >&2; exit 2; }
	@$(LOGS) exec -T postgres psql -X -d logs -c "$$(cat deploy/logs/queries/$(Q).sql)"

clean:
	rm -rf build/obj build/tests build/libporrio.a $(BINS)

-include $(OBJ:.o=.d) $(wildcard build/obj/tests/unit/*.d) $(CMD:.o=.d)

# One style for the C sources (.clang-format): `make format` applies it, `make format-check` (CI)
# lists the files that differ.
format:
	@tools/format.sh

format-check:
	@tools/format.sh --check

lint-openapi:
	@tools/test-deps.sh
	@tests/node/openapi-lint.sh

# ---- fuzzing (README: Fuzzing): libFuzzer harnesses of tests/fuzz, built with Debian's clang
# against glibc, over the modules that do not include h2o. `make fuzz` runs each target for
# FUZZ_SECONDS on a copy of its seed corpus; `make fuzz-ci` for 25 s.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 300
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  := -g -O1 -std=gnu11 -Wall -Wextra -Werror -fno-omit-frame-pointer $(FUZZ_SAN)
FUZZ_CPPFLAGS := -D_GNU_SOURCE -DPORRIO_VERSION='"$(VERSION)"' -Iinternal -MMD -MP
FUZZ_SRC     := $(filter-out $(addprefix internal/,api/% middleware/% reply/% server/%),\
                $(wildcard internal/*/*.c))
FUZZ_OBJ     := $(FUZZ_SRC:%.c=build/fuzz/obj/%.o)
FUZZ_TARGETS := $(patsubst tests/fuzz/%_fuzz.c,build/fuzz/%_fuzz,$(wildcard tests/fuzz/*_fuzz.c))

.PHONY: fuzz fuzz-ci fuzz-build fuzz-deps fuzz-clean
fuzz-deps:
	@tools/fuzz-deps.sh

build/fuzz/obj/%.o: %.c | fuzz-deps
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build/fuzz/libporrio.a: $(FUZZ_OBJ)
	@rm -f $@
	ar rcs $@ $^

build/fuzz/%_fuzz: build/fuzz/obj/tests/fuzz/%_fuzz.o build/fuzz/libporrio.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ -ljansson -lcrypto -lz -pthread

fuzz-build: $(FUZZ_TARGETS)

fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_TARGETS)

# CI's budget is 4 minutes, builds included: the targets are built in parallel, then run 25 s each.
fuzz-ci:
	@$(MAKE) --no-print-directory -j$$(nproc) fuzz-build
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=25

clean: fuzz-clean
fuzz-clean:
	rm -rf build/fuzz

-include $(FUZZ_OBJ:.o=.d) $(wildcard build/fuzz/obj/tests/fuzz/*.d)

# ---- Sanitizer builds (README, "Sanitizers") ---------------------------------------------------
# The same sources built with the system gcc against glibc (musl has no sanitizer runtimes):
# libh2o-evloop from tools/deps.sh --glibc (our patches, not instrumented), Debian's jansson,
# OpenSSL and zlib. build/asan: AddressSanitizer + UndefinedBehaviorSanitizer; build/tsan:
# ThreadSanitizer. Every finding fails the run (tests/sanitize sets the options).
SAN_DEPS     := build/deps-glibc
SAN_CPPFLAGS := -D_GNU_SOURCE -DH2O_USE_LIBUV=0 -DPORRIO_VERSION='"$(VERSION)"' -Iinternal \
                -isystem $(SAN_DEPS)/include -MMD -MP
SAN_CFLAGS   := -std=gnu11 -Wall -Wextra -Werror -g
SAN_asan     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -O1
SAN_tsan     := -fsanitize=thread -O1
SAN_LDLIBS   := -L$(SAN_DEPS)/lib -lh2o-evloop -ljansson -lssl -lcrypto -lz -pthread
SAN_SRC      := $(SRC) $(wildcard cmd/porrio/*.c) $(wildcard tests/unit/*_test.c)

.PHONY: san-deps asan tsan test-asan test-tsan san-clean
san-deps: $(SAN_DEPS)/.complete
clean: san-clean
san-clean:
	rm -rf build/asan build/tsan
$(SAN_DEPS)/.complete: tools/deps.sh $(wildcard tools/h2o-*.patch)
	tools/deps.sh --glibc $(SAN_DEPS) >/dev/null
	@touch -c $@

# san_rules KIND: the objects, library, server and unit test binaries of build/KIND
define san_rules
build/$(1)/obj/%.o: %.c | $(SAN_DEPS)/.complete
	@mkdir -p $$(@D)
	gcc $$(SAN_CPPFLAGS) $(SAN_CFLAGS) $(SAN_$(1)) -c -o $$@ $$<
build/$(1)/obj/%.o: %.S
	@mkdir -p $$(@D)
	gcc -c -Wa,-I. -MMD -MP -o $$@ $$<
build/$(1)/obj/internal/api/openapi.o: internal/api/openapi.json
build/$(1)/obj/tests/unit/%.o: SAN_CPPFLAGS += -Itests/unit
build/$(1)/libporrio.a: $(patsubst %.S,build/$(1)/obj/%.o,$(SRC:%.c=build/$(1)/obj/%.o))
	@rm -f $$@
	ar rcs $$@ $$^
build/$(1)/porrio: $(patsubst %.c,build/$(1)/obj/%.o,$(wildcard cmd/porrio/*.c)) build/$(1)/libporrio.a
	gcc $(SAN_$(1)) -o $$@ $$^ $(SAN_LDLIBS)
build/$(1)/tests/%_test: build/$(1)/obj/tests/unit/%_test.o build/$(1)/libporrio.a
	@mkdir -p $$(@D)
	gcc $(SAN_$(1)) -o $$@ $$^ $(SAN_LDLIBS)
$(1): build/$(1)/porrio $(UNIT:build/tests/%=build/$(1)/tests/%)
-include $(patsubst %.c,build/$(1)/obj/%.d,$(filter %.c,$(SAN_SRC)))
endef
$(eval $(call san_rules,asan))
$(eval $(call san_rules,tsan))

# The unit suites and every integration suite against build/asan/porrio.
test-asan: asan
	@tools/test-deps.sh
	@tests/sanitize asan $(UNIT:build/tests/%=build/asan/tests/%)

# The unit suites that start threads, and tests/concurrency: concurrent clients against
# build/tsan/porrio with two workers, STORE=etcd, LOG_SINK and live reloads.
# (the tests that start threads themselves, and those of the modules that start their own)
TSAN_UNIT := $(sort $(patsubst tests/unit/%.c,build/tsan/tests/%,$(shell grep -l pthread_create tests/unit/*_test.c)) \
             build/tsan/tests/logsink_test build/tsan/tests/reload_test)
test-tsan: build/tsan/porrio $(TSAN_UNIT)
	@tools/test-deps.sh
	@tests/sanitize tsan $(TSAN_UNIT)
