# `chart`: the values linter/doc generator (CI and developer tool; not in the runtime image).
$(BUILD)/obj/cmd/chart/main.o: EXTRA_CFLAGS += -DBOLLARD_VERSION='"$(VERSION)"'

$(BUILD)/chart: $(BUILD)/obj/cmd/chart/main.o $(LIBBOLLARD)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ -lyaml -ljansson -lm

BINS += $(BUILD)/chart

CHART_LINT_DIR := chart/bollard
CHART_LINT_VALUES = $(sort $(wildcard $(CHART_LINT_DIR)/ci/*.yaml))

# Every CI values file of the chart (each on top of the chart's values.yaml, as Helm does) and the
# chart's own defaults must lint clean.
.PHONY: chart-lint-values bench-chart-lint
chart-lint-values: $(BUILD)/chart
	@set -e; for f in $(CHART_LINT_DIR)/values.yaml $(CHART_LINT_VALUES); do \
	  echo "chart values lint -f $$f"; \
	  $(BUILD)/chart values lint --chart $(CHART_LINT_DIR) -f $$f; \
	done
TEST_TARGETS += chart-lint-values

# chart values lint against helm lint / helm template on the same chart and values (Markdown table).
bench-chart-lint: $(BUILD)/chart $(TOOLS_BIN)/helm
	@CHART_BIN=$(abspath $(BUILD)/chart) HELM_BIN=$(TOOLS_BIN)/helm bench/chart-lint.sh
BENCH_TARGETS += bench-chart-lint
