"""Rolling updates of the API as Kubernetes performs them, driven by `helm template` (rollout.py):
zero failed or reset requests while replicas are replaced, no byte served by a replica after it
exited, and the update done within a deadline derived from the rendered probe timings. Then the
schema gate (CONTRACT §4) in a rollback: after an expand migration the old version rolls back
cleanly; after a contract migration its pods stay unready and the traffic stays on the new ones.
"""
import http.client
import json
import os
import random
import time

import pytest

import harness
import rollout

HERE = os.path.dirname(os.path.abspath(__file__))
VALUES = os.path.join(HERE, "values.yaml")
SECRET_KEY = "rollout-secret-key-0123456789abcdef-XYZ"
SETTLE = 1.0  # load before and after each update, seconds
HOOK = "rollout"  # the load user's webhook endpoint at the receiver
EVENT_DEADLINE = 30  # seconds after the load stopped for the last events to reach the receiver
WATCH_PROBES = 5  # readiness periods a stuck rollback is watched for

# How often a refused eviction is tried again, as `kubectl drain` retries it (there 5 s).
EVICTION_RETRY_SECONDS = 0.2
# How often the tests' watch loops look again at what they wait for (each has its deadline).
POLL_SECONDS = 0.1


# One random seed per seeded scenario and run, beside its fixed one: `make test` keeps trying new
# timings. The seed is in the test's id (test_…[123456]); ROLLOUT_SEEDS=123456 replays it.
RANDOM_SEED = random.SystemRandom().randrange(1, 1_000_000)


def seeds(fixed):
    """The seeds of a seeded scenario: `fixed` and RANDOM_SEED in `make test`, ROLLOUT_SEEDS
    (space-separated) in `make soak` or to replay a failure."""
    env = os.environ.get("ROLLOUT_SEEDS", "").split()
    return [int(x) for x in env] or [fixed, RANDOM_SEED]


def fixture_binary(name):
    return harness.binary(name if name == "bollard" else os.path.join("fixtures", "bollard-" + name))


def render(tag, db_url, redis, handler="httpGet", sets=()):
    return rollout.render([VALUES], sets=[f"image.tag={tag}", f"secret.databaseUrl={db_url}",
                                          f"secret.secretKey={SECRET_KEY}", f"secret.redisUrl={redis.url}",
                                          f"api.probes.handler={handler}"] + list(sets))


def image_of(r):
    return r.find("Deployment", component="api")["spec"]["template"]["spec"]["containers"][0]["image"]


def deadline_of(r, endpoint_delay=rollout.ENDPOINT_DELAY):
    """An upper bound for one rolling update from the rendered settings: per replica, the startup
    probe's first success (two periods), readiness successThreshold (+1 period), minReadySeconds,
    the endpoint delay and a second of slack; then the last old pod's grace period."""
    spec = r.find("Deployment", component="api")["spec"]
    c = spec["template"]["spec"]["containers"][0]
    st, rd = c["startupProbe"], c["readinessProbe"]
    step = (st.get("initialDelaySeconds", 0) + 2 * st["periodSeconds"]
            + (rd.get("successThreshold", 1) + 1) * rd["periodSeconds"] + spec.get("minReadySeconds", 0)
            + endpoint_delay + 1)
    return spec["replicas"] * step + spec["template"]["spec"]["terminationGracePeriodSeconds"]


def migrate(r, images, tmp_path):
    p = rollout.run_job(r, images, str(tmp_path))
    assert p.returncode == 0, f"migration Job exited {p.returncode}: {p.stdout[-1500:]} {p.stderr[-1500:]}"


def post_json(port, path, body, token=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    conn.request("POST", path, body=json.dumps(body), headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    assert r.status == 201, (path, r.status, data)
    return json.loads(data)


def signup(port):
    """A new user: (access token, user id)."""
    body = post_json(port, "/api/auth/signup",
                     {"email": f"rollout-{time.time_ns()}@example.com", "password": "correct horse battery"})
    return body["access_token"], body["user_id"]


def load_for(r, cluster, receiver=None):
    """The load generator; its idle keep-alive clients pause longer than the rendered drain. With a
    receiver, the load's user first registers a webhook endpoint at it (HOOK), so every task event
    of the load is delivered there by the worker."""
    env = r.find("Deployment", component="api")["spec"]["template"]["spec"]["containers"][0]["env"]
    drain = int(next(e["value"] for e in env if e["name"] == "SHUTDOWN_DRAIN_SECONDS"))
    port = cluster.balancer.port
    token, user = signup(port)
    if receiver is not None:
        hook = post_json(port, f"/api/{user}/webhooks", {"url": receiver.url(HOOK)}, token)
        receiver.secrets[HOOK] = hook["secret"]
    load = rollout.Load(port, token, idle_pace=drain + 1.0)
    load.user = user
    return load


@pytest.fixture
def redis():
    """A Redis of the test's own (harness.Redis: redis-server on a free loopback port), replacing
    the session's: the worker's stream and consumer group see only this test's jobs."""
    server = harness.Redis()
    yield server
    server.destroy()


@pytest.fixture
def cluster(tmp_path):
    c = rollout.Cluster(str(tmp_path))
    yield c
    c.shutdown()


def wait_load(load, more):
    target = load.total() + more
    harness.wait_until(lambda: load.total() >= target, timeout=30, interval=0.05, what=f"{more} more requests")


def settle(load):
    # Not a wait for a condition: the load goes on for SETTLE seconds after the rollout, so requests
    # that reach the new pods only are part of the record too.
    time.sleep(SETTLE)
    wait_load(load, 20)


def assert_clean_run(cluster, load, phase):
    """Zero failed or reset requests, nothing served after a replica exited, clean replica exits."""
    b = cluster.balancer
    t0 = load.started_at
    failures = [f"{t - t0:.2f}s client {i}: {what}" for t, i, what in load.failures]
    assert not failures, f"{phase}: {len(failures)} of {load.total()} requests failed:\n" + "\n".join(
        failures[:20]) + "\n" + cluster.describe()
    assert not b.refused, f"{phase}: connections refused by the balancer: {b.refused[:10]}"
    for rec in b.connections:
        pod = rec["pod"]
        assert rec["reset"] is None, f"{phase}: connection to {pod.name} reset: {rec['reset']}"
        if pod.exited_at is not None:
            assert rec["opened"] < pod.exited_at, f"{phase}: connection to {pod.name} opened after it exited"
            assert rec["last_backend_byte"] is None or rec["last_backend_byte"] <= pod.exited_at, \
                f"{phase}: bytes from {pod.name} after it exited"
    for p in cluster.all_pods():
        assert not p.problems, f"{phase}: {p.name}: {p.problems}\n{cluster.describe()}"
        if p.exited_at is not None:
            assert not p.killed, f"{phase}: {p.name} needed SIGKILL after {p.grace}s"
            assert p.returncode == 0, f"{phase}: {p.name} exited {p.returncode}: {p.stderr()[-2000:]}"
        err = p.stderr()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert marker not in err, f"{p.name}: {err[-3000:]}"


def served_by(cluster, since):
    """Revision -> requests forwarded on connections opened after `since`."""
    out = {}
    for rec in cluster.balancer.connections:
        if rec["opened"] >= since:
            out[rec["pod"].revision] = out.get(rec["pod"].revision, 0) + rec["requests"]
    return out


def report(name, load, durations, events=None):
    """One `rollout …` line per run (make soak sums them: tests/rollout/soak_summary.py)."""
    ev = ""
    if events is not None:
        ev = (f"{events['events']} events delivered, {events['lost']} lost, {events['duplicates']} duplicates, "
              f"max event latency {events['max_latency']:.1f}s, workers {events['workers']}, ")
    print(f"\nrollout {name}: {load.total()} requests, {len(load.failures)} failed, {ev}statuses {load.statuses}, "
          f"{load.pooled_closed} pooled connections closed by the server, "
          + ", ".join(f"{k} {v:.1f}s" for k, v in durations.items()))


def collect_events(cluster, load, receiver, pg, db, timeout=EVENT_DEADLINE):
    """Polls the receiver until every acknowledged write's task.created event and every outbox
    event of the test's database was delivered (answered 2xx, deduplicated by X-Bollard-Event-Id),
    or the deadline passes. Returns the counts; `lost` are acknowledged writes without their event,
    `undelivered` outbox events (written, maybe not acknowledged) never delivered."""
    acked = set(load.acked)

    def state():
        answered = [r for r in receiver.snapshot() if r["name"] == HOOK and r["status"] is not None
                    and 200 <= r["status"] < 300 and r.get("answered")]
        events = {}
        for r in answered:  # the first delivery of each event
            events.setdefault(r["event_id"], r)
        created = {json.loads(r["body"])["data"]["id"]: r["t"] for r in events.values() if r["type"] == "task.created"}
        return answered, events, created

    deadline = time.monotonic() + timeout
    while True:
        answered, events, created = state()
        missing = acked - created.keys()
        outbox = set(pg.psql("SELECT event_id FROM outbox", db=m_dbname(db)).split()) if not missing else None
        if (not missing and outbox <= events.keys()) or time.monotonic() >= deadline:
            break
        time.sleep(POLL_SECONDS)
    if outbox is None:
        outbox = set(pg.psql("SELECT event_id FROM outbox", db=m_dbname(db)).split())
    # From the write's 201 to the event's first delivery (a worker that cannot relay shows here).
    latency = max((created[t] - load.acked_at[t] for t in acked & created.keys()), default=0.0)
    return {"acked": len(acked), "events": len(events), "deliveries": len(answered), "max_latency": latency,
            "duplicates": len(answered) - len(events), "lost": len(missing), "lost_ids": sorted(missing)[:10],
            "undelivered": len(outbox - events.keys()), "outbox": len(outbox),
            "bad_signatures": sum(1 for r in receiver.snapshot() if r["name"] == HOOK and not r["sig_ok"]),
            "waited": timeout - max(0.0, deadline - time.monotonic()), "workers": worker_revisions(cluster)}


def assert_no_lost_events(events, cluster, phase):
    """0 lost events: each acknowledged write's event (and each outbox event) delivered at least
    once, every delivery signed with the endpoint's secret."""
    assert events["acked"], f"{phase}: no write was acknowledged"
    assert not events["lost"], (f"{phase}: {events['lost']} of {events['acked']} acknowledged writes' task.created "
                                f"events not delivered within {EVENT_DEADLINE}s: {events['lost_ids']}\n"
                                + cluster.describe())
    assert not events["undelivered"], f"{phase}: {events['undelivered']} of {events['outbox']} outbox events undelivered"
    assert not events["bad_signatures"], f"{phase}: {events['bad_signatures']} deliveries with a bad signature"


def worker_revisions(cluster):
    """The worker pods' revisions in creation order (shortened), for the report."""
    return "->".join(p.revision[:6] for p in cluster.worker.pods) or "none"


@pytest.mark.parametrize("handler,pre_stop", [("httpGet", 0), ("exec", 1)], ids=["httpGet", "exec+preStop"])
def test_rolling_update_under_load_loses_no_request(cluster, pg, redis, receiver, tmp_path, handler, pre_stop):
    """v1 -> v2: the chart's httpGet probes; then exec probes (the real `probe`) with a preStop sleep.
    The worker Deployment rolls too; every acknowledged write's event reaches the receiver."""
    db = pg.new_database(f"rollout_{handler.lower()}")
    sets = [f"api.shutdown.preStopSleepSeconds={pre_stop}"]
    v1, v2 = render("v1", db, redis, handler, sets), render("v2", db, redis, handler, sets)
    spec = v1.find("Deployment", component="api")["spec"]
    c = spec["template"]["spec"]["containers"][0]
    assert ("exec" in c["readinessProbe"]) == (handler == "exec")
    assert bool(pre_stop) == ("lifecycle" in c), "preStop sleep rendered only when asked for"
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}, "the chart's strategy"
    binary = fixture_binary("bollard")
    images = {image_of(v1): binary, image_of(v2): binary}  # same build, another tag: a new ReplicaSet
    migrate(v1, images, tmp_path)
    cluster.apply(v1, images)
    cluster.wait_rolled_out(60)
    load = load_for(v1, cluster, receiver)
    settle(load)
    rev1, worker1 = cluster.revision, cluster.worker.revision
    rev2 = cluster.apply(v2, images)
    assert rev2 != rev1 and cluster.worker.revision != worker1, "the new tag rolls both Deployments"
    took = cluster.wait_rolled_out(deadline_of(v2))
    settle(load)
    load.stop()
    events = collect_events(cluster, load, receiver, pg, db)
    report(f"v1->v2 ({handler}, preStop {pre_stop}s)", load, {"update": took, "events": events["waited"]}, events)
    assert_clean_run(cluster, load, f"v1 -> v2 ({handler} probes, preStop {pre_stop}s)")
    assert_no_lost_writes(load, f"v1 -> v2 ({handler} probes, preStop {pre_stop}s)")
    assert_no_lost_events(events, cluster, f"v1 -> v2 ({handler} probes, preStop {pre_stop}s)")
    assert [p.revision for p in cluster.worker.pods] == [worker1, cluster.worker.revision], \
        "one worker replaced by one (maxSurge 1, maxUnavailable 0)\n" + cluster.describe()
    if pre_stop:
        for p in cluster.pods:
            if p.sigterm_at is not None:
                assert p.sigterm_at - p.deleted_at >= pre_stop, f"{p.name}: SIGTERM before the preStop sleep ended"
    assert len([p for p in cluster.pods if p.revision == rev1]) == spec["replicas"], "no extra v1 pod"
    assert all(p.exited_at is not None for p in cluster.pods if p.revision == rev1)
    assert served_by(cluster, load.stopped_at - 0.5).keys() <= {rev2}
    assert load.ok > 100


def test_rollback_after_expand_migration_loses_no_request(cluster, pg, redis, receiver, tmp_path):
    """v1 (the real migrations) -> v2 (one more expand migration, run by v2's hook Job) -> v1 again,
    the worker with them (v2's worker runs the expand build): 0 lost events."""
    db = pg.new_database("rollout_expand")
    v1, v2 = render("v1", db, redis), render("v2", db, redis)
    images = {image_of(v1): fixture_binary("bollard"), image_of(v2): fixture_binary("expand")}
    migrate(v1, images, tmp_path)
    cluster.apply(v1, images)
    cluster.wait_rolled_out(60)
    load = load_for(v1, cluster, receiver)
    settle(load)
    migrate(v2, images, tmp_path)  # pre-upgrade hook: 9001 (expand) while v1 serves
    rev2 = cluster.apply(v2, images)
    up = cluster.wait_rolled_out(deadline_of(v2))
    settle(load)
    rev1 = cluster.apply(v1, images)  # helm rollback / kubectl rollout undo; the schema stays at 9001
    back = cluster.wait_rolled_out(deadline_of(v1))
    settle(load)
    load.stop()
    events = collect_events(cluster, load, receiver, pg, db)
    report("expand v1->v2->v1", load, {"update": up, "rollback": back, "events": events["waited"]}, events)
    assert_clean_run(cluster, load, "expand migration, v2 -> v1 rollback")
    assert_no_lost_writes(load, "expand migration, v2 -> v1 rollback")
    assert_no_lost_events(events, cluster, "expand migration, v2 -> v1 rollback")
    assert len(cluster.worker.pods) == 3 and cluster.worker.live()[0].c.binary == fixture_binary("bollard")
    assert rev1 != rev2
    assert all(p.ready for p in cluster.live()) and {p.revision for p in cluster.live()} == {rev1}
    assert served_by(cluster, load.stopped_at - 0.5).keys() <= {rev1}


def test_rollback_after_contract_migration_keeps_traffic_on_v2(cluster, pg, redis, receiver, tmp_path):
    """v2 (contract level 9002, its hook migrated) serves; a rollback to v1 (level 9001, below the
    floor) must not take traffic: its pods stay unready naming the schema, and maxUnavailable 0
    keeps every v2 pod in service. Rolling forward again removes the stuck v1 pod."""
    db = pg.new_database("rollout_contract")
    v1, v2 = render("v1", db, redis), render("v2", db, redis)
    images = {image_of(v1): fixture_binary("expand"), image_of(v2): fixture_binary("contract")}
    migrate(v1, images, tmp_path)
    # Issue 14: the pre-install hook applies expands only; the contract (9002) is the post-install
    # hook's, once v2 has rolled out.
    v1.kube = v2.kube = cluster.kube_api()
    post = helm_upgrade(cluster, v2, images, tmp_path, "install")
    assert [p.returncode for _, p in post] == [0], post[0][1].stdout[-3000:]
    rev2 = cluster.revision
    cluster.wait_rolled_out(60)
    v2_pods = cluster.live()
    load = load_for(v1, cluster, receiver)
    settle(load)
    rollback_at = time.monotonic()
    v2_workers = [p for p in cluster.worker.pods if p.alive()]
    rev1 = cluster.apply(v1, images)
    worker_rev1 = cluster.worker.revision
    # Watch the stuck rollback: from the v1 pod's start until it had WATCH_PROBES readiness periods
    # after its startup probe passed (each probe sees a fresh check: cacheMs < periodSeconds).
    rd = v1.find("Deployment", component="api")["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    hard_stop = rollback_at + deadline_of(v1)
    started_at = None
    stuck = []
    while time.monotonic() < hard_stop:
        stuck = [p for p in cluster.pods if p.revision == rev1]
        assert all(not p.ever_ready for p in stuck), "a v1 pod became ready above the schema floor"
        assert all(p.alive() and not p.terminating for p in v2_pods), "a v2 pod was taken down"
        # The worker likewise: its readiness needs the heartbeat's "schema" compatible, so the v1
        # worker never replaces the v2 one that delivers.
        assert all(not p.ever_ready for p in cluster.worker.pods if p.revision == worker_rev1), \
            "a v1 worker became ready above the schema floor"
        assert all(p.alive() and not p.terminating for p in v2_workers), "the v2 worker was taken down"
        if started_at is None and stuck and stuck[0].started:
            started_at = time.monotonic()
        if started_at is not None and time.monotonic() - started_at >= WATCH_PROBES * rd["periodSeconds"]:
            break
        time.sleep(POLL_SECONDS)
    watch_until = time.monotonic()
    assert len(stuck) == 1, f"maxSurge 1: one v1 pod, found {len(stuck)}"
    assert stuck[0].started, "the v1 pod is live (startup probe passed)"
    harness.wait_until(lambda: stuck[0].last_ready_body, timeout=rd["periodSeconds"] * 3, what="a readiness answer")
    schema = json.loads(stuck[0].last_ready_body)["checks"]["schema"]
    assert schema["ok"] is False and "floor 9002" in schema["reason"], schema
    assert served_by(cluster, rollback_at).keys() <= {rev2}
    # Roll forward (abort the rollback): the unready v1 pod goes, v2 stays untouched.
    cluster.apply(v2, images)
    forward = cluster.wait_rolled_out(deadline_of(v2))
    settle(load)
    load.stop()
    events = collect_events(cluster, load, receiver, pg, db)
    report("contract rollback", load, {"stuck watched": watch_until - rollback_at, "roll forward": forward,
                                       "events": events["waited"]}, events)
    assert_clean_run(cluster, load, "contract migration, attempted v2 -> v1 rollback")
    assert_no_lost_writes(load, "contract migration, attempted v2 -> v1 rollback")
    assert_no_lost_events(events, cluster, "contract migration, attempted v2 -> v1 rollback")
    assert all(p.alive() for p in v2_pods) and set(cluster.live()) == set(v2_pods)


def test_harness_sees_the_failures_of_a_missing_drain(cluster, pg, redis, tmp_path):
    """Negative control: with api.shutdown.drainSeconds=0 the listener closes while the balancer
    still routes to the pod (ENDPOINT_DELAY), so the harness must record failed requests. If this
    fails, the zero-failure assertions above prove nothing."""
    db = pg.new_database("rollout_nodrain")
    nodrain = ["api.shutdown.drainSeconds=0"]
    v1, v2 = render("v1", db, redis, sets=nodrain), render("v2", db, redis, sets=nodrain)
    binary = fixture_binary("bollard")
    images = {image_of(v1): binary, image_of(v2): binary}
    migrate(v1, images, tmp_path)
    cluster.apply(v1, images)
    cluster.wait_rolled_out(60)
    load = load_for(v1, cluster)
    settle(load)
    cluster.apply(v2, images)
    took = cluster.wait_rolled_out(deadline_of(v2))
    settle(load)
    load.stop()
    report("v1->v2 without drain (negative control)", load, {"update": took})
    assert load.failures and cluster.balancer.refused, "a rollout without drain must show failures"


def helm_upgrade(cluster, r, images, tmp_path, event="upgrade"):
    """`helm upgrade` as Helm orders it: pre-<event> hooks (by weight) → apply → post-<event> hooks.
    Helm starts post hooks right after applying (no --wait), so the rollout runs while they do."""
    pre = rollout.run_hooks(r, images, str(tmp_path), f"pre-{event}")
    for name, p in pre:
        assert p.returncode == 0, f"pre-{event} hook {name} exited {p.returncode}: {p.stdout[-2000:]}"
    cluster.apply(r, images)
    return rollout.run_hooks(r, images, str(tmp_path), f"post-{event}")


def schema_state(pg, db):
    return pg.psql("SELECT max(version) || ' ' || max(floor) FROM bollard_schema_migrations", db=db)


@pytest.mark.parametrize("seed", seeds(11))
def test_upgrade_with_expand_and_contract_under_start_delays(pg, redis, receiver, tmp_path, seed):
    """The scenario of issue 14 (523 of 4,615 requests failed with a 5 s start delay): v1 → v2 whose
    migrations are an expand (9001) and a contract (9002). The expand runs in the pre-upgrade hook,
    the contract in the post-upgrade hook, which waits (through the fake Kubernetes API) until the
    rollout is complete and every old pod has gone. New pods start 0-5 s late (seeded), the
    worker's too (its own seeded stream); every acknowledged write's event is delivered."""
    db = pg.new_database(f"rollout_contract_phase_{seed}")
    cluster = rollout.Cluster(str(tmp_path), seed=seed, start_delay=(0.0, 5.0))
    try:
        kube = cluster.kube_api()
        v1, v2 = render("v1", db, redis), render("v2", db, redis)
        v1.kube = v2.kube = kube
        images = {image_of(v1): fixture_binary("bollard"), image_of(v2): fixture_binary("contract")}
        post = helm_upgrade(cluster, v1, images, tmp_path, "install")
        assert [p.returncode for _, p in post] == [0], post[0][1].stdout[-3000:]
        cluster.wait_rolled_out(60)
        load = load_for(v1, cluster, receiver)
        settle(load)
        t_upgrade = time.monotonic()
        post = helm_upgrade(cluster, v2, images, tmp_path)
        (name, job), = post
        assert job.returncode == 0, f"{name}: {job.stdout[-3000:]}"
        assert schema_state(pg, m_dbname(db)) == "9002 9002"
        contract_at = time.monotonic()
        cluster.wait_rolled_out(deadline_of(v2))
        settle(load)
        load.stop()
        events = collect_events(cluster, load, receiver, pg, db)
        report(f"expand+contract (seed {seed}, start delays "
               f"{', '.join(f'{p.start_delay:.1f}' for p in cluster.all_pods())} s)", load,
               {"upgrade+contract": contract_at - t_upgrade, "events": events["waited"]}, events)
        assert_clean_run(cluster, load, f"expand + contract upgrade, seed {seed}")
        assert_no_lost_writes(load, f"expand + contract upgrade, seed {seed}")
        assert_no_lost_events(events, cluster, f"expand + contract upgrade, seed {seed}")
        # The contract ran only after every v1 pod had exited, the worker's too (the Job waits for
        # both Deployments: an old relay must not publish on a contracted schema).
        old = [p for p in cluster.pods if p.revision != cluster.revision]
        assert old and all(p.exited_at is not None and p.exited_at < contract_at for p in old)
        old_workers = [p for p in cluster.worker.pods if p.revision != cluster.worker.revision]
        assert old_workers and all(p.exited_at is not None and p.exited_at < contract_at for p in old_workers)
        assert all(p.ever_ready and not p.problems for p in cluster.live())
        assert kube.requests, "the contract Job asked the API"
        assert load.ok > 100
    finally:
        cluster.shutdown()


def m_dbname(url):
    return url.rsplit("/", 1)[1]


CHART_VALUES = os.path.join(HERE, "..", "..", "chart", "bollard", "values.yaml")


def chart_shutdown_sets():
    """The chart's own api.shutdown defaults (tests/rollout/values.yaml shortens them)."""
    with open(CHART_VALUES) as f:
        shutdown = rollout.yaml.safe_load(f)["api"]["shutdown"]
    return [f"api.shutdown.{k}={v}" for k, v in shutdown.items()]


def assert_no_lost_writes(load, phase):
    lost = load.lost_writes()
    assert load.acked, f"{phase}: no write was acknowledged"
    assert not lost, f"{phase}: {len(lost)} of {len(load.acked)} acknowledged writes lost: {lost[:10]}"


@pytest.mark.parametrize("seed", seeds(5))
def test_rolling_update_under_endpoint_delays_with_chart_drain(pg, redis, receiver, tmp_path, seed):
    """Endpoint changes reach kube-proxy 0.5-2 s late (seeded, per pod and change), and a deleted
    pod stays an endpoint for a seeded 0.5-2 s after its SIGTERM: the chart's default drain and
    preStop (api.shutdown.*) must cover that window. v1 -> v2 under load, 0 failed requests, 0 lost
    acknowledged writes."""
    db = pg.new_database(f"rollout_epdelay_{seed}")
    delays = (0.5, 2.0)
    cluster = rollout.Cluster(str(tmp_path), seed=seed, endpoint_delay=delays, removal_lag=delays)
    try:
        sets = chart_shutdown_sets()
        v1, v2 = render("v1", db, redis, sets=sets), render("v2", db, redis, sets=sets)
        binary = fixture_binary("bollard")
        images = {image_of(v1): binary, image_of(v2): binary}
        migrate(v1, images, tmp_path)
        cluster.apply(v1, images)
        cluster.wait_rolled_out(60)
        load = load_for(v1, cluster, receiver)
        settle(load)
        cluster.apply(v2, images)
        took = cluster.wait_rolled_out(deadline_of(v2, delays[1] * 2))
        settle(load)
        load.stop()
        events = collect_events(cluster, load, receiver, pg, db)
        report(f"endpoint delays (seed {seed}, chart drain {sets})", load, {"update": took, "events": events["waited"]},
               events)
        assert_clean_run(cluster, load, f"endpoint delays, seed {seed}")
        assert_no_lost_writes(load, f"endpoint delays, seed {seed}")
        assert_no_lost_events(events, cluster, f"endpoint delays, seed {seed}")
        assert load.ok > 100
    finally:
        cluster.shutdown()


def test_upgrade_with_failing_migration_is_aborted_and_v1_keeps_serving(cluster, pg, redis, receiver, tmp_path):
    """v1 serves; `helm upgrade` to v2 whose pre-upgrade migration fails (tests/migrate/fixtures/failing,
    built into fixtures/bollard-failing: its last statement violates a key, the migration rolls back).
    Helm stops at the failed hook: nothing is applied, no v2 pod starts, the schema is unchanged and
    v1 keeps serving and its worker delivering: 0 failed requests, 0 lost acknowledged writes, 0 lost
    events."""
    db = pg.new_database("rollout_failing")
    v1, v2 = render("v1", db, redis), render("v2", db, redis)
    images = {image_of(v1): fixture_binary("bollard"), image_of(v2): fixture_binary("failing")}
    migrate(v1, images, tmp_path)
    rev1 = cluster.apply(v1, images)
    cluster.wait_rolled_out(60)
    v1_pods = cluster.live()
    v1_worker = cluster.worker.live()
    schema_before = schema_state(pg, m_dbname(db))
    load = load_for(v1, cluster, receiver)
    settle(load)
    t_upgrade = time.monotonic()
    pre = rollout.run_hooks(v2, images, str(tmp_path), "pre-upgrade")
    assert pre and pre[-1][1].returncode != 0, f"the failing migration's hook must fail: {pre}"
    failed_name, failed = pre[-1]
    assert "9001" in failed.stdout + failed.stderr, f"{failed_name}: {failed.stdout[-1500:]} {failed.stderr[-1500:]}"
    # Helm: "UPGRADE FAILED: pre-upgrade hooks failed" -- the new manifests are never applied.
    settle(load)
    load.stop()
    hook_took = time.monotonic() - t_upgrade
    events = collect_events(cluster, load, receiver, pg, db)
    report("failing pre-upgrade migration (aborted)", load, {"hook": hook_took, "events": events["waited"]}, events)
    assert_clean_run(cluster, load, "failing migration, aborted upgrade")
    assert_no_lost_writes(load, "failing migration, aborted upgrade")
    assert_no_lost_events(events, cluster, "failing migration, aborted upgrade")
    assert cluster.worker.pods == v1_worker and cluster.worker.live() == v1_worker, "the v1 worker kept running"
    assert cluster.revision == rev1 and {p.revision for p in cluster.pods} == {rev1}, "no v2 pod rolled out"
    assert set(cluster.live()) == set(v1_pods) and all(p.ready for p in v1_pods)
    assert served_by(cluster, t_upgrade).keys() <= {rev1}
    assert schema_state(pg, m_dbname(db)) == schema_before, "the failed migration rolled back"
    assert pg.psql("SELECT to_regclass('fixture_widgets') IS NULL", db=m_dbname(db)) == "t"
    assert load.ok > 100


def test_config_change_rolls_the_pods_under_load(cluster, pg, redis, receiver, tmp_path):
    """`helm upgrade --set config.logLevel=debug` (same image): the ConfigMap changes, the chart's
    checksum/config annotation changes the pod template, so the Deployment rolls; the new pods see
    the new config; the worker's template has the same annotation and rolls too. 0 failed requests,
    0 lost acknowledged writes, 0 lost events."""
    db = pg.new_database("rollout_config")
    v1, v1_debug = render("v1", db, redis), render("v1", db, redis, sets=["config.logLevel=debug"])
    images = {image_of(v1): fixture_binary("bollard")}
    ann = lambda r: r.find("Deployment", component="api")["spec"]["template"]["metadata"]["annotations"]
    assert ann(v1)["checksum/config"] != ann(v1_debug)["checksum/config"]
    migrate(v1, images, tmp_path)
    rev1 = cluster.apply(v1, images)
    worker1 = cluster.worker.revision
    cluster.wait_rolled_out(60)
    load = load_for(v1, cluster, receiver)
    settle(load)
    rev2 = cluster.apply(v1_debug, images)
    assert rev2 != rev1, "a config change must change the pod template"
    assert cluster.worker.revision != worker1, "and the worker's"
    took = cluster.wait_rolled_out(deadline_of(v1_debug))
    settle(load)
    load.stop()
    events = collect_events(cluster, load, receiver, pg, db)
    report("config change (logLevel debug)", load, {"update": took, "events": events["waited"]}, events)
    assert_clean_run(cluster, load, "config change")
    assert_no_lost_writes(load, "config change")
    assert_no_lost_events(events, cluster, "config change")
    assert {p.c.env.get("LOG_LEVEL") for p in cluster.live() + cluster.worker.live()} == {"debug"}
    assert all(p.exited_at is not None for p in cluster.pods if p.revision == rev1)
    assert load.ok > 100


@pytest.mark.parametrize("seed", seeds(7))
def test_scale_up_and_down_under_load(pg, redis, receiver, tmp_path, seed):
    """api.replicas 2 -> 4 -> 2 (the pod template unchanged: no roll), with seeded endpoint delays
    and removal lag (0.5-2 s) and the chart's drain defaults: the scaled-down pods drain. 0 failed
    requests, 0 lost acknowledged writes."""
    db = pg.new_database(f"rollout_scale_{seed}")
    delays = (0.5, 2.0)
    cluster = rollout.Cluster(str(tmp_path), seed=seed, endpoint_delay=delays, removal_lag=delays)
    try:
        sets = chart_shutdown_sets()
        r2 = render("v1", db, redis, sets=sets)
        r4 = render("v1", db, redis, sets=sets + ["api.replicas=4"])
        images = {image_of(r2): fixture_binary("bollard")}
        migrate(r2, images, tmp_path)
        rev = cluster.apply(r2, images)
        cluster.wait_rolled_out(60)
        worker = cluster.worker.live()
        load = load_for(r2, cluster, receiver)
        settle(load)
        assert cluster.apply(r4, images) == rev, "scaling must not change the pod template"
        up = cluster.wait_rolled_out(deadline_of(r4, delays[1] * 2))
        assert len(cluster.balancer.endpoints) == 4
        settle(load)
        cluster.apply(r2, images)
        down = cluster.wait_rolled_out(deadline_of(r2, delays[1] * 2))
        gone = [p for p in cluster.pods if p.terminating]
        assert len(gone) == 2, cluster.describe()
        grace = gone[0].grace
        harness.wait_until(lambda: all(p.exited_at is not None for p in gone), timeout=grace + 1,
                           interval=0.05, what="the scaled-down pods to drain and exit")
        down += max(p.exited_at for p in gone) - min(p.deleted_at for p in gone)
        settle(load)
        load.stop()
        events = collect_events(cluster, load, receiver, pg, db)
        report(f"scale 2->4->2 (seed {seed})", load, {"up": up, "down": down, "events": events["waited"]}, events)
        assert_clean_run(cluster, load, f"scale 2 -> 4 -> 2, seed {seed}")
        assert_no_lost_writes(load, f"scale 2 -> 4 -> 2, seed {seed}")
        assert_no_lost_events(events, cluster, f"scale 2 -> 4 -> 2, seed {seed}")
        assert cluster.worker.pods == worker, "scaling the API leaves the worker alone"
        assert len(cluster.pods) == 4 and len(cluster.live()) == 2
        assert len([p for p in cluster.pods if p.exited_at is not None]) == 2
        assert load.ok > 100
    finally:
        cluster.shutdown()


@pytest.mark.parametrize("pdb_sets", [[], ["api.podDisruptionBudget.minAvailable=50%"]],
                         ids=["default-maxUnavailable", "minAvailable50pct"])
def test_node_drain_respects_the_pdb_under_load(cluster, pg, redis, receiver, tmp_path, pdb_sets):
    """`kubectl drain` of the node holding every API pod: each pod is evicted through the Eviction
    API against the rendered PodDisruptionBudget (retried while it answers 429, as kubectl does), the
    Deployment replaces evicted pods elsewhere. Healthy pods never drop below the PDB's desired
    count; 0 failed requests, 0 lost acknowledged writes."""
    db = pg.new_database("rollout_drain_" + ("min" if pdb_sets else "max"))
    r = render("v1", db, redis, sets=pdb_sets)
    pdb = r.find("PodDisruptionBudget", component="api")
    replicas = r.find("Deployment", component="api")["spec"]["replicas"]
    if pdb_sets:
        assert pdb["spec"].get("minAvailable") == "50%", pdb["spec"]
        desired = 1  # ceil(50% of 2)
    else:
        assert pdb["spec"].get("maxUnavailable") == 1, pdb["spec"]
        desired = replicas - 1
    images = {image_of(r): fixture_binary("bollard")}
    migrate(r, images, tmp_path)
    cluster.apply(r, images)
    cluster.wait_rolled_out(60)
    load = load_for(r, cluster, receiver)
    settle(load)
    node = list(cluster.live())  # cordoned: replacements are scheduled on other nodes
    t_drain = time.monotonic()
    refused, low = 0, []
    deadline = t_drain + deadline_of(r) * 2
    while time.monotonic() < deadline and not all(p.terminating for p in node):
        for p in node:
            if not p.terminating and not cluster.evict(p, pdb):
                refused += 1
        healthy = sum(1 for p in cluster.pods if p.ready and not p.terminating and p.alive())
        if healthy < desired:
            low.append((time.monotonic() - t_drain, healthy))
        time.sleep(EVICTION_RETRY_SECONDS)
    assert all(p.terminating for p in node), "the drain did not finish: " + cluster.describe()
    cluster.wait_rolled_out(deadline_of(r))
    harness.wait_until(lambda: all(p.exited_at is not None for p in node), timeout=node[0].grace + 1,
                       interval=0.05, what="the evicted pods to exit")
    took = time.monotonic() - t_drain
    settle(load)
    load.stop()
    events = collect_events(cluster, load, receiver, pg, db)
    budget = {k: v for k, v in pdb["spec"].items() if k in ("minAvailable", "maxUnavailable")}
    report(f"node drain (PDB {budget})", load, {"drain": took, "events": events["waited"]}, events)
    print(f"evictions refused by the PDB (429): {refused}")
    assert_clean_run(cluster, load, f"node drain, PDB {pdb['spec']}")
    assert_no_lost_writes(load, f"node drain, PDB {pdb['spec']}")
    assert_no_lost_events(events, cluster, f"node drain, PDB {pdb['spec']}")
    assert not low, f"healthy pods below the PDB's {desired}: {low[:5]}"
    assert refused > 0, "the PDB must have held back an eviction"
    assert len(cluster.live()) == replicas and not set(cluster.live()) & set(node)
    assert load.ok > 100


def test_harness_sees_the_failures_of_a_drain_shorter_than_the_removal_lag(pg, redis, tmp_path):
    """Negative control for the removal lag: a 1 s drain while kube-proxy keeps sending to the pod
    for 1.5-2 s after SIGTERM must show failed or refused requests, or the endpoint-delay tests
    above prove nothing."""
    db = pg.new_database("rollout_shortdrain")
    cluster = rollout.Cluster(str(tmp_path), seed=3, removal_lag=(1.5, 2.0))
    try:
        short = ["api.shutdown.drainSeconds=1"]
        v1, v2 = render("v1", db, redis, sets=short), render("v2", db, redis, sets=short)
        binary = fixture_binary("bollard")
        images = {image_of(v1): binary, image_of(v2): binary}
        migrate(v1, images, tmp_path)
        cluster.apply(v1, images)
        cluster.wait_rolled_out(60)
        load = load_for(v1, cluster)
        settle(load)
        cluster.apply(v2, images)
        took = cluster.wait_rolled_out(deadline_of(v2, 2.0))
        settle(load)
        load.stop()
        report("v1->v2, 1 s drain under a 1.5-2 s removal lag (negative control)", load, {"update": took})
        assert load.failures or cluster.balancer.refused, "a drain shorter than the removal lag must show failures"
    finally:
        cluster.shutdown()
