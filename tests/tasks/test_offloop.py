"""Password hashing runs off the event loops: a burst of sign-ups never stalls other requests."""
import threading
import time
import uuid

import requests


def test_signups_do_not_stall_the_loop(api):
    stop = threading.Event()
    done = []

    def signups():
        s = requests.Session()
        while not stop.is_set():
            r = s.post(api.url("/api/auth/signup"),
                       json={"email": f"burst-{uuid.uuid4().hex}@example.com", "password": "correct horse battery"},
                       timeout=30)
            done.append(r.status_code)

    threads = [threading.Thread(target=signups) for _ in range(6)]
    for t in threads:
        t.start()
    try:
        s = requests.Session()
        worst = 0.0
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            assert s.get(api.url("/health/live"), timeout=5).status_code == 200
            worst = max(worst, time.monotonic() - t0)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert len(done) >= 6 and set(done) <= {201, 503}, done
    # Each argon2id hash takes tens of milliseconds of CPU; the loop must not wait for any of them.
    assert worst < 0.25, f"/health/live took {worst * 1000:.0f} ms during the sign-up burst"
