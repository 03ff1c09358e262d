"""Liveness never depends on PostgreSQL or Redis; readiness follows them and recovers without a restart."""
import json

import pytest

import harness


def ready(b):
    status, _, body = harness.get(b.url("/health/ready"))
    return status, json.loads(body)


@pytest.fixture
def own_services():
    """A PostgreSQL and Redis of this test's own: the test stops and restarts them."""
    pg = harness.Postgres()
    redis = harness.Redis()
    out = harness.run(["migrate"], harness.base_env(pg, redis), timeout=60)
    assert out.returncode == 0, out.stderr
    yield pg, redis
    pg.destroy()
    redis.destroy()


def test_live_and_aliases_and_404(pg, redis):
    b = harness.Bollard.api(harness.base_env(pg, redis))
    for path in ("/health/live", "/health"):
        status, headers, body = harness.get(b.url(path))
        assert status == 200 and json.loads(body) == {"status": "ok"}
        assert headers["content-type"] == "application/json"
    for path in ("/ready", "/api/health", "/health/ready"):
        status, headers, body = harness.get(b.url(path))
        assert status in (200, 503) and "checks" in json.loads(body)
    status, headers, body = harness.get(b.url("/no/such/path"))
    assert status == 404 and headers["content-type"] == "application/problem+json"
    assert json.loads(body)["status"] == 404
    b.signal()
    assert b.wait(15) == 0
    b.assert_sanitizers_clean()


def test_database_outage_fails_readiness_not_liveness(own_services):
    pg, redis = own_services
    b = harness.Bollard.api(harness.base_env(pg, redis, HEALTH_CACHE_MS=100))
    harness.wait_until(lambda: ready(b)[0] == 200, timeout=10, what="ready")

    pg.stop()
    status, report = harness.wait_until(lambda: (lambda r: r if r[0] == 503 else None)(ready(b)), timeout=10,
                                        what="ready 503 after PostgreSQL stopped")
    assert report["checks"]["database"]["ok"] is False
    assert report["checks"]["redis"]["ok"] is True
    for _ in range(20):  # liveness never touches the database
        assert harness.get(b.url("/health/live"))[0] == 200

    pg.start()
    harness.wait_until(lambda: ready(b)[0] == 200, timeout=15, what="ready again after PostgreSQL restarted")
    assert b.proc.poll() is None  # same process: no restart
    b.signal()
    assert b.wait(15) == 0
    b.assert_sanitizers_clean()


def test_redis_outage_fails_readiness_not_liveness(own_services):
    pg, redis = own_services
    b = harness.Bollard.api(harness.base_env(pg, redis, HEALTH_CACHE_MS=100))
    harness.wait_until(lambda: ready(b)[0] == 200, timeout=10, what="ready")

    redis.stop()
    status, report = harness.wait_until(lambda: (lambda r: r if r[0] == 503 else None)(ready(b)), timeout=10,
                                        what="ready 503 after Redis stopped")
    assert report["checks"]["redis"]["ok"] is False
    assert report["checks"]["database"]["ok"] is True
    assert harness.get(b.url("/health/live"))[0] == 200

    redis.start()
    harness.wait_until(lambda: ready(b)[0] == 200, timeout=15, what="ready again after Redis restarted")
    assert b.proc.poll() is None
    b.signal()
    assert b.wait(15) == 0
    b.assert_sanitizers_clean()


def test_unreachable_services_at_start_are_live_not_ready():
    # Nothing listens on port 1: the api starts, stays live, reports both checks failing.
    b = harness.Bollard.api(harness.base_env(None, None))
    status, report = ready(b)
    assert status == 503
    assert report["checks"]["database"]["ok"] is False
    assert report["checks"]["redis"]["ok"] is False
    assert harness.get(b.url("/health/live"))[0] == 200
    b.signal()
    assert b.wait(15) == 0
    b.assert_sanitizers_clean()


def test_metrics_exposition(pg, redis):
    b = harness.Bollard.api(harness.base_env(pg, redis))
    harness.get(b.url("/health/live"))
    harness.get(b.url("/health/ready"))
    harness.get(b.url("/nope"))
    status, headers, body = harness.get(b.metrics_url())
    text = body.decode()
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert 'bollard_http_requests_total{route="/health/live",method="GET",status="200"}' in text
    assert 'route="unmatched",method="GET",status="404"' in text
    assert 'bollard_http_request_duration_seconds_bucket{route="/health/live",le="+Inf"}' in text
    for family in ("bollard_db_pool_in_use", "bollard_db_pool_waiting", "bollard_redis_connected",
                   "bollard_build_info", "process_resident_memory_bytes", "bollard_queue_depth",
                   "bollard_queue_pending", "bollard_queue_oldest_pending_age_seconds", "bollard_queue_dead_letters"):
        assert f"\n{family}" in text, family
    assert "test-secret-key" not in text
    assert "\nbollard_queue_up 1\n" in text  # read from Redis on this scrape
    b.signal()
    assert b.wait(15) == 0


def test_request_id_echoed_when_sane_generated_otherwise(pg, redis):
    b = harness.Bollard.api(harness.base_env(pg, redis))
    _, headers, _ = harness.get(b.url("/health/live"), headers={"X-Request-Id": "abc-123.def"})
    assert headers["x-request-id"] == "abc-123.def"
    _, headers, _ = harness.get(b.url("/health/live"), headers={"X-Request-Id": "bad id\"{}"})
    assert headers["x-request-id"] != "bad id\"{}" and len(headers["x-request-id"]) == 32
    _, headers, _ = harness.get(b.url("/health/live"), headers={"X-Request-Id": "x" * 200})
    assert len(headers["x-request-id"]) == 32
    b.signal()
    assert b.wait(15) == 0
    lines = b.log_lines()
    assert any(l.get("request_id") == "abc-123.def" and l.get("msg") == "request" for l in lines)
    for l in lines:  # every line is one JSON object with ts, level, msg
        assert {"ts", "level", "msg"} <= set(l)


def test_docs_assets_and_encoded_query_names(pg, redis):
    b = harness.Bollard.api(harness.base_env(pg, redis))
    status, headers, body = harness.get(b.url("/docs"))
    assert status == 200 and headers["content-type"].startswith("text/html")
    # h2o decodes %3F before routing: a file name with '?' is just an unknown file, not the page.
    assert harness.get(b.url("/docs/%3Fx"))[0] == 404
    assert harness.get(b.url("/docs/?x=1"))[0] == 200  # a real query string is ignored
    assert harness.get(b.url("/openapi.json"))[0] == 200
    b.signal()
    assert b.wait(15) == 0
