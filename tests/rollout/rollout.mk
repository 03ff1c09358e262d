# tests/rollout: rolling updates of the API as Kubernetes performs them, driven by `helm template`
# (see tests/rollout/README.md). `make test` runs them with the other pytest suites (collected from
# tests/); this target runs only them. The tests build Helm themselves (`make helm`) when missing.
.PHONY: rollout-test
rollout-test: all test-bins $(HELM)
	BOLLARD_BUILD=$(abspath $(BUILD)) BOLLARD_HELM=$(HELM) python3 -m pytest -q -rxs -p no:cacheprovider tests/rollout
