# bench/*.py import the test helpers (harness, imagetool) from tests/lib: the bench targets put it on
# their path, here and nowhere else. By hand: PYTHONPATH=tests/lib python3 bench/<name>.py
BENCH_PYTHON = PYTHONPATH=$(abspath tests/lib) python3

# Benchmarks of the API runtime (issue 2); figures are ratios against a peer measured in the same run.
.PHONY: bench-api
bench-api: build/release/bollard
	BOLLARD_BUILD=$(abspath build/release) $(BENCH_PYTHON) bench/api_bench.py
BENCH_TARGETS += bench-api

# Instructions per request under callgrind: the same for the same binary whatever else loads the
# machine, so two builds compare exactly (not part of `make bench`'s report).
.PHONY: bench-icount
bench-icount: build/release/bollard
	BOLLARD_BUILD=$(abspath build/release) $(BENCH_PYTHON) bench/icount.py

# Image size and cold start to ready of the runtime image vs the same binary on the host (issue 8).
.PHONY: bench-image
bench-image: image build/release/bollard
	BOLLARD_BUILD=$(abspath build/release) BOLLARD_IMAGE='$(IMAGE)' $(BENCH_PYTHON) bench/image_start.py 5
BENCH_TARGETS += bench-image

# The report alone, from whatever build/bench/results holds (make bench runs it at the end).
.PHONY: bench-report
bench-report:
	python3 bench/report.py
