# `chart`: `chart values lint` / `chart values docs` (CI and developer tool; not in the runtime image).
$(BUILD)/obj/cmd/chart/main.o: EXTRA_CFLAGS += -DBOLLARD_VERSION='"$(VERSION)"'

$(BUILD)/chart: $(BUILD)/obj/cmd/chart/main.o $(LIBBOLLARD)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lyaml -ljansson $(CHART_PKG_LIBS) -lm

BINS += $(BUILD)/chart

CHART_LINT_DIR := chart/bollard
CHART_LINT_VALUES = $(CHART_LINT_DIR)/values.yaml $(sort $(wildcard $(CHART_LINT_DIR)/ci/*.yaml))

.PHONY: chart-lint-values bench-chart-lint
# The chart's defaults and every CI values file, each linted on its own over the defaults (as Helm
# installs them), must be free of findings. The broken files in tests/chart-lint/broken are checked
# against both this tool and Helm by the pytest suite (tests/chart-lint).
chart-lint-values: $(BUILD)/chart
	$(BUILD)/chart values lint --chart $(CHART_LINT_DIR) $(CHART_LINT_VALUES)
TEST_TARGETS += chart-lint-values

# chart values lint against helm lint / helm template on the same chart and values, and the table of
# which broken values file each tool catches (Markdown on stdout).
bench-chart-lint: $(BUILD)/chart $(TOOLS_BIN)/helm
	@CHART_BIN=$(BUILD)/chart HELM_BIN=$(TOOLS_BIN)/helm bench/chart-lint.sh
BENCH_TARGETS += bench-chart-lint
