# Webhook deliveries per second of `bollard worker` (1 and 2 processes, and outbox → webhook end to
# end) against an RQ worker doing the same deliveries (bench/peers/rq), same run, same Redis and
# no-op receiver (nginx); Redis CPU per 1,000 jobs and peak RSS (issue 5). Never part of `make test`.
.PHONY: bench-worker
bench-worker: build/release/bollard
	BOLLARD_BUILD=$(abspath build/release) $(BENCH_PYTHON) bench/worker_bench.py
BENCH_TARGETS += bench-worker
