# The assistant (issue 15): /health/live and list-tasks p99 with 500 chats held open against a fake
# provider answering after 2 s, vs the same binary without chats, and RSS per chat in flight; chats
# per second with an instant fake provider vs a FastAPI + openai SDK peer (bench/peers/fastapi/
# chat_app.py), same run, same PostgreSQL, wrk on loopback. Never part of `make test`.
.PHONY: bench-chat
bench-chat: build/release/bollard
	BOLLARD_BUILD=$(abspath build/release) $(BENCH_PYTHON) bench/chat_bench.py
BENCH_TARGETS += bench-chat
