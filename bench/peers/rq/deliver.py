"""RQ peer of `bollard worker` (bench/worker_bench.py): the same webhook delivery as an RQ job.

`deliver` signs the body exactly like Bollard (X-Bollard-Signature: t=<unix>,v1=<HMAC-SHA256 of
"<t>." + body>), sends the same headers, no redirects, connect/total timeouts, and fails the job
(so RQ's Retry applies) on anything but 2xx. One keep-alive requests.Session per worker process,
the usual way to write it. `enqueue` loads N jobs with the retry schedule Bollard documents."""
import hashlib
import hmac
import sys
import time

import requests
from redis import Redis
from rq import Queue, Retry

QUEUE = "deliveries"
SESSION = requests.Session()


def deliver(url, secret, event_id, event_type, attempt, body):
    ts = str(int(time.time()))
    sig = hmac.new(secret.encode(), ts.encode() + b"." + body.encode(), hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Bollard-Event-Id": event_id,
               "X-Bollard-Event-Type": event_type, "X-Bollard-Delivery-Attempt": str(attempt),
               "X-Bollard-Signature": f"t={ts},v1={sig}", "User-Agent": "rq-peer"}
    r = SESSION.post(url, data=body.encode(), headers=headers, timeout=(5, 10), allow_redirects=False)
    if not 200 <= r.status_code < 300:
        raise RuntimeError(f"HTTP {r.status_code}")
    return r.status_code


def enqueue(redis_url, n, url, secret, body):
    q = Queue(QUEUE, connection=Redis.from_url(redis_url))
    retry = Retry(max=7, interval=[1, 4, 16, 64, 256, 1024, 3600])
    batch = 1000
    for start in range(0, n, batch):
        jobs = [Queue.prepare_data("deliver.deliver", args=(url, secret, f"00000000-0000-4000-8000-{i:012d}", "task.created",
                                                  1, body), retry=retry)
                for i in range(start, min(n, start + batch))]
        q.enqueue_many(jobs)
    return len(q)


if __name__ == "__main__":
    redis_url, n, url, secret, body_file = sys.argv[1:6]
    with open(body_file) as f:
        print(enqueue(redis_url, int(n), url, secret, f.read()))
