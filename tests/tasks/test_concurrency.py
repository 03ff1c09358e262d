"""Concurrent updates with If-Match: exactly one wins, the others get 412; nothing is lost silently."""
import threading

from taskclient import signup


def test_if_match_exactly_one_wins(api):
    client, _ = signup(api.url(""))
    r = client.post("/api/tasks", {"title": "contended"})
    task, etag = r.json()["id"], r.headers["etag"]
    results = []
    barrier = threading.Barrier(12)

    def writer(i):
        c, _ = signup(api.url("")) if False else (client, None)
        barrier.wait()
        resp = c.put(f"/api/tasks/{task}", {"title": f"writer {i}"}, headers={"If-Match": etag})
        results.append((i, resp.status_code, resp.headers.get("etag")))

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    codes = sorted(code for _, code, _ in results)
    assert codes.count(200) == 1 and codes.count(412) == 11, codes
    winner = next(i for i, code, _ in results if code == 200)
    final = client.get(f"/api/tasks/{task}")
    assert final.json()["title"] == f"writer {winner}"
    assert final.headers["etag"] == next(e for _, code, e in results if code == 200)
