# List 20 tasks / create a task: `bollard api` against pgbench running the same SQL and a FastAPI +
# SQLAlchemy peer (bench/peers/fastapi), same run, same PostgreSQL, wrk on loopback (issue 4).
# Never part of `make test`.
.PHONY: bench-tasks
bench-tasks: build/release/bollard
	BOLLARD_BUILD=$(abspath build/release) $(BENCH_PYTHON) bench/tasks_bench.py
BENCH_TARGETS += bench-tasks
