"""Image size and cold start to ready: `bollard api` from the image (podman, hardened, host network)
against its peer, the FastAPI peer of `make bench-tasks` as the usual Python service image
(bench/peers/fastapi/Containerfile, built by bench/peer_image.py), run the same way; and against the
same binary started directly on the host (what the container itself costs). Rounds alternate, all
against one throwaway PostgreSQL + Redis.

    python3 bench/image_start.py [ROUNDS]      (after `make image`; BOLLARD_IMAGE overrides the tag)

Ready is the first 200 on /health/ready for Bollard; the peer has no health route, so its ready is
the first 200 on GET /api/tasks (a signed token: it has connected to PostgreSQL), its live the
first HTTP answer of any status. Prints the medians and the ratios: these machines are noisy, so
the ratio within one run is the number to quote. When the peer image cannot be built, its cells
are reported as not measured.
"""
import base64
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import time

import harness  # tests/lib: PYTHONPATH, set by the bench targets (bench/bench.mk)
import imagetool
import results as bench_results
import peer_image


def token(secret, sub):
    """An HS256 JWT as `bollard api` and the peer accept (sub, exp)."""
    enc = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=")  # noqa: E731
    head = enc(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = enc(json.dumps({"sub": sub, "exp": int(time.time()) + 3600}).encode())
    sig = enc(hmac.new(secret.encode(), head + b"." + body, hashlib.sha256).digest())
    return (head + b"." + body + b"." + sig).decode()


def answered(url, deadline):
    """Time of the first HTTP answer, whatever its status."""
    while time.monotonic() < deadline:
        try:
            harness.get(url, timeout=1)
            return time.monotonic()
        except Exception:
            time.sleep(0.005)
    raise TimeoutError(url)


def until(url, deadline, headers=None):
    while time.monotonic() < deadline:
        try:
            if harness.get(url, headers=headers, timeout=1)[0] == 200:
                return time.monotonic()
        except Exception:
            pass
        time.sleep(0.005)
    raise TimeoutError(url)


def one(kind, env, peer=None):
    port = harness.free_port()
    env = harness.with_metrics_port(dict(env, PORT=str(port)))
    base = f"http://127.0.0.1:{port}"
    name = None
    t0 = time.monotonic()
    if kind == "host":
        proc = subprocess.Popen([harness.binary("bollard"), "api"], env=dict(env, PATH="/usr/bin:/bin"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elif kind == "image":
        c = imagetool.Container(["api"], env=env)
    else:  # the peer image, run as hardened as Bollard's (imagetool.HARDENED)
        name = "bollard-bench-peer-" + os.urandom(5).hex()
        peer_env = {"DATABASE_URL": env["DATABASE_URL"], "SECRET_KEY": env["SECRET_KEY"]}
        r = imagetool.cli(*imagetool.run_args(peer_env, network_host=True, name=name, detach=True), peer,
                          "--host", "127.0.0.1", "--port", str(port))
        if r.returncode != 0:
            raise RuntimeError(f"peer image run failed: {r.stderr.strip()}")
    try:
        if kind == "peer":
            auth = {"Authorization": "Bearer " + token(env["SECRET_KEY"], "00000000-0000-4000-8000-000000000001")}
            live = answered(f"{base}/", t0 + 60) - t0
            ready = until(f"{base}/api/tasks?limit=20", t0 + 60, auth) - t0
        else:
            live = until(f"{base}/health/live", t0 + 60) - t0
            ready = until(f"{base}/health/ready", t0 + 60) - t0
    finally:
        if kind == "host":
            proc.kill()
            proc.wait()
        elif kind == "image":
            c.stop()
        else:
            imagetool.cli("rm", "-f", "-t", "2", name, timeout=60)
    return live, ready


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    pg, redis = harness.Postgres(), harness.Redis()
    try:
        env = harness.base_env(pg, redis)
        for k in ("PATH", "ASAN_OPTIONS", "UBSAN_OPTIONS"):
            env.pop(k)
        r = imagetool.run(["migrate"], env=env, network_host=True)
        if r.returncode != 0:
            sys.exit(f"migrate failed: {r.stderr}")
        peer, peer_size = None, None
        try:
            peer = peer_image.ensure()
            peer_size = int(imagetool.inspect_image(peer)["Size"]) / 1e6
        except Exception as e:  # reported as not measured, the rest still counts
            print(f"peer image unavailable: {e}", file=sys.stderr)
        kinds = ("host", "image") + (("peer",) if peer else ())
        res = {k: [] for k in kinds}
        for _ in range(rounds):
            for kind in kinds:
                try:
                    res[kind].append(one(kind, env, peer))
                except Exception as e:
                    if kind != "peer":
                        raise
                    print(f"peer image start failed: {e}", file=sys.stderr)
        med = {k: (statistics.median(v[0] for v in vals), statistics.median(v[1] for v in vals))
               for k, vals in res.items() if vals}
        for k in med:
            print(f"{k:6s} live {med[k][0] * 1000:7.1f} ms   ready {med[k][1] * 1000:7.1f} ms   (median of {rounds})")
        print(f"image/host ready ratio {med['image'][1] / med['host'][1]:.1f}x; "
              f"container overhead {(med['image'][1] - med['host'][1]) * 1000:.0f} ms")
        size_mb = int(imagetool.inspect_image()["Size"]) / 1e6
        print(f"image size {size_mb:.1f} MB" + (f"; peer image ({peer}) {peer_size:.1f} MB" if peer_size else ""))
        cmd = "make bench-image"
        peer_name = "FastAPI peer image (Debian + python3 + venv)"
        peer_ready = round(med["peer"][1] * 1000) if "peer" in med else None
        bench_results.record("image", [
            bench_results.row("runtime image size (uncompressed)", round(size_mb, 1), "MB", cmd, peer_name,
                              round(peer_size, 1) if peer_size else None,
                              bench_results.lower_is_better(size_mb, peer_size), 40, goal_kind="max"),
            bench_results.row(f"image cold start to ready (median of {rounds})", round(med["image"][1] * 1000),
                              "ms", cmd, peer_name, peer_ready,
                              bench_results.lower_is_better(med["image"][1] * 1000, peer_ready)),
            bench_results.row("image cold start: cost of the container", round(med["image"][1] * 1000), "ms", cmd,
                              "the same binary on the host", round(med["host"][1] * 1000),
                              bench_results.lower_is_better(med["image"][1], med["host"][1]),
                              note="podman creating the container", question="start-up", same_binary=True),
        ], [f"Image cold start includes podman creating the container: the same binary started on the host is "
            f"ready in {med['host'][1] * 1000:.0f} ms. Both images run hardened (read-only root, no capabilities, "
            "non-root) with host networking. The peer image is built by bench/peer_image.py from "
            "bench/peers/fastapi/Containerfile on the same Debian bookworm base as Bollard's build stage."])
    finally:
        pg.destroy()
        redis.destroy()


if __name__ == "__main__":
    main()
