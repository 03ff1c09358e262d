# probe: the static exec-probe binary (see probe/main.c). Built with musl so that it runs in an image
# that holds nothing else; the main CFLAGS_ALL (glibc, pkg-config) deliberately do not apply here.
# PROBE_CC and STRIP come from the environment for a cross build (.ci/image/cross-env).
PROBE_CC ?= musl-gcc
STRIP ?= strip
PROBE_SRCS := $(sort $(wildcard probe/*.c))
PROBE_LIB_SRCS := probe/http_response.c probe/json_field.c probe/target.c
PROBE_CFLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE -Os -fstack-protector-strong -ffunction-sections \
  -fdata-sections -fno-asynchronous-unwind-tables -fno-unwind-tables -MMD -MP
# Two LOAD segments instead of four and no RELRO: fewer mappings to set up on every exec.
PROBE_LDFLAGS := -static -Wl,--gc-sections -Wl,-z,norelro -Wl,-z,noseparate-code -Wl,--build-id=none
PROBE_OBJS := $(PROBE_SRCS:probe/%.c=$(BUILD)/probe-obj/%.o)
# Host-compiler build with ASan+UBSan of the same sources (the musl binary cannot use sanitizers).
PROBE_SAN_FLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
PROBE_SAN_OBJS := $(PROBE_SRCS:probe/%.c=$(BUILD)/probe-obj-san/%.o)
PROBE_UNIT := $(BUILD)/tests/probe_unit

BINS += $(BUILD)/probe
# The sanitized build is for tests/probe only (the product is the musl binary): a test binary.
ifeq ($(SAN),1)
TEST_BINS += $(BUILD)/probe-sanitized
endif
TEST_TARGETS += probe-unit
BENCH_TARGETS += bench-probe

# Only main.c sees the version.
$(BUILD)/probe-obj/main.o $(BUILD)/probe-obj-san/main.o: VERSION
$(BUILD)/probe-obj/main.o $(BUILD)/probe-obj-san/main.o: PROBE_DEFS := -DPROBE_VERSION='"$(VERSION)"'

$(BUILD)/probe-obj/%.o: probe/%.c
	@mkdir -p $(@D)
	$(PROBE_CC) $(PROBE_CFLAGS) $(PROBE_DEFS) -c $< -o $@

# The unstripped link stays beside the objects: the tests inspect its symbols (no fork/exec linked in).
$(BUILD)/probe-obj/probe.full: $(PROBE_OBJS)
	$(PROBE_CC) $(PROBE_LDFLAGS) -o $@ $^

$(BUILD)/probe: $(BUILD)/probe-obj/probe.full
	$(STRIP) --strip-all -R .comment -o $@ $<

$(BUILD)/probe-obj-san/%.o: probe/%.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(WARN) -D_GNU_SOURCE $(PROBE_SAN_FLAGS) -MMD -MP $(PROBE_DEFS) -c $< -o $@

$(BUILD)/probe-sanitized: $(PROBE_SAN_OBJS)
	$(CC) $(PROBE_SAN_FLAGS) -o $@ $^

$(PROBE_UNIT): tests/probe/unit_probe.c $(PROBE_LIB_SRCS) $(wildcard probe/*.h)
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(WARN) -D_GNU_SOURCE $(PROBE_SAN_FLAGS) -Iprobe -o $@ tests/probe/unit_probe.c \
	  $(PROBE_LIB_SRCS) -lcmocka

.PHONY: probe-unit probe-test bench-probe
# Parser, URL and JSON unit tests under ASan+UBSan (run by `make test`).
probe-unit: $(PROBE_UNIT)
	$(PROBE_UNIT)

# Everything about the probe alone: unit tests and its black-box tests, with the sanitizer build too.
probe-test:
	@$(MAKE) --no-print-directory SAN=1 build/asan/probe build/asan/probe-sanitized build/asan/tests/probe_unit
	build/asan/tests/probe_unit
	BOLLARD_BUILD=$(abspath build/asan) python3 -m pytest -q -p no:cacheprovider tests/probe

# Wall time (hyperfine) and peak RSS against curl, busybox wget and python3 urllib; see bench/probe.sh.
bench-probe: $(BUILD)/probe $(BUILD)/bench/probe_peak_rss
	bench/probe.sh $(abspath $(BUILD)/probe) $(abspath $(BUILD)/bench/probe_peak_rss)

$(BUILD)/bench/probe_peak_rss: bench/probe_peak_rss.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 $(WARN) -O2 -o $@ $<
