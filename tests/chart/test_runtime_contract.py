"""The rendered chart drives the real binaries as Kubernetes would: each role runs with exactly the
arguments and environment its pod gets (ConfigMap + env + secret files), against throwaway
PostgreSQL and Redis, and the probe commands of the pod spec judge it. Only what Kubernetes itself
provides is simulated: secret files and /tmp live in a temp dir, the port is a free one, and the
Service address is given to the probe with --host.
"""
import os
import signal
import subprocess
import time

import pytest

import harness
from chartlib import SECRETS, helm_template


@pytest.fixture(scope="module")
def rendered():
    return helm_template(SECRETS)


@pytest.fixture
def pod_env(tmp_path, pg, redis, request):
    """Builds the environment one container of the render sees, with host-side stand-ins."""
    url = pg.new_database("chart_" + request.node.name[:40].lower().replace("[", "_").replace("]", ""))
    secrets = {"DATABASE_URL": url, "REDIS_URL": redis.url, "SECRET_KEY": "chart-runtime-secret-0123456789abcdef"}
    secret_dir = tmp_path / "secrets"
    secret_dir.mkdir()
    for name, value in secrets.items():
        (secret_dir / name).write_text(value + "\n")
    tmp_dir = tmp_path / "tmp"
    tmp_dir.mkdir()
    port = harness.free_port()
    metrics_port = harness.free_port()

    def local(value):
        for prefix, here in (("/var/run/secrets/bollard/", secret_dir), ("/tmp/", tmp_dir)):
            if value.startswith(prefix):
                return os.path.join(str(here), value[len(prefix):])
        return value

    def build(r, container):
        env = {"PATH": "/usr/bin:/bin"}
        for src in container.get("envFrom", []):
            env.update(r.one("ConfigMap", name=src["configMapRef"]["name"])["data"])
        for e in container.get("env", []):
            if "value" in e:
                env[e["name"]] = e["value"]
            elif "fieldRef" in e.get("valueFrom", {}):
                env[e["name"]] = "chart-test-pod"
            else:
                raise AssertionError(f"unexpected env source {e}")
        env = {k: local(v) for k, v in env.items()}
        if "PORT" in env:
            env["PORT"] = str(port)
        if "METRICS_PORT" in env:  # the container port `metrics`, likewise a free loopback port
            env["METRICS_PORT"] = str(metrics_port)
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                env[k] = os.environ[k]
        return env

    build.port = port
    build.metrics_port = metrics_port
    build.local = local
    return build


def probe_command(command, env):
    """An exec probe's command, with /probe and /bollard mapped to the built binaries."""
    assert command[0] in ("/probe", "/bollard"), command
    binary = harness.binary(command[0].lstrip("/"))
    return subprocess.run([binary] + command[1:], env=env, capture_output=True, text=True, timeout=30)


def container(r, kind, component):
    obj = r.one(kind, component)
    spec = obj["spec"]["template"]["spec"] if kind != "Pod" else obj["spec"]
    return spec, spec["containers"][0]


def test_migration_job_container_migrates(rendered, pod_env):
    _, c = container(rendered, "Job", "migrate")
    env = pod_env(rendered, c)
    p = harness.run(c["args"], env, timeout=120)
    assert p.returncode == 0, f"migrate exited {p.returncode}: {p.stderr[-2000:]}"
    again = harness.run(c["args"], env, timeout=120)
    assert again.returncode == 0, "a re-run (next helm upgrade) must find nothing to do"


def test_api_container_becomes_ready_under_its_probes_and_drains_within_grace(rendered, pod_env):
    _, job = container(rendered, "Job", "migrate")
    spec, c = container(rendered, "Deployment", "api")
    assert c["ports"][0]["containerPort"] == int(rendered.one("ConfigMap")["data"]["PORT"])
    env = pod_env(rendered, c)
    assert harness.run(job["args"], pod_env(rendered, job), timeout=120).returncode == 0
    api = harness.Bollard(c["args"], env, port=pod_env.port)
    try:
        startup = c["startupProbe"]
        deadline = time.monotonic() + startup["periodSeconds"] * startup["failureThreshold"]
        # The httpGet probes, as the kubelet sends them, and the exec variant (api.probes.handler=exec).
        live_path = c["livenessProbe"]["httpGet"]["path"]
        ready_path = c["readinessProbe"]["httpGet"]["path"]
        harness.wait_until(lambda: harness.get(api.url(live_path))[0] == 200,
                           timeout=max(1, deadline - time.monotonic()), what="startup/liveness probe")
        harness.wait_until(lambda: harness.get(api.url(ready_path))[0] == 200, timeout=30, what="readiness probe")
        for cmd in (["/probe", "live"], ["/probe", "ready"]):
            p = probe_command(cmd, env)
            assert p.returncode == 0, f"{cmd}: {p.returncode} {p.stderr}"
        # The helm test pod: `bollard check` (its init container) and the probe of the Service.
        tspec, tc = container(rendered, "Pod", "test")
        check = tspec["initContainers"][0]
        p = harness.run(check["args"], pod_env(rendered, check), timeout=60)
        assert p.returncode == 0, f"bollard check: {p.returncode} {p.stdout} {p.stderr}"
        args = [a.replace(":8000/", f":{pod_env.port}/") for a in tc["args"]] + ["--host", "127.0.0.1"]
        p = probe_command(tc["command"] + args, env)
        assert p.returncode == 0, f"helm test probe: {p.returncode} {p.stderr}"
        # SIGTERM: not ready at once, and gone well within the pod's grace period.
        grace = spec["terminationGracePeriodSeconds"]
        started = time.monotonic()
        api.signal(signal.SIGTERM)
        # The main thread takes the signal and flips readiness while an event-loop thread may already
        # be answering this probe: polled, with a bound far below the drain delay.
        harness.wait_until(lambda: harness.get(api.url(ready_path))[0] == 503, timeout=1.0,
                           what="readiness 503 during the drain")
        assert harness.get(api.url(live_path))[0] == 200, "still serving during the drain"
        # the container port `metrics` (METRICS_PORT from the ConfigMap) answers /metrics; PORT does not
        assert c["ports"][1] == {"name": "metrics", "protocol": "TCP",
                                 "containerPort": int(rendered.one("ConfigMap")["data"]["METRICS_PORT"])}
        assert harness.get(api.metrics_url())[0] == 200 and harness.get(api.url("/metrics"))[0] == 404
        api.wait(timeout=grace)
        assert api.proc.returncode == 0
        assert time.monotonic() - started < grace
    finally:
        api.stop()


def test_worker_container_passes_its_heartbeat_probes(rendered, pod_env):
    _, job = container(rendered, "Job", "migrate")
    spec, c = container(rendered, "Deployment", "worker")
    env = pod_env(rendered, c)
    assert harness.run(job["args"], pod_env(rendered, job), timeout=120).returncode == 0
    liveness = [pod_env.local(a) for a in c["livenessProbe"]["exec"]["command"]]
    startup = c["startupProbe"]
    worker = harness.Bollard(c["args"], env)
    try:
        deadline = time.monotonic() + startup["periodSeconds"] * startup["failureThreshold"]
        while True:
            if worker.proc.poll() is not None:
                raise AssertionError(f"worker exited {worker.proc.returncode}: {worker.stderr()[-2000:]}")
            p = probe_command(liveness, env)
            assert p.returncode in (0, 1), f"probe usage error or unreachable: {p.returncode} {p.stderr}"
            if p.returncode == 0:
                break
            assert time.monotonic() < deadline, f"startup probe still failing: {p.stderr}"
            time.sleep(startup["periodSeconds"] / 4)
        # Still fresh a liveness period later: the heartbeat is rewritten continuously.
        time.sleep(c["livenessProbe"]["periodSeconds"] / 2)
        assert probe_command(liveness, env).returncode == 0
        worker.signal(signal.SIGTERM)
        worker.wait(timeout=spec["terminationGracePeriodSeconds"])
        assert worker.proc.returncode == 0
    finally:
        worker.stop()


def test_missing_secret_stops_the_pod_before_it_serves(rendered, pod_env, tmp_path):
    _, c = container(rendered, "Deployment", "api")
    env = pod_env(rendered, c)
    os.unlink(env["REDIS_URL_FILE"])
    p = harness.run(c["args"], env, timeout=30)
    assert p.returncode == 78, (p.returncode, p.stderr)
    assert "REDIS_URL_FILE" in p.stderr
