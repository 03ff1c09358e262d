"""Sign-in slowdown (429 + Retry-After from Redis counters), CORS for FRONTEND_URL, and 503 + Retry-After
when the database cannot take more work."""
import threading

import pytest
import requests

import harness
from taskclient import signup


def signin(base, email, password):
    return requests.post(base + "/api/auth/signin", json={"email": email, "password": password}, timeout=30)


def test_failed_signins_are_slowed_down(api, redis):
    base = api.url("")
    client, email = signup(base)
    for _ in range(5):
        assert signin(base, email, "wrong password").status_code == 401
    r = signin(base, email, "correct horse battery")  # even the right password waits now
    assert r.status_code == 429
    assert 1 <= int(r.headers["retry-after"]) <= 900
    assert r.headers["content-type"] == "application/problem+json"
    # the counter lives in Redis under a digest of the account, never the address itself
    keys = redis.cli("--scan", "--pattern", "bollard:{webhooks}:signin:fail:*")
    assert email not in keys and "account:" in keys
    # another account from the same client is not locked by this one
    other, other_email = signup(base)
    assert signin(base, other_email, "correct horse battery").status_code == 200


@pytest.fixture(scope="module")
def cors_api(pg, redis):
    url = pg.new_database("tasks_cors")
    env = harness.base_env(pg, redis, DATABASE_URL=url, FRONTEND_URL="https://app.example.com,http://localhost:3000/")
    assert harness.run(["migrate"], env, timeout=60).returncode == 0
    b = harness.Bollard.api(env)
    yield b
    b.signal()
    assert b.wait(20) == 0


def test_cors_preflight_and_responses(cors_api):
    base = cors_api.url("")
    r = requests.options(base + "/api/tasks", headers={"Origin": "https://app.example.com",
                                                       "Access-Control-Request-Method": "POST",
                                                       "Access-Control-Request-Headers": "authorization,content-type"},
                         timeout=10)
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "PUT" in r.headers["access-control-allow-methods"]
    assert "authorization" in r.headers["access-control-allow-headers"].lower()
    r = requests.options(base + "/api/tasks", headers={"Origin": "http://localhost:3000",
                                                       "Access-Control-Request-Method": "GET"}, timeout=10)
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == "http://localhost:3000"
    r = requests.options(base + "/api/tasks", headers={"Origin": "https://evil.example.com",
                                                       "Access-Control-Request-Method": "GET"}, timeout=10)
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    r = requests.get(base + "/api/tasks", headers={"Origin": "https://app.example.com"}, timeout=10)
    assert r.status_code == 401  # CORS headers even on errors, so the browser can read them
    assert r.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "ETag" in r.headers["access-control-expose-headers"]
    r = requests.get(base + "/api/tasks", headers={"Origin": "https://evil.example.com"}, timeout=10)
    assert "access-control-allow-origin" not in r.headers


def test_database_down_gives_503_not_500(redis):
    pg = harness.Postgres()
    try:
        env = harness.base_env(pg, redis, DB_QUERY_TIMEOUT_MS=1000)
        assert harness.run(["migrate"], env, timeout=60).returncode == 0
        b = harness.Bollard.api(env)
        client, _ = signup(b.url(""))
        assert client.get("/api/tasks").status_code == 200
        pg.stop()
        r = harness.wait_until(lambda: (lambda r: [r] if r.status_code == 503 else None)(client.get("/api/tasks")),
                               timeout=10, what="503 with the database down")[0]
        assert r.headers["retry-after"] == "1"
        assert client.post("/api/tasks", {"title": "x"}).status_code == 503
        pg.start()
        harness.wait_until(lambda: client.get("/api/tasks").status_code == 200, timeout=15, what="recovery")
        b.stop_clean()
    finally:
        pg.destroy()


def test_full_queue_gives_503_with_retry_after(pg, redis):
    url = pg.new_database("tasks_queue")
    env = harness.base_env(pg, redis, DATABASE_URL=url, API_THREADS=1, DB_POOL_SIZE=1, DB_QUEUE_MAX=0,
                           ACCESS_LOG="false")
    assert harness.run(["migrate"], env, timeout=60).returncode == 0
    b = harness.Bollard.api(env)
    client, _ = signup(b.url(""))
    statuses, lock = {}, threading.Lock()

    def hammer():
        s = requests.Session()
        for _ in range(40):
            r = s.get(b.url("/api/tasks"), headers={"Authorization": f"Bearer {client.token}"}, timeout=10)
            with lock:
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            if r.status_code == 503:
                assert r.headers["retry-after"] == "1"

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert set(statuses) <= {200, 503}, statuses
    assert statuses.get(503, 0) > 0 and statuses.get(200, 0) > 0, statuses
    b.signal()
    assert b.wait(20) == 0
