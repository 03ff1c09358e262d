# tests/rollout: rolling updates of the API as Kubernetes performs them, driven by `helm template`
# (see tests/rollout/README.md). `make test` runs them with the other pytest suites (collected from
# tests/); this target runs only them. The tests build Helm themselves (`make helm`) when missing.
.PHONY: rollout-test
rollout-test: all test-bins $(HELM)
	BOLLARD_BUILD=$(abspath $(BUILD)) BOLLARD_HELM=$(HELM) python3 -m pytest -q -rxs -p no:cacheprovider tests/rollout

# The seeded scenarios (start delays, endpoint delays and removal lag, scaling) with many seeds;
# not part of `make test`. SOAK_SEEDS overrides the seeds; the counts of each run are printed, then
# their totals (runs, requests, failed, events delivered, lost events, duplicate deliveries).
SOAK_SEEDS ?= $(shell seq 1 20)
.PHONY: soak
soak: all test-bins $(HELM)
	ROLLOUT_SEEDS="$(SOAK_SEEDS)" BOLLARD_BUILD=$(abspath $(BUILD)) BOLLARD_HELM=$(HELM) \
	  python3 -m pytest -q -s -rxs -p no:cacheprovider tests/rollout \
	  -k "start_delays or endpoint_delays or scale_up_and_down" > $(BUILD)/soak.log 2>&1; rc=$$?; \
	  grep -E '^rollout |passed|failed' $(BUILD)/soak.log; \
	  python3 tests/rollout/soak_summary.py $(BUILD)/soak.log; exit $$rc
