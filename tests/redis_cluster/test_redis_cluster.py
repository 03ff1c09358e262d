"""Redis Cluster for every role: `bollard api` (readiness, sign-in limits, /metrics queue figures),
`bollard worker` (relay and deliverer) and `bollard check`, against 3 masters + 3 replicas of real
redis-server. Every key lives in the {webhooks} slot; the connections find its master from a seed that
is not it (through the slot map, or through MOVED for an ACL user that may not run CLUSTER), follow ASK
while the slot is being migrated and MOVED once it has moved, and carry on after the slot's master is
killed under load: no acknowledged write's event is lost (duplicates are allowed and reported), and
readiness names CLUSTERDOWN once the cluster cannot serve the slot; a TLS-only cluster works the same."""
import json
import re
import threading
import time

import requests

import harness
import workerlib

# An ACL user made on every node that may not run CLUSTER (its connections learn the cluster from
# MOVED replies only). Defined here, not imported from conftest: `conftest` is whichever suite's
# conftest module Python imported first when several suites run in one pytest.
ACL_USER = "bollard-app"
ACL_PASSWORD = "cluster-acl-Pw-7f3a"

HOME_SLOT = 4418  # CLUSTER KEYSLOT "{webhooks}"
JOBS = "bollard:{webhooks}:jobs"


def ready(b):
    status, _, body = harness.get(b.url("/health/ready"))
    return status, json.loads(body)


def metric(b, name):
    status, _, body = harness.get(b.metrics_url())
    assert status == 200
    m = re.search(rf"^{name} (\S+)$", body.decode(), re.M)
    assert m is not None, f"{name} missing from /metrics"
    return float(m.group(1))


def stack_on(pg, cluster, name, url, **extra):
    return workerlib.Stack(pg, name, redis=cluster, REDIS_URL=url, HEALTH_CACHE_MS="100", REDIS_TIMEOUT_MS="1000",
                           **extra)


def other_masters(cluster):
    """The masters that do not hold the home slot (their answers for our keys always redirect)."""
    home = cluster.master_of_slot(HOME_SLOT)
    return [p for _, p, flags, slots in cluster.nodes() if "master" in flags and "fail" not in flags and slots
            and p != home]


def deliver(stack, receiver, name, n=3, timeout=30):
    user, s = stack.signup()
    hook = stack.register(user, s, receiver.url(name))
    receiver.secrets[name] = hook["secret"]
    before = stack.outbox_events("task.created")
    stack.create_tasks(user, s, n)
    events = stack.outbox_events("task.created") - before
    assert len(events) == n
    harness.wait_until(lambda: events <= receiver.delivered(name), timeout=timeout,
                       what=f"{n} webhooks at {name} through the cluster")
    assert all(r["sig_ok"] for r in receiver.snapshot() if r["name"] == name)
    return user, s


def test_seed_not_master_slot_map_and_moved_for_a_user_without_cluster(pg, cluster, receiver):
    seed = other_masters(cluster)[0]
    home = cluster.master_of_slot(HOME_SLOT)
    assert seed != home
    stack = stack_on(pg, cluster, "rcluster_seed", cluster.url_with([f"127.0.0.1:{seed}"]))
    try:
        out = harness.run(["check"], stack.env, timeout=30)
        assert out.returncode == 0, out.stdout + out.stderr
        harness.wait_until(lambda: ready(stack.api)[0] == 200, timeout=15, what="ready through the cluster")
        w = stack.worker("rc-1")
        user, s = deliver(stack, receiver, "a")
        # the jobs are on the slot's master, not on the seed
        assert int(cluster.cli(home, "XLEN", JOBS)) >= 3
        assert cluster.cli(seed, "EXISTS", JOBS).startswith("MOVED")
        # sign-in limits count in the same slot (one script, several keys: no CROSSSLOT)
        r = requests.post(stack.api.url("/api/auth/signin"), json={"email": "nobody@example.com", "password": "x"},
                          timeout=10)
        assert r.status_code == 401
        keys = cluster.cli(home, "--scan", "--pattern", "bollard:{webhooks}:signin:fail:*")
        assert "client:" in keys
        workerlib.stop_worker(w)
    finally:
        stack.stop()
    stack.api.assert_sanitizers_clean()

    # An ACL user that may not run CLUSTER: the slot map is refused, every connection starts on the
    # seed as if it were a standalone server and moves on the first MOVED.
    for port in cluster.ports:
        assert cluster.cli(port, "ACL", "SETUSER", ACL_USER, "on", ">" + ACL_PASSWORD, "~*", "&*", "+@all",
                           "-cluster") == "OK"
    assert "NOPERM" in cluster.cli(seed, "--user", ACL_USER, "--pass", ACL_PASSWORD, "--no-auth-warning",
                                   "CLUSTER", "SLOTS")
    url = cluster.url_with([f"127.0.0.1:{seed}"], cred=f"{ACL_USER}:{ACL_PASSWORD}@")
    stack = stack_on(pg, cluster, "rcluster_moved", url)
    try:
        out = harness.run(["check"], stack.env, timeout=30)
        assert out.returncode == 0, out.stdout + out.stderr
        harness.wait_until(lambda: ready(stack.api)[0] == 200, timeout=15, what="ready after MOVED")
        w = stack.worker("rc-moved")
        deliver(stack, receiver, "b")
        assert ACL_PASSWORD not in w.stdout() + w.stderr() + stack.api.stdout() + stack.api.stderr()
        workerlib.stop_worker(w)
    finally:
        stack.stop()
    stack.api.assert_sanitizers_clean()


def migrate_slot_keys(cluster, src, dst):
    """Moves every key of the home slot from src to dst (MIGRATE), the slot staying src's."""
    while True:
        keys = cluster.cli(src, "CLUSTER", "GETKEYSINSLOT", str(HOME_SLOT), "100").split()
        if not keys:
            return
        out = cluster.cli(src, "MIGRATE", "127.0.0.1", str(dst), "", "0", "5000", "REPLACE", "KEYS", *keys)
        assert out in ("OK", "NOKEY"), out


def test_ask_during_a_slot_migration_then_moved(pg, cluster, receiver):
    src = cluster.master_of_slot(HOME_SLOT)
    dst = other_masters(cluster)[0]
    stack = stack_on(pg, cluster, "rcluster_ask", cluster.url)
    try:
        harness.wait_until(lambda: ready(stack.api)[0] == 200, timeout=15, what="ready")
        w = stack.worker("rc-ask")
        user, s = deliver(stack, receiver, "a")

        src_id, dst_id = cluster.node_id(src), cluster.node_id(dst)
        assert cluster.cli(dst, "CLUSTER", "SETSLOT", str(HOME_SLOT), "IMPORTING", src_id) == "OK"
        assert cluster.cli(src, "CLUSTER", "SETSLOT", str(HOME_SLOT), "MIGRATING", dst_id) == "OK"
        migrate_slot_keys(cluster, src, dst)
        assert cluster.cli(src, "CLUSTER", "COUNTKEYSINSLOT", str(HOME_SLOT)) == "0"
        assert int(cluster.cli(dst, "CLUSTER", "COUNTKEYSINSLOT", str(HOME_SLOT))) > 0
        assert cluster.cli(src, "EXISTS", JOBS).startswith("ASK")
        # The slot is still src's; its keys are at dst: readiness (EXISTS) and the /metrics queue
        # figures are answered with ASK and followed (ASKING, then the command at dst).
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            status, body = ready(stack.api)
            assert status == 200, body
            time.sleep(0.15)  # past HEALTH_CACHE_MS: each answer is a fresh check
        assert metric(stack.api, "bollard_queue_up") == 1
        assert metric(stack.api, "bollard_queue_depth") is not None
        before = stack.outbox_events("task.created")
        stack.create_tasks(user, s, 3)  # written during the migration, delivered after it at the latest

        # The migration ends: every master learns that dst owns the slot; src answers MOVED.
        for port in [dst, src] + [p for p in other_masters(cluster) if p != dst]:
            assert cluster.cli(port, "CLUSTER", "SETSLOT", str(HOME_SLOT), "NODE", dst_id) == "OK"
        harness.wait_until(lambda: cluster.cli(src, "EXISTS", JOBS).startswith("MOVED"), timeout=10,
                           what="MOVED from the old owner")
        events = stack.outbox_events("task.created") - before
        harness.wait_until(lambda: events <= receiver.delivered("a"), timeout=30,
                           what="events written during the migration")
        deliver(stack, receiver, "b")
        assert int(cluster.cli(dst, "XLEN", JOBS)) > 0
        harness.wait_until(lambda: ready(stack.api)[0] == 200, timeout=10, what="ready after MOVED")
        assert metric(stack.api, "bollard_queue_up") == 1
        workerlib.stop_worker(w)
    finally:
        stack.stop()
    stack.api.assert_sanitizers_clean()


def test_failover_of_the_slot_master_under_load(pg, cluster, receiver):
    stack = stack_on(pg, cluster, "rcluster_failover", cluster.url)
    try:
        harness.wait_until(lambda: ready(stack.api)[0] == 200, timeout=15, what="ready")
        w = stack.worker("rc-fo", WORKER_CONCURRENCY="8")
        user, s = deliver(stack, receiver, "a", n=2)

        acked = []
        stop = threading.Event()

        def writer():
            i = 0
            while not stop.is_set():
                r = s.post(stack.api.url(f"/api/{user}/tasks"), json={"title": f"load {i}"}, timeout=10)
                if r.status_code == 201:
                    acked.append(r.json()["id"])
                i += 1
                time.sleep(0.01)
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        try:
            harness.wait_until(lambda: len(acked) >= 30, timeout=20, what="writes before the kill")
            master = cluster.master_of_slot(HOME_SLOT)
            killed_at = time.monotonic()
            cluster.kill(master)
            new_master = harness.wait_until(
                lambda: (m := cluster.master_of_slot(HOME_SLOT)) not in (None, master) and m, timeout=30,
                what="a replica promoted for the slot")
            failover_s = time.monotonic() - killed_at
            harness.wait_until(lambda: len(acked) >= 60 and time.monotonic() - killed_at > failover_s + 2,
                               timeout=30, what="writes after the fail-over")
        finally:
            stop.set()
            t.join(15)
        cluster.wait_ok(timeout=30)
        harness.wait_until(lambda: ready(stack.api)[0] == 200, timeout=30, what="ready again by itself")
        ready_again_s = time.monotonic() - killed_at

        events = stack.outbox_events("task.created")  # every acknowledged write has its event row
        assert len(events) >= len(acked)
        harness.wait_until(lambda: events <= receiver.delivered("a"), timeout=60,
                           what=f"every acknowledged write's event ({len(events)}) after the fail-over")
        ids = [r["event_id"] for r in receiver.snapshot() if r["name"] == "a" and r.get("answered")
               and r["status"] == 200]
        duplicates = len(ids) - len(set(ids))
        print(f"\nfail-over: {len(acked)} writes acknowledged, {len(events)} events, all delivered; "
              f"{duplicates} duplicate deliveries; new master :{new_master} after {failover_s:.1f} s, "
              f"API ready again {ready_again_s:.1f} s after the kill")
        assert w.proc.poll() is None, "the worker carries on"
        deliver(stack, receiver, "b", n=2)
        assert int(cluster.cli(new_master, "XLEN", JOBS)) > 0

        # Another master and its replica die: slots are left uncovered, the cluster is down (the
        # slot's master is alive and refuses our keys): readiness names the cluster's state.
        other = next(p for _, p, flags, slots in cluster.nodes() if "master" in flags and "fail" not in flags
                     and slots and p != new_master)
        other_id = cluster.node_id(other)
        replicas = [int(m.group(1)) for m in re.finditer(
            r"127\.0\.0\.1:(\d+)@", cluster.cli(other, "CLUSTER", "REPLICAS", other_id))]
        for p in [other] + replicas:
            cluster.kill(p)
        harness.wait_until(lambda: "CLUSTERDOWN" in json.dumps(ready(stack.api)[1]["checks"]["redis"])
                           and ready(stack.api)[0] == 503, timeout=20, what="readiness naming CLUSTERDOWN")
        workerlib.stop_worker(w)
    finally:
        stack.stop()
    stack.api.assert_sanitizers_clean()


def test_tls_cluster_from_a_seed_named_by_dns(pg, receiver):
    """rediss:// to a TLS-only cluster (tls-cluster, tls-replication): the seed is named "localhost",
    the slot map's nodes are addresses (127.0.0.1): each node's certificate is checked for the name or
    address the connection went to."""
    cluster = harness.RedisCluster(masters=3, node_timeout_ms=1000, tls=True)
    try:
        seed = other_masters(cluster)[0]
        stack = stack_on(pg, cluster, "rcluster_tls", f"rediss://localhost:{seed}/0", REDIS_TLS_CA_FILE=cluster.ca)
        try:
            out = harness.run(["check"], stack.env, timeout=30)
            assert out.returncode == 0, out.stdout + out.stderr
            harness.wait_until(lambda: ready(stack.api)[0] == 200, timeout=15, what="ready through TLS")
            w = stack.worker("rc-tls")
            deliver(stack, receiver, "a")
            assert int(cluster.cli(cluster.master_of_slot(HOME_SLOT), "XLEN", JOBS)) > 0
            workerlib.stop_worker(w)
        finally:
            stack.stop()
        stack.api.assert_sanitizers_clean()
    finally:
        cluster.destroy()
