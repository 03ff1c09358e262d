# Bollard build. `make` builds the product into build/release: `bollard`, the static `probe` and the
# `chart` CI tool, nothing else. `make test` builds the same sources with ASan+UBSan into build/asan,
# then the binaries only tests use (`test-bins`, `unit-bins`), and runs every test against them.
# Components add themselves through */*.mk fragments (see "Fragments" below).

SHELL := /bin/bash
.DEFAULT_GOAL := all

VERSION := $(shell cat VERSION)
GIT_REV ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
NPROC := $(shell nproc 2>/dev/null || echo 2)

SAN ?= 0
ifeq ($(SAN),1)
BUILD := build/asan
OPTFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN := -fsanitize=address,undefined
else
BUILD := build/release
OPTFLAGS := -O2 -g -fstack-protector-strong -D_FORTIFY_SOURCE=2
LDSAN :=
endif

# h2o 2.2.5's pkg-config file does not carry these: without -DH2O_USE_LIBUV=0, <h2o.h> pulls in libuv
# headers (or compiles against the wrong loop type); the headers also need -std=gnu11, not c11.
H2O_CFLAGS := -DH2O_USE_LIBUV=0
# Libraries `bollard` links (and so the runtime image carries; see Dockerfile.distroless).
PKGS := libh2o-evloop libpq hiredis jansson yaml-0.1 libjwt libcurl sqlite3 openssl
# Libraries only the `chart` tool, and the unit and fuzz tests of its modules, link: PCRE2 matches
# values.schema.json patterns (pkg/jsonschema). Never linked into `bollard`.
CHART_PKGS := libpcre2-8
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) $(CHART_PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -largon2
CHART_PKG_LIBS := $(shell pkg-config --libs $(CHART_PKGS) 2>/dev/null)

CC ?= cc
# Generators run during the build (pkg/embed, migrations): the build machine's compiler, which is
# not CC when cross-compiling (the image's cross build sets CC to the target's; .ci/image/cross-env).
HOST_CC ?= $(CC)
WARN := -Wall -Wextra -Werror
CFLAGS_ALL = -std=gnu11 $(WARN) -D_GNU_SOURCE $(H2O_CFLAGS) -Ipkg $(PKG_CFLAGS) $(OPTFLAGS) -MMD -MP $(EXTRA_CFLAGS)
LDFLAGS_ALL := -Wl,--as-needed -Wl,-z,relro,-z,now $(LDSAN) $(EXTRA_LDFLAGS)
LIBS := $(PKG_LIBS) -lpthread -lm
# Test binaries (unit, fuzz) may pull any module from the archive, the chart tool's too.
TEST_LIBS := $(LIBS) $(CHART_PKG_LIBS)

# ---- library of modules: every pkg/<module>/*.c goes into one archive; binaries pull what they use.
PKG_SRCS := $(sort $(wildcard pkg/*/*.c))
PKG_OBJS := $(PKG_SRCS:%.c=$(BUILD)/obj/%.o)
LIBBOLLARD := $(BUILD)/libbollard.a

# ---- Fragments: each may append to BINS (the product, built by `all`), TEST_BINS (binaries that
# only the black-box tests run, built by `test-bins`, which `pytest` and `test` depend on),
# TEST_TARGETS (run by `make test` after the unit and black-box tests), BENCH_TARGETS, FUZZ_TARGETS,
# and BOLLARD_EXTRA_OBJS.
BINS := $(BUILD)/bollard
TEST_BINS :=
TEST_TARGETS :=
BENCH_TARGETS :=
FUZZ_TARGETS :=
# Go-installed tools (Helm, validators) land here; see chart/chart.mk.
TOOLS_BIN := $(abspath build/tools/bin)
BOLLARD_EXTRA_OBJS :=
include $(sort $(wildcard */*.mk cmd/*/*.mk pkg/*/*.mk tests/*/*.mk))

.PHONY: all test test-bins unit unit-bins pytest deps run bench fuzz fmt fmt-check clean help
all: $(BINS)
test-bins: $(TEST_BINS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(LIBBOLLARD): $(PKG_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# Only main.c sees the version, so a new commit relinks without recompiling the modules.
$(BUILD)/obj/cmd/bollard/main.o: EXTRA_CFLAGS += -DBOLLARD_VERSION='"$(VERSION)"' -DBOLLARD_GIT_REV='"$(GIT_REV)"'
$(BUILD)/obj/cmd/bollard/main.o: .git-rev-stamp $(BUILD)/version-check.stamp

# One version everywhere: VERSION is the source; `bollard --version` and /metrics take it from here,
# pkg/openapi/openapi.mk refuses a document whose info.version differs, and this refuses a chart
# whose appVersion differs (tests/openapi/test_version.py checks all of them).
CHART_APP_VERSION = $(shell sed -n 's/^appVersion: *"\{0,1\}\([^" ]*\)"\{0,1\} *$$/\1/p' chart/bollard/Chart.yaml)
$(BUILD)/version-check.stamp: VERSION chart/bollard/Chart.yaml
	@test "$(CHART_APP_VERSION)" = "$(VERSION)" || { echo "chart/bollard/Chart.yaml: appVersion is" \
		"\"$(CHART_APP_VERSION)\" but VERSION is \"$(VERSION)\": set the same version in both" >&2; exit 1; }
	@mkdir -p $(@D) && touch $@

$(BUILD)/bollard: $(BUILD)/obj/cmd/bollard/main.o $(BOLLARD_EXTRA_OBJS) $(LIBBOLLARD)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBS)

.git-rev-stamp: FORCE
	@echo '$(GIT_REV)' | cmp -s - $@ || echo '$(GIT_REV)' > $@
FORCE:

# ---- unit tests (cmocka): tests/unit/test_<name>.c -> $(BUILD)/tests/test_<name>
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BOLLARD_EXTRA_OBJS) $(LIBBOLLARD)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(TEST_LIBS) -lcmocka

unit-bins: $(UNIT_BINS)
unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp) $$t; done

deps:
	@.ci/install-deps build test

PYTEST_ARGS ?=
pytest: all test-bins
	BOLLARD_BUILD=$(abspath $(BUILD)) python3 -m pytest -q -p no:cacheprovider tests $(PYTEST_ARGS)

# The one test command: install, build with sanitizers, run everything, stop what was started.
test: deps
	@$(MAKE) --no-print-directory SAN=1 fmt-check
	@$(MAKE) --no-print-directory SAN=1 -j$(NPROC) all test-bins unit-bins
	@$(MAKE) --no-print-directory SAN=1 unit
	@$(MAKE) --no-print-directory SAN=1 pytest
	@$(MAKE) --no-print-directory all
	@set -e; for t in $(TEST_TARGETS); do $(MAKE) --no-print-directory $$t; done

# Starts the service for a newcomer with nothing configured: `bollard dev` on an embedded SQLite
# file with a generated configuration (scripts/run-dev.sh; see README).
run:
	@.ci/install-deps build
	@$(MAKE) --no-print-directory $(BUILD)/bollard
	@BOLLARD_BUILD=$(abspath $(BUILD)) scripts/run-dev.sh

# Every benchmark, then one report (bench/report.py: build/bench/report.md + report.png, and the
# README's performance table + docs/bench.png). A benchmark that fails is reported as missing and
# makes `make bench` fail at the end, after the report.
bench: all
	@.ci/install-deps build bench
	@rm -rf build/bench/results
	@failed=; for t in $(BENCH_TARGETS); do $(MAKE) --no-print-directory $$t || failed="$$failed $$t"; done; \
	python3 bench/report.py --update-readme || true; \
	if [ -n "$$failed" ]; then echo "bench: failed:$$failed" >&2; exit 1; fi

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do $(MAKE) --no-print-directory $$t; done

C_SOURCES = $(shell git ls-files -co --exclude-standard '*.c' '*.h' 2>/dev/null)
fmt:
	clang-format -i $(C_SOURCES)
fmt-check:
	@out=$$(clang-format --dry-run $(C_SOURCES) 2>&1); if [ -n "$$out" ]; then echo "$$out" | head -40; echo "clang-format: run 'make fmt'"; exit 1; fi

clean:
	rm -rf build .git-rev-stamp

-include $(shell find build -name '*.d' 2>/dev/null)
