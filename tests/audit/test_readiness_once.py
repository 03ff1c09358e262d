"""Audit finding 7 (and the rollout issue's readiness flap): with API_THREADS=2, readiness polled
every 20 ms across a migration changes exactly once — every event loop gives the same answer."""
import threading
import time

import harness


def test_readiness_changes_once_across_a_migration(pg, redis):
    url = pg.new_database("audit_ready_once")
    env = harness.base_env(pg, redis, DATABASE_URL=url, ACCESS_LOG="false", API_THREADS="2",
                           HEALTH_CACHE_MS="200")
    b = harness.Bollard.api(env)
    seen, stop = [], threading.Event()

    def poll():
        while not stop.is_set():
            # a new connection each time, so the kernel spreads them over both loops (SO_REUSEPORT)
            seen.append(harness.get(b.url("/health/ready"), timeout=5)[0])
            stop.wait(0.02)

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    try:
        harness.wait_until(lambda: len(seen) >= 20, timeout=10, what="polls before the migration")
        assert set(seen) == {503}, seen
        out = harness.run(["migrate"], env, timeout=60)
        assert out.returncode == 0, out.stderr
        harness.wait_until(lambda: 200 in seen, timeout=15, what="ready after the migration")
        first = seen.index(200)
        harness.wait_until(lambda: len(seen) >= first + 100, timeout=20, what="100 polls after ready")
    finally:
        stop.set()
        t.join(10)
        b.signal()
        b.wait(20)
    changes = sum(1 for a, c in zip(seen, seen[1:]) if a != c)
    assert changes == 1, f"readiness changed {changes} times: {seen}"
    b.assert_sanitizers_clean()
