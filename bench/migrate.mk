# `bollard migrate` on an up-to-date database vs `alembic upgrade head` on one of the same schema
# (issue 3); both in the same run, reported as a ratio.
.PHONY: bench-migrate
bench-migrate: build/release/bollard
	BOLLARD_BUILD=$(abspath build/release) $(BENCH_PYTHON) bench/migrate_bench.py
BENCH_TARGETS += bench-migrate
