# Benchmarks of the API runtime (issue 2); figures are ratios against a peer measured in the same run.
.PHONY: bench-api
bench-api: build/release/bollard
	BOLLARD_BUILD=$(abspath build/release) python3 bench/api_bench.py
BENCH_TARGETS += bench-api
