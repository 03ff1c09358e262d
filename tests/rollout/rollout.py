"""A local stand-in for the parts of Kubernetes a rolling update of the API and the worker depends on.

Everything is driven by what `helm template` renders from chart/bollard:
  * Pod: the API's or the worker's container image (mapped to a local binary), command/args, envFrom/env, secret
    and emptyDir volumes (written to a temp dir; env values under a mount path are remapped), run
    as a local process. The container port gets a free loopback port per replica: PORT (which the
    chart sets to the containerPort) and every probe port are remapped to it consistently.
  * Kubelet: startup, readiness and liveness probes with the rendered initialDelaySeconds,
    periodSeconds, timeoutSeconds, successThreshold and failureThreshold; httpGet probes GET the
    rendered path on the remapped port, exec probes run the real `probe` (or `bollard`) binary with
    the rendered arguments (paths under a mount remapped: the worker's heartbeat file) and the
    container's environment; a container without a readiness probe (the worker) is ready once its
    startup probe passed. Termination: preStop sleep (if rendered), SIGTERM, SIGKILL after
    terminationGracePeriodSeconds.
  * Endpoints + kube-proxy: a pod is an endpoint while it is ready and not terminating; every change
    reaches the balancer ENDPOINT_DELAY seconds later (propagation), or a seeded delay per pod and
    change (Cluster(endpoint_delay=(lo, hi))); with removal_lag=(lo, hi) a deleted pod stays an
    endpoint until a seeded lag after its SIGTERM. Eviction: Cluster.evict against the rendered PDB.
    The balancer is a TCP proxy on
    loopback that picks a ready backend per NEW connection and splices bytes both ways; existing
    connections keep their backend until either side closes.
  * Deployment controller: RollingUpdate with the rendered replicas, maxSurge, maxUnavailable and
    minReadySeconds (scale up new, clean up unhealthy old, scale down old by availability), for the
    API Deployment and, when rendered, the worker Deployment (each with its own strategy).
Not modelled: restarts (a failed liveness/startup probe or an unexpected exit is recorded and fails
the test instead), scheduling, resource limits, network policies, pod IPs (all on 127.0.0.1).
"""
import asyncio
import base64
import functools
import hashlib
import http.client
import select
import itertools
import json
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

import yaml

import harness

ENDPOINT_DELAY = 0.5  # seconds between a pod's readiness/termination change and the balancer seeing it
TICK = 0.02
IMAGE_PATHS = ("/bollard", "/probe")


def now():
    return time.monotonic()


# ---- rendering -----------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def helm_binary():
    """BOLLARD_HELM, else build/tools/bin/helm, built with `make helm` when missing (never skipped)."""
    path = os.environ.get("BOLLARD_HELM")
    if path:
        assert os.access(path, os.X_OK), f"BOLLARD_HELM={path} is not executable"
        return path
    path = os.path.join(harness.REPO, "build", "tools", "bin", "helm")
    if not os.access(path, os.X_OK):
        subprocess.run(["make", "--no-print-directory", "helm"], cwd=harness.REPO, check=True, timeout=1200)
    assert os.access(path, os.X_OK), f"{path} missing after `make helm`"
    return path


def render(values_files=(), sets=(), release="rel"):
    cmd = [helm_binary(), "template", release, os.path.join(harness.REPO, "chart", "bollard")]
    for f in values_files:
        cmd += ["-f", f]
    for s in sets:
        cmd += ["--set", s]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, f"helm template failed: {p.stderr}"
    return Render(d for d in yaml.safe_load_all(p.stdout) if d)


class Render(list):
    kube = None  # the fake Kubernetes API (KubeAPI) that in-pod clients reach

    def find(self, kind, name=None, component=None):
        def component_of(o):
            return o["metadata"].get("labels", {}).get("app.kubernetes.io/component")

        hits = [o for o in self if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
                and (component is None or component_of(o) == component)]
        assert len(hits) == 1, f"expected one {kind} {name or component or ''}, found {len(hits)}"
        return hits[0]

    def secret_data(self, name):
        s = self.find("Secret", name=name)
        data = {k: base64.b64decode(v).decode() for k, v in (s.get("data") or {}).items()}
        data.update(s.get("stringData") or {})
        return data


def int_or_percent(value, total, round_up):
    if isinstance(value, str) and value.endswith("%"):
        x = total * int(value[:-1]) / 100
        return math.ceil(x) if round_up else math.floor(x)
    return int(value)


# ---- a container run as a local process ------------------------------------------------------------

class ContainerSpec:
    """One rendered container mapped onto this machine (binary, argv, env, files)."""

    def __init__(self, render, pod_spec, container, images, workdir, pod_name):
        self.render = render
        self.images = images
        self.image = container["image"]
        assert self.image in images, f"no local binary for image {self.image}"
        self.binary = images[self.image]
        self.mounts = {}
        volumes = {v["name"]: v for v in pod_spec.get("volumes", [])}
        for m in container.get("volumeMounts", []):
            vol = volumes[m["name"]]
            here = os.path.join(workdir, m["name"])
            os.makedirs(here, exist_ok=True)
            if "secret" in vol:
                data = render.secret_data(vol["secret"]["secretName"])
                items = vol["secret"].get("items") or [{"key": k, "path": k} for k in data]
                for item in items:
                    path = os.path.join(here, item["path"])
                    with open(path, "w") as f:
                        f.write(data[item["key"]])
                    os.chmod(path, item.get("mode", vol["secret"].get("defaultMode", 0o644)))
            elif "projected" in vol:
                # The service account token, the cluster CA and the namespace (the fake API server's).
                kube = render.kube
                assert kube is not None, "a projected service account volume needs Cluster.kube"
                for src in vol["projected"]["sources"]:
                    if "serviceAccountToken" in src:
                        files = {src["serviceAccountToken"]["path"]: kube.token}
                    elif "configMap" in src:
                        assert src["configMap"]["name"] == "kube-root-ca.crt", src
                        files = {i["path"]: open(kube.ca_path).read() for i in src["configMap"]["items"]}
                    else:
                        files = {i["path"]: kube.namespace for i in src["downwardAPI"]["items"]
                                 if i["fieldRef"]["fieldPath"] == "metadata.namespace"}
                    for rel, text in files.items():
                        with open(os.path.join(here, rel), "w") as f:
                            f.write(text)
            else:
                assert "emptyDir" in vol, f"volume {vol} is not modelled"
            self.mounts[m["mountPath"].rstrip("/")] = here
        self.ports = {}  # containerPort and its name -> local port
        for p in container.get("ports", []):
            local = harness.free_port()
            self.ports[p["containerPort"]] = local
            if "name" in p:
                self.ports[p["name"]] = local
        env = {"PATH": "/usr/bin:/bin"}
        for src in container.get("envFrom", []):
            if "configMapRef" in src:
                env.update(render.find("ConfigMap", name=src["configMapRef"]["name"])["data"])
            else:
                env.update(render.secret_data(src["secretRef"]["name"]))
        for e in container.get("env", []):
            if "value" in e:
                env[e["name"]] = e["value"]
                continue
            ref = e["valueFrom"]
            if "fieldRef" in ref:
                assert ref["fieldRef"]["fieldPath"] == "metadata.name", ref
                env[e["name"]] = pod_name
            elif "secretKeyRef" in ref:
                env[e["name"]] = render.secret_data(ref["secretKeyRef"]["name"])[ref["secretKeyRef"]["key"]]
            elif "configMapKeyRef" in ref:
                cm = render.find("ConfigMap", name=ref["configMapKeyRef"]["name"])
                env[e["name"]] = cm["data"][ref["configMapKeyRef"]["key"]]
            else:
                raise AssertionError(f"env source not modelled: {e}")
        env = {k: self.local_path(v) for k, v in env.items()}
        if "PORT" in env and self.ports:  # the worker has no port (and does not listen on PORT)
            assert int(env["PORT"]) in self.ports, "PORT must be the container port"
            env["PORT"] = str(self.ports[int(env["PORT"])])
        if "METRICS_PORT" in env and self.ports:  # the metrics container port, likewise
            assert int(env["METRICS_PORT"]) in self.ports, "METRICS_PORT must be a container port"
            env["METRICS_PORT"] = str(self.ports[int(env["METRICS_PORT"])])
        # The sanitizer settings of the test harness (ASan builds fail on leaks and errors).
        for k, v in harness.base_env().items():
            if k.endswith("SAN_OPTIONS"):
                env[k] = v
        self.env = env
        cmd = container.get("command")
        self.argv = ([self.map_binary(cmd[0])] + cmd[1:] if cmd else [self.binary]) + [
            self.local_path(a) for a in container.get("args", [])]
        if render.kube is not None:  # set by the kubelet in every pod, whatever enableServiceLinks says
            self.env["KUBERNETES_SERVICE_HOST"] = "127.0.0.1"
            self.env["KUBERNETES_SERVICE_PORT"] = str(render.kube.port)
        self.container = container
        self.lifecycle = container.get("lifecycle", {})

    def local_path(self, value):
        # The longest mount path first: a mount may sit inside another one's path.
        for mount, here in sorted(self.mounts.items(), key=lambda kv: -len(kv[0])):
            if value == mount or value.startswith(mount + "/"):
                return here + value[len(mount):]
        return value

    def map_binary(self, path):
        if path == "/bollard":
            return self.binary
        if path == "/probe":
            return harness.binary("probe")
        raise AssertionError(f"{path} is not in the image")

    def port(self, ref):
        return self.ports[ref]


def run_job(render, images, workdir, component="migrate", timeout=120):
    """Runs the rendered Job (the migration hook) to completion; returns the CompletedProcess."""
    job = render.find("Job", component=component)
    spec = job["spec"]["template"]["spec"]
    c = ContainerSpec(render, spec, spec["containers"][0], images, tempfile.mkdtemp(dir=workdir), "job")
    return subprocess.run(c.argv, env=c.env, capture_output=True, text=True, timeout=timeout)


HOOK_KIND_ORDER = ["Namespace", "ServiceAccount", "Secret", "ConfigMap", "Role", "RoleBinding", "Service",
                   "Pod", "Deployment", "Job"]


def hooks(render, event):
    """The rendered hooks of one event in Helm's order: weight, then kind (install order), then name."""
    out = [o for o in render if event in o["metadata"].get("annotations", {}).get("helm.sh/hook", "").split(",")]

    def key(o):
        kind = o["kind"]
        return (int(o["metadata"]["annotations"].get("helm.sh/hook-weight", "0")),
                HOOK_KIND_ORDER.index(kind) if kind in HOOK_KIND_ORDER else len(HOOK_KIND_ORDER),
                o["metadata"]["name"])
    return sorted(out, key=key)


def run_hooks(render, images, workdir, event, timeout=300):
    """Helm's hook execution for one event: each hook in order; a Job must complete (within
    timeout, Helm's --timeout) before the next starts, a failure stops the event. Returns
    [(job name, CompletedProcess)]; other kinds only need to exist, which the harness models as given."""
    done = []
    for o in hooks(render, event):
        if o["kind"] != "Job":
            continue
        spec = o["spec"]["template"]["spec"]
        c = ContainerSpec(render, spec, spec["containers"][0], images, tempfile.mkdtemp(dir=workdir), "job")
        deadline = min(timeout, o["spec"].get("activeDeadlineSeconds", timeout))
        p = subprocess.run(c.argv, env=c.env, capture_output=True, text=True, timeout=deadline)
        done.append((o["metadata"]["name"], p))
        if p.returncode != 0:
            break
    return done


class KubeAPI:
    """The one Kubernetes API call a pod makes (GET a Deployment, for `migrate --wait-rollout`), over
    TLS with a CA of its own, answered from the Cluster's state like the Deployment controller's
    status: observedGeneration, replicas (pods not terminating), updated, available."""

    def __init__(self, cluster, workdir, namespace="default"):
        import http.server
        import ssl
        self.cluster = cluster
        self.namespace = namespace
        self.token = "harness-token-" + os.urandom(8).hex()
        self.requests = []
        d = tempfile.mkdtemp(prefix="kube-", dir=workdir)
        self.ca_path, key = os.path.join(d, "ca.crt"), os.path.join(d, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key, "-out", self.ca_path, "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=30)
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                api.requests.append((now(), self.path))
                want = f"/apis/apps/v1/namespaces/{api.namespace}/deployments/"
                if self.headers.get("Authorization") != "Bearer " + api.token:
                    code, body = 401, {"kind": "Status", "code": 401}
                elif not self.path.startswith(want):
                    code, body = 404, {"kind": "Status", "code": 404}
                else:
                    body = api.cluster.deployment_status(self.path[len(want):])
                    code = 200 if body else 404
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.ca_path, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


# ---- pods and the kubelet ------------------------------------------------------------------------

class Pod:
    """One replica of a Deployment (API or worker): its process, probes (kubelet), and termination."""

    def __init__(self, cluster, deployment, template, revision, name):
        self.cluster = cluster
        self.deployment = deployment
        self.component = deployment.component
        self.name = name
        self.revision = revision
        self.template = template
        spec = template["spec"]
        self.spec = spec
        self.dir = tempfile.mkdtemp(prefix=name + "-", dir=cluster.workdir)
        self.c = ContainerSpec(cluster.render, spec, spec["containers"][0], cluster.images, self.dir, name)
        ports = spec["containers"][0].get("ports")
        self.port = self.c.port(ports[0]["containerPort"]) if ports else None  # the worker has none
        self.grace = spec.get("terminationGracePeriodSeconds", 30)
        self.created_at = now()
        self.started = False  # startup probe succeeded
        self.ready = False
        self.ready_since = None
        self.ever_ready = False
        self.terminating = False
        self.deleted_at = None
        self.sigterm_at = None
        self.killed = False
        self.exited_at = None
        self.returncode = None
        self.events = []  # (time, text) for the report
        self.problems = []  # things a healthy rollout must not show (liveness/startup failures, crashes)
        self.last_ready_body = None
        self.out = open(os.path.join(self.dir, "stdout"), "wb")
        self.err_path = os.path.join(self.dir, "stderr")
        argv = self.c.argv
        self.start_delay = deployment.start_delay()
        if self.start_delay > 0:
            # Scheduling and image pull: the container starts later, under the same PID (exec).
            argv = [sys.executable, "-c", "import os, sys, time; time.sleep(float(sys.argv[1])); "
                    "os.execv(sys.argv[2], sys.argv[2:])", f"{self.start_delay:.3f}"] + argv
        self.proc = subprocess.Popen(argv, env=self.c.env, stdout=self.out, stderr=open(self.err_path, "wb"))
        harness._started.append(self)
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._waiter, daemon=True)]
        for kind in ("startup", "readiness", "liveness"):
            probe = spec["containers"][0].get(kind + "Probe")
            if probe:
                self.threads.append(threading.Thread(target=self._prober, args=(kind, probe), daemon=True))
        # Without a readiness probe (the worker) a container is ready once started: its startup
        # probe passed, or at once when it has none.
        self.has_readiness = "readinessProbe" in spec["containers"][0]
        if "startupProbe" not in spec["containers"][0]:
            self._started()
        for t in self.threads:
            t.start()

    def event(self, text):
        self.events.append((now(), text))

    def _started(self):
        self.started = True
        if not self.has_readiness:
            with self.lock:
                self.ready, self.ready_since, self.ever_ready = True, now(), True
            self.event("ready (no readiness probe)")

    def alive(self):
        return self.exited_at is None

    def available(self, min_ready):
        return self.ready and not self.terminating and now() - self.ready_since >= min_ready

    # The kubelet's probe workers.
    def _run_probe(self, kind, probe):
        timeout = probe.get("timeoutSeconds", 1)
        if "httpGet" in probe:
            h = probe["httpGet"]
            assert h.get("scheme", "HTTP") == "HTTP", h
            conn = http.client.HTTPConnection(h.get("host", "127.0.0.1"), self.c.port(h["port"]), timeout=timeout)
            try:
                headers = {"User-Agent": "kube-probe/1.31", "Connection": "close"}
                headers.update({x["name"]: x["value"] for x in h.get("httpHeaders", [])})
                conn.request("GET", h["path"], headers=headers)
                r = conn.getresponse()
                body = r.read()
                if kind == "readiness":
                    self.last_ready_body = body
                return 200 <= r.status < 400, f"HTTP {r.status}"
            except (OSError, http.client.HTTPException) as e:
                return False, repr(e)
            finally:
                conn.close()
        if "exec" in probe:
            cmd = probe["exec"]["command"]
            try:
                argv = [self.c.map_binary(cmd[0])] + [self.c.local_path(a) for a in cmd[1:]]
                p = subprocess.run(argv, env=self.c.env, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                return False, "exec probe timed out"
            return p.returncode == 0, f"exit {p.returncode} {p.stderr.strip()}"
        if "tcpSocket" in probe:
            return harness.port_open(self.c.port(probe["tcpSocket"]["port"])), "tcp"
        raise AssertionError(f"probe not modelled: {probe}")

    def _prober(self, kind, probe):
        period = probe.get("periodSeconds", 10)
        success_needed = probe.get("successThreshold", 1)
        failure_allowed = probe.get("failureThreshold", 3)
        if kind != "startup":
            while not self.started and self.alive():
                time.sleep(TICK)
        start = now() + probe.get("initialDelaySeconds", 0) if kind == "startup" else now()
        next_at = start
        successes = failures = 0
        while self.alive():
            delay = next_at - now()
            if delay > 0:
                time.sleep(min(delay, 0.05))
                continue
            next_at += period
            if kind == "liveness" and self.terminating:
                continue  # the kubelet stops liveness/startup probing a terminating pod
            ok, detail = self._run_probe(kind, probe)
            if not self.alive():
                return
            if ok:
                successes, failures = successes + 1, 0
            else:
                successes, failures = 0, failures + 1
            if kind == "startup":
                if ok:
                    self.event("startup probe succeeded")
                    self._started()
                    return
                if failures >= failure_allowed:
                    self.problems.append(f"startup probe failed {failures}x ({detail}): the kubelet would restart it")
                    return
            elif kind == "liveness":
                if failures >= failure_allowed:
                    self.problems.append(f"liveness probe failed {failures}x ({detail}): the kubelet would restart it")
                    failures = 0
            else:
                if ok and not self.ready and successes >= success_needed:
                    with self.lock:
                        self.ready, self.ready_since, self.ever_ready = True, now(), True
                    self.event("ready")
                elif not ok and self.ready and failures >= failure_allowed:
                    with self.lock:
                        self.ready = False
                    self.event(f"not ready ({detail})")

    def _waiter(self):
        code = self.proc.wait()
        self.exited_at = now()
        self.returncode = code
        self.ready = False
        self.event(f"exited {code}")
        if not self.terminating:
            self.problems.append(f"exited {code} without being deleted")

    def delete(self):
        """Deletion as the API server + kubelet do it: endpoints go (after the propagation delay),
        while the kubelet runs preStop, sends SIGTERM, and SIGKILLs after the grace period."""
        if self.terminating:
            return
        self.terminating = True
        self.deleted_at = now()
        self.event("deleted")
        threading.Thread(target=self._terminate, daemon=True).start()

    def _terminate(self):
        deadline = self.deleted_at + self.grace
        pre = self.c.lifecycle.get("preStop")
        if pre:
            assert "sleep" in pre, f"preStop handler not modelled: {pre}"
            end = min(deadline, now() + pre["sleep"]["seconds"])
            while now() < end and self.alive():
                time.sleep(TICK)
        if self.alive():
            self.sigterm_at = now()
            self.proc.send_signal(signal.SIGTERM)
        while self.alive() and now() < deadline:
            time.sleep(TICK)
        if self.alive():
            self.killed = True
            self.event("SIGKILL after the grace period")
            self.proc.kill()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self in harness._started:
            harness._started.remove(self)

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


# ---- endpoints, kube-proxy and the balancer -------------------------------------------------------

class Balancer:
    """kube-proxy for one Service: picks a ready endpoint per new connection, splices bytes."""

    def __init__(self, cluster, seed=None, endpoint_delay=None, removal_lag=None):
        self.cluster = cluster
        self.endpoints = []  # what kube-proxy currently knows (delayed)
        self.state = {}  # pod name -> desired, when kube-proxy sees it, seen
        self.rng = random.Random(f"endpoints-{seed}")  # its own stream: start delays stay as they were
        self.endpoint_delay = endpoint_delay or (ENDPOINT_DELAY, ENDPOINT_DELAY)
        self.removal_lag = removal_lag
        self.connections = []  # one record per proxied connection
        self.refused = []  # (time, reason) new connections with no backend or a failed connect
        self.rr = itertools.count()
        self.port = harness.free_port()
        self.loop = asyncio.new_event_loop()
        self.ready_evt = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready_evt.wait(10)
        self.sync_thread = threading.Thread(target=self._sync, daemon=True)
        self.sync_thread.start()

    def _draw(self, rng_range):
        lo, hi = rng_range
        return self.rng.uniform(lo, hi) if hi > lo else lo

    def _sync(self):
        # The endpoint controller and kube-proxy, per pod: desired = ready, not terminating; a change
        # is seen a propagation delay later (ENDPOINT_DELAY, or seeded from endpoint_delay). With
        # removal_lag, a terminating pod stays an endpoint until a seeded lag after its SIGTERM.
        while not self.stopping:
            t = now()
            for p in list(self.cluster.pods):
                want = p.ready and not p.terminating and p.alive()
                st = self.state.setdefault(p.name, {"want": False, "at": None, "seen": False})
                if want != st["want"]:
                    st["want"] = want
                    if not want and p.terminating and self.removal_lag is not None:
                        st["at"] = None
                        st["lag"] = self._draw(self.removal_lag)
                    else:
                        st["at"] = t + self._draw(self.endpoint_delay)
                if st["want"] == st["seen"]:
                    continue
                if st["at"] is None:
                    base = p.sigterm_at if p.sigterm_at is not None else (p.exited_at if not p.alive() else None)
                    if base is not None:
                        st["at"] = base + st["lag"]
                if st["at"] is not None and t >= st["at"]:
                    st["seen"] = st["want"]
                    p.event("endpoint added" if st["seen"] else "endpoint removed")
            self.endpoints = [p for p in self.cluster.pods if self.state.get(p.name, {}).get("seen")]
            time.sleep(TICK)

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def start():
            self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, backlog=512)
            self.ready_evt.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    async def _handle(self, creader, cwriter):
        eps = list(self.endpoints)
        if not eps:
            self.refused.append((now(), "no ready endpoints"))
            cwriter.transport.abort()
            return
        pod = eps[next(self.rr) % len(eps)]
        rec = {"pod": pod, "opened": now(), "last_backend_byte": None, "requests": 0, "reset": None}
        self.connections.append(rec)
        try:
            breader, bwriter = await asyncio.open_connection("127.0.0.1", pod.port)
        except OSError as e:
            self.refused.append((now(), f"connect to {pod.name}: {e!r}"))
            rec["reset"] = f"connect: {e!r}"
            cwriter.transport.abort()
            return

        async def pipe(reader, writer, from_backend):
            try:
                while True:
                    data = await reader.read(65536)
                    if not data:
                        break
                    if from_backend:
                        rec["last_backend_byte"] = now()
                    else:
                        rec["requests"] += data.count(b"HTTP/1.1\r\n")
                    writer.write(data)
                    await writer.drain()
                if writer.can_write_eof():
                    writer.write_eof()
            except (ConnectionError, OSError) as e:
                rec["reset"] = f"{'backend' if from_backend else 'client'}: {e!r}"
                cwriter.transport.abort()
                bwriter.transport.abort()

        await asyncio.gather(pipe(creader, bwriter, False), pipe(breader, cwriter, True))
        rec["closed"] = now()
        cwriter.close()
        bwriter.close()

    def close(self):
        self.stopping = True
        self.sync_thread.join(5)

        def shut():
            self.server.close()
            self.loop.stop()

        self.loop.call_soon_threadsafe(shut)
        self.thread.join(5)


# ---- the Deployment controller ---------------------------------------------------------------------

class Deployment:
    """One rendered Deployment (the API's or the worker's) and its pods, rolled by the controller's
    RollingUpdate logic from the rendered replicas, strategy and minReadySeconds."""

    def __init__(self, cluster, component, rng):
        self.cluster = cluster
        self.component = component
        self.rng = rng  # start delays: a stream per Deployment, so adding one leaves the others' draws
        self.generation = 0
        self.obj = None  # the rendered Deployment; None before the first apply, or once removed
        self.revision = None
        self.pods = []
        self.serial = itertools.count(1)

    def start_delay(self):
        lo, hi = self.cluster.start_delay_range
        return self.rng.uniform(lo, hi) if hi > 0 else 0.0

    def set(self, obj):
        """A new spec (helm upgrade); returns its revision (the pod template's hash)."""
        self.generation += 1
        self.obj = obj
        if obj is None:
            self.revision = None
            return None
        tmpl = obj["spec"]["template"]
        self.revision = hashlib.sha256(json.dumps(tmpl, sort_keys=True).encode()).hexdigest()[:10]
        return self.revision

    def live(self):
        return [p for p in self.pods if not p.terminating and p.alive()]

    def status(self):
        spec = self.obj["spec"]
        min_ready = spec.get("minReadySeconds", 0)
        live = self.live()
        new = [p for p in live if p.revision == self.revision]
        return {"kind": "Deployment", "metadata": {"name": self.obj["metadata"]["name"], "generation": self.generation},
                "spec": {"replicas": spec["replicas"], "template": {"spec": {
                    "terminationGracePeriodSeconds": spec["template"]["spec"].get(
                        "terminationGracePeriodSeconds", 30)}}},
                "status": {"observedGeneration": self.generation, "replicas": len(live),
                           "updatedReplicas": len(new),
                           "availableReplicas": sum(1 for p in live if p.available(min_ready))}}

    def reconcile(self):
        if self.obj is None:  # the Deployment is gone from the release (e.g. worker.enabled=false)
            for p in self.live():
                p.delete()
            return
        spec = self.obj["spec"]
        replicas = spec["replicas"]
        strategy = spec.get("strategy", {})
        assert strategy.get("type", "RollingUpdate") == "RollingUpdate", strategy
        ru = strategy.get("rollingUpdate", {})
        surge = int_or_percent(ru.get("maxSurge", "25%"), replicas, True)
        unavailable = int_or_percent(ru.get("maxUnavailable", "25%"), replicas, False)
        min_ready = spec.get("minReadySeconds", 0)
        alive = self.live()
        new = [p for p in alive if p.revision == self.revision]
        old = [p for p in alive if p.revision != self.revision]
        # Scale up the new ReplicaSet within maxSurge (a first deployment creates all at once).
        if not old:
            allowed = replicas - len(new)
        else:
            allowed = min(replicas + surge - len(alive), replicas - len(new))
        for _ in range(max(0, allowed)):
            name = f"{self.obj['metadata']['name']}-{self.revision[:6]}-{next(self.serial)}"
            self.pods.append(Pod(self.cluster, self, spec["template"], self.revision, name))
        if len(new) > replicas:
            for p in sorted(new, key=lambda p: p.available(min_ready))[: len(new) - replicas]:
                p.delete()
        if not old:
            return
        # Scale down old: unhealthy old pods first (they add no availability), then by availability.
        min_available = replicas - unavailable
        available = sum(1 for p in alive if p.available(min_ready))
        new_unavailable = sum(1 for p in new if not p.available(min_ready))
        budget = len(alive) - min_available - new_unavailable
        for p in [p for p in old if not p.available(min_ready)][: max(0, budget)]:
            p.delete()
            old.remove(p)
        budget = available - min_available
        for p in sorted([p for p in old if p.available(min_ready)], key=lambda p: p.created_at)[: max(0, budget)]:
            p.delete()

    def rolled_out(self):
        """Every replica of the current revision available, nothing else running."""
        if self.obj is None:
            return not any(p.alive() for p in self.pods)
        spec = self.obj["spec"]
        new = [p for p in self.live() if p.revision == self.revision]
        others = [p for p in self.pods if p.revision != self.revision and p.alive()]
        return (len(new) == spec["replicas"] and all(p.available(spec.get("minReadySeconds", 0)) for p in new)
                and not others)


class Cluster:
    """The release's API Deployment with its Service, and its worker Deployment when rendered, from
    successive renders (helm upgrade / rollback). `pods`, `revision`, `deployment` and `live()` are
    the API's; `worker` is the worker Deployment's controller."""

    def __init__(self, workdir, seed=None, start_delay=(0.0, 0.0), endpoint_delay=None, removal_lag=None):
        self.workdir = workdir
        self.rng = random.Random(seed)
        self.start_delay_range = start_delay
        self.kube = None
        self.render = None
        self.images = None
        self.api = Deployment(self, "api", self.rng)  # the API's start delays are drawn as they always were
        self.worker = Deployment(self, "worker", random.Random(f"worker-{seed}"))
        self.lock = threading.Lock()
        self.stopping = False
        self.balancer = Balancer(self, seed, endpoint_delay, removal_lag)
        self.thread = None
        self.error = None  # an exception that stopped the controller

    @property
    def pods(self):
        return self.api.pods

    @property
    def revision(self):
        return self.api.revision

    @property
    def deployment(self):
        return self.api.obj

    def all_pods(self):
        return self.api.pods + self.worker.pods

    def kube_api(self):
        """The fake Kubernetes API for in-pod clients; renders applied from now on point at it."""
        if self.kube is None:
            self.kube = KubeAPI(self, self.workdir)
        return self.kube

    def deployment_status(self, name):
        with self.lock:
            for d in (self.api, self.worker):
                if d.obj is not None and d.obj["metadata"]["name"] == name:
                    return d.status()
            return None

    def apply(self, render, images):
        """`helm upgrade`: new Deployment specs; the controller rolls each whose pod template changed.
        Returns the API's revision."""
        with self.lock:
            self.render = render
            self.images = images
            self.api.set(render.find("Deployment", component="api"))
            workers = [o for o in render if o["kind"] == "Deployment"
                       and o["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "worker"]
            assert len(workers) <= 1, workers
            if workers or self.worker.obj is not None:
                self.worker.set(workers[0] if workers else None)
        if self.thread is None:
            self.thread = threading.Thread(target=self._control, daemon=True)
            self.thread.start()
        return self.api.revision

    def live(self):
        return self.api.live()

    def _control(self):
        try:
            while not self.stopping:
                with self.lock:
                    self.api.reconcile()
                    if self.worker.obj is not None or self.worker.pods:
                        self.worker.reconcile()
                time.sleep(TICK * 2)
        except BaseException as e:  # the test fails with it (wait_rolled_out), not with a timeout
            self.error = e
            raise

    def evict(self, pod, pdb):
        """The Eviction API against the rendered PodDisruptionBudget (`pdb`, the rendered object):
        healthy = ready and not being deleted; desiredHealthy from minAvailable or the replicas less
        maxUnavailable (percentages of the Deployment's replicas, rounded up as Kubernetes does);
        an unready pod may go anyway under unhealthyPodEvictionPolicy AlwaysAllow. True = evicted
        (the pod is deleted gracefully), False = 429 Too Many Requests."""
        with self.lock:
            if pod.terminating or not pod.alive():
                return True
            spec = pdb["spec"]
            expected = self.deployment["spec"]["replicas"]
            healthy = [p for p in self.pods if p.ready and not p.terminating and p.alive()]
            if "minAvailable" in spec:
                desired = int_or_percent(spec["minAvailable"], expected, True)
            else:
                desired = expected - int_or_percent(spec["maxUnavailable"], expected, True)
            if not pod.ready and spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow":
                pod.event("evicted (unhealthy)")
                pod.delete()
                return True
            if len(healthy) - desired <= 0:
                return False
            pod.event("evicted")
            pod.delete()
            return True

    def rolled_out(self):
        """Both Deployments rolled out (every replica of the current revision available, nothing
        else running) and the API's new pods, only they, in the balancer."""
        new = [p for p in self.live() if p.revision == self.revision]
        return self.api.rolled_out() and set(self.balancer.endpoints) == set(new) and self.worker.rolled_out()

    def wait_rolled_out(self, timeout):
        start = now()
        while now() - start < timeout:
            if self.error is not None:
                raise AssertionError("the Deployment controller failed") from self.error
            if self.rolled_out():
                return now() - start
            time.sleep(TICK)
        raise AssertionError(f"rollout to {self.revision} (worker {self.worker.revision}) not complete after "
                             f"{timeout}s: " + self.describe())

    def describe(self):
        pods = self.all_pods()
        t0 = min((p.created_at for p in pods), default=now())
        lines = []
        for p in pods:
            ev = ", ".join(f"{t - t0:.2f}s {e}" for t, e in p.events)
            lines.append(f"{p.name} [{p.revision}] ready={p.ready} terminating={p.terminating}: {ev}")
        return "\n".join(lines)

    def shutdown(self):
        self.stopping = True
        if self.thread:
            self.thread.join(5)
        pods = self.all_pods()
        for p in pods:
            p.delete()
        deadline = now() + max((p.grace for p in pods), default=0) + 2
        while any(p.alive() for p in pods) and now() < deadline:
            time.sleep(TICK)
        self.balancer.close()
        if self.kube is not None:
            self.kube.close()
        for p in pods:
            p.stop()


# ---- the load generator ------------------------------------------------------------------------------

class Load:
    """Keep-alive HTTP clients through the balancer: authenticated task reads and writes."""

    def __init__(self, port, token, clients=4, pace=0.01, fresh_clients=1, idle_clients=2, idle_pace=3.0):
        self.port = port
        self.token = token
        self.pace = pace
        self.idle_pace = idle_pace
        self.ok = 0
        self.statuses = {}
        self.failures = []  # (time, client, what)
        self.pooled_closed = 0  # idle keep-alive connections the server closed between requests
        self.acked = []  # ids of the tasks whose POST was answered 201 (acknowledged writes)
        self.acked_at = {}  # task id -> when its 201 arrived
        self.stopping = False
        # Busy keep-alive clients; clients opening a new connection per request (many short-lived
        # callers), which exercise the balancer's endpoint choice all through an update; and
        # keep-alive clients idle longer than the drain (idle_pace), whose connections the server
        # closes when the drain ends: like urllib3, they check a pooled connection before reusing it.
        kinds = ["busy"] * clients + ["fresh"] * fresh_clients + ["idle"] * idle_clients
        self.threads = [threading.Thread(target=self._client, args=(i, kind), daemon=True)
                        for i, kind in enumerate(kinds)]
        self.started_at = now()
        for t in self.threads:
            t.start()

    def _client(self, i, kind):
        conn = None
        fresh = kind == "fresh"
        headers = {"Authorization": "Bearer " + self.token}
        if fresh:
            headers["Connection"] = "close"
        for n in itertools.count():
            if self.stopping:
                break
            if conn is not None and conn.sock is not None and select.select([conn.sock], [], [], 0)[0]:
                conn.close()  # closed by the server while pooled (readable at EOF): reconnect
                conn = None
                self.pooled_closed += 1
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            write = n % 5 == 4
            try:
                if write:
                    body = json.dumps({"title": f"rollout {i}-{n}"})
                    conn.request("POST", "/api/tasks", body=body,
                                 headers=dict(headers, **{"Content-Type": "application/json"}))
                else:
                    conn.request("GET", "/api/tasks?limit=5", headers=headers)
                r = conn.getresponse()
                data = r.read()
                if write and r.status == 201:
                    task_id = json.loads(data)["id"]
                    self.acked.append(task_id)
                    self.acked_at[task_id] = now()
                self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
                if r.status != (201 if write else 200):
                    self.failures.append((now(), i, f"{'POST' if write else 'GET'} -> HTTP {r.status}"))
                else:
                    self.ok += 1
                if r.will_close or fresh:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                self.failures.append((now(), i, f"{'POST' if write else 'GET'} -> {e!r}"))
                conn.close()
                conn = None
            pause_until = now() + (self.idle_pace if kind == "idle" else self.pace)
            while not self.stopping and now() < pause_until:
                time.sleep(min(self.pace, pause_until - now()))
        if conn is not None:
            conn.close()

    def total(self):
        return self.ok + len(self.failures)

    def lost_writes(self):
        """Acknowledged writes that cannot be read back (one GET per task on one connection)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        lost = []
        for task_id in self.acked:
            conn.request("GET", f"/api/tasks/{task_id}", headers={"Authorization": "Bearer " + self.token})
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                lost.append((task_id, r.status))
            if r.will_close:
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.close()
        return lost

    def stop(self):
        self.stopping = True
        for t in self.threads:
            t.join(15)
        self.stopped_at = now()
