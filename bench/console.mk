# The web console's load in headless Chromium on `bollard dev` (as `make run` starts it), against
# the /docs page measured the same way (issue 16).
.PHONY: bench-console
bench-console: build/release/bollard
	BOLLARD_BUILD=$(abspath build/release) $(BENCH_PYTHON) bench/console_bench.py
BENCH_TARGETS += bench-console
