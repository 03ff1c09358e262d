"""The workers' figures on the API's /metrics (issue 18 item 2): a worker has no port, so each one
reports its counters to Redis every 5 s (expiring after 30 s) and every API pod exports them,
labelled by consumer. A worker that stops cleanly takes its figures with it at once."""
import re

import harness
from workerlib import stop_worker


def scrape(stack):
    status, _, body = harness.get(stack.api.metrics_url())
    assert status == 200
    return body.decode()


def sample(text, name, labels=""):
    m = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_no_worker_reports_zero_workers(stack):
    """The first thing an operator sees before any worker runs: 0 workers, no per-worker series."""
    text = scrape(stack)
    assert sample(text, "bollard_workers") == 0
    assert "bollard_worker_delivered_total" not in text


def test_each_worker_reports_its_deliveries_and_leaves_when_stopped(stack, receiver):
    user, s = stack.signup()
    receiver.secrets["figures"] = stack.register(user, s, receiver.url("figures"))["secret"]
    a = stack.worker("figures-a")
    b = stack.worker("figures-b")
    stack.create_tasks(user, s, 6)
    harness.wait_until(lambda: len(receiver.delivered("figures")) == 6, timeout=20, what="6 deliveries")

    def reported():
        text = scrape(stack)
        total = sum(sample(text, "bollard_worker_delivered_total", f'{{consumer="{c}"}}') or 0
                    for c in ("figures-a", "figures-b"))
        return text if sample(text, "bollard_workers") == 2 and total == 6 else None

    text = harness.wait_until(reported, timeout=15, what="both workers' figures with all 6 deliveries", interval=0.2)
    for c in ("figures-a", "figures-b"):
        labels = f'{{consumer="{c}"}}'
        age = sample(text, "bollard_worker_report_age_seconds", labels)
        assert age is not None and 0 <= age < 30
        assert sample(text, "bollard_worker_failed_attempts_total", labels) == 0
        assert sample(text, "bollard_worker_dead_lettered_total", labels) == 0
        assert sample(text, "bollard_worker_in_flight", labels) is not None
        count = sample(text, "bollard_worker_delivery_duration_seconds_count", labels)
        inf = sample(text, "bollard_worker_delivery_duration_seconds_bucket", f'{{consumer="{c}",le="+Inf"}}')
        assert count == inf and count == sample(text, "bollard_worker_delivered_total", labels)
    # The histogram is cumulative and well formed.
    buckets = [float(v) for v in re.findall(
        r'^bollard_worker_delivery_duration_seconds_bucket\{consumer="figures-a",le="[^"]+"\} (\S+)$', text, re.M)]
    assert buckets == sorted(buckets) and len(buckets) == 9

    stop_worker(a)
    harness.wait_until(lambda: sample(scrape(stack), "bollard_workers") == 1, timeout=5,
                       what="the stopped worker's figures removed at once, not after 30 s")
    assert 'consumer="figures-a"' not in scrape(stack)
    stop_worker(b)
    assert sample(scrape(stack), "bollard_workers") == 0
