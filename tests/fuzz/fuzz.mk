# fuzz: libFuzzer targets (tests/fuzz/fuzz_<name>.c), built with clang into build/fuzz with
# -fsanitize=fuzzer,address,undefined. The pkg sources are compiled again with clang (the main
# archives are gcc-built); generated tables (migrations, OpenAPI assets) come from $(BUILD)/gen.
#   make fuzz                      every target for FUZZ_SECONDS (default 60) each
#   make fuzz-short                every target for FUZZ_SHORT_SECONDS (default 10) each; part of `make test`
#   make fuzz-<name>               one target for FUZZ_SECONDS
# Seeds: tests/fuzz/corpus/<name>/ (committed). New inputs go to build/fuzz/corpus/<name>/ (not
# committed). Reproducers of crashes found: tests/fuzz/crashes/<name>-*; `fuzz-short` replays the
# ones listed in tests/fuzz/crashes/FIXED (one file name a line) before fuzzing.
FUZZ_CC ?= clang-14
FUZZ_DIR := build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_SHORT_SECONDS ?= 10
FUZZ_NAMES := $(sort $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_SAN := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS = -std=gnu11 $(WARN) -D_GNU_SOURCE $(H2O_CFLAGS) -Ipkg -Iprobe $(PKG_CFLAGS) -O1 -g \
  -fno-omit-frame-pointer $(FUZZ_SAN) -MMD -MP -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
FUZZ_PKG_OBJS := $(PKG_SRCS:%.c=$(FUZZ_DIR)/obj/%.o)
FUZZ_GEN_OBJS := $(patsubst $(BUILD)/obj/gen/%.o,$(FUZZ_DIR)/obj/gen/%.o,$(BOLLARD_EXTRA_OBJS))
FUZZ_LIB := $(FUZZ_DIR)/libbollard-fuzz.a
FUZZ_BINS := $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_TARGETS += fuzz-all
TEST_TARGETS += fuzz-short

.PHONY: fuzz-deps fuzz-bins fuzz-all fuzz-short $(FUZZ_NAMES:%=fuzz-%)

fuzz-deps:
	@.ci/install-deps build fuzz

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_LIB): $(FUZZ_PKG_OBJS) $(FUZZ_DIR)/obj/probe/http_response.o
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# The HTTP target captures responses and DNS lookups by wrapping h2o functions (no sockets, no loop).
$(FUZZ_DIR)/fuzz_http: FUZZ_LDEXTRA := -Wl,--wrap=h2o_send_inline,--wrap=h2o_hostinfo_getaddr,--wrap=h2o_hostinfo_getaddr_cancel
$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/tests/fuzz/fuzz_%.o $(FUZZ_GEN_OBJS) $(FUZZ_LIB)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined $(FUZZ_LDEXTRA) -o $@ $^ $(TEST_LIBS)

fuzz-bins: $(FUZZ_BINS)
.PRECIOUS: $(FUZZ_DIR)/obj/%.o $(FUZZ_DIR)/obj/gen/%.o

# One target: merge nothing back into the committed seeds; new finds stay under build/fuzz/corpus.
define fuzz_run
	@mkdir -p $(FUZZ_DIR)/corpus/$(1) $(FUZZ_DIR)/artifacts/$(1)
	@echo "== fuzz $(1) for $(2)s"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(FUZZ_DIR)/fuzz_$(1) -max_total_time=$(2) -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
	  -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/artifacts/$(1)/ \
	  $(if $(wildcard tests/fuzz/dict/$(1).dict),-dict=tests/fuzz/dict/$(1).dict) \
	  $(FUZZ_DIR)/corpus/$(1) tests/fuzz/corpus/$(1) 2>&1 | tail -n 25; test $${PIPESTATUS[0]} -eq 0
endef

$(FUZZ_NAMES:%=fuzz-%): fuzz-%: fuzz-deps
	@$(MAKE) --no-print-directory $(BUILD)/gen/openapi_assets.c $(BUILD)/gen/migrations.c \
	  $(BUILD)/gen/migrations_sqlite.c
	@$(MAKE) --no-print-directory -j$(NPROC) $(FUZZ_DIR)/fuzz_$*
	$(call fuzz_run,$*,$(FUZZ_SECONDS))

fuzz-all: fuzz-deps
	@$(MAKE) --no-print-directory $(BUILD)/gen/openapi_assets.c $(BUILD)/gen/migrations.c \
	  $(BUILD)/gen/migrations_sqlite.c
	@$(MAKE) --no-print-directory -j$(NPROC) fuzz-bins
	@set -e; for n in $(FUZZ_NAMES); do $(MAKE) --no-print-directory FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz-run-$$n; done

fuzz-short: fuzz-deps
	@$(MAKE) --no-print-directory $(BUILD)/gen/openapi_assets.c $(BUILD)/gen/migrations.c \
	  $(BUILD)/gen/migrations_sqlite.c
	@$(MAKE) --no-print-directory -j$(NPROC) fuzz-bins
	@set -e; for f in $$(grep -v '^#' tests/fuzz/crashes/FIXED 2>/dev/null); do \
	  n=$${f%%-*}; echo "== replay $$f"; $(FUZZ_DIR)/fuzz_$$n tests/fuzz/crashes/$$f; done
	@set -e; for n in $(FUZZ_NAMES); do $(MAKE) --no-print-directory FUZZ_SECONDS=$(FUZZ_SHORT_SECONDS) fuzz-run-$$n; done

fuzz-run-%:
	$(call fuzz_run,$*,$(FUZZ_SECONDS))
