"""Cold start to ready: `bollard api` from the image (podman, hardened, host network) against the same
binary started directly on the host, alternating, against one throwaway PostgreSQL + Redis.

    python3 bench/image_start.py [ROUNDS]      (after `make image`; BOLLARD_IMAGE overrides the tag)

Prints the median time from spawn to the first 200 on /health/live and /health/ready for each, and
the ratio: these machines are noisy, so the ratio within one run is the number to quote.
"""
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "image"))
import harness  # noqa: E402
import imagetool  # noqa: E402
import results as bench_results  # noqa: E402


def until(url, deadline):
    while time.monotonic() < deadline:
        try:
            if harness.get(url, timeout=1)[0] == 200:
                return time.monotonic()
        except Exception:
            pass
        time.sleep(0.005)
    raise TimeoutError(url)


def one(kind, env):
    port = harness.free_port()
    env = dict(env, PORT=str(port))
    t0 = time.monotonic()
    if kind == "host":
        proc = subprocess.Popen([harness.binary("bollard"), "api"], env=dict(env, PATH="/usr/bin:/bin"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        c = imagetool.Container(["api"], env=env)
    try:
        live = until(f"http://127.0.0.1:{port}/health/live", t0 + 60) - t0
        ready = until(f"http://127.0.0.1:{port}/health/ready", t0 + 60) - t0
    finally:
        if kind == "host":
            proc.kill()
            proc.wait()
        else:
            c.stop()
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
        res = {"host": [], "image": []}
        for _ in range(rounds):
            for kind in ("host", "image"):
                res[kind].append(one(kind, env))
        med = {k: (statistics.median(v[0] for v in vals), statistics.median(v[1] for v in vals))
               for k, vals in res.items()}
        for k in ("host", "image"):
            print(f"{k:6s} live {med[k][0] * 1000:7.1f} ms   ready {med[k][1] * 1000:7.1f} ms   (median of {rounds})")
        print(f"image/host ready ratio {med['image'][1] / med['host'][1]:.1f}x; "
              f"container overhead {(med['image'][1] - med['host'][1]) * 1000:.0f} ms")
        size_mb = int(imagetool.inspect_image()["Size"]) / 1e6
        print(f"image size {size_mb:.1f} MB")
        cmd = "make bench-image"
        bench_results.record("image", [
            bench_results.row("runtime image size (uncompressed)", round(size_mb, 1), "MB", cmd,
                              "Python service image budget", 300, bench_results.lower_is_better(size_mb, 300), 40,
                              goal_kind="max"),
            bench_results.row(f"image cold start to ready (median of {rounds})", round(med["image"][1] * 1000),
                              "ms", cmd, "the same binary on the host", round(med["host"][1] * 1000),
                              bench_results.lower_is_better(med["image"][1], med["host"][1])),
        ])
    finally:
        pg.destroy()
        redis.destroy()


if __name__ == "__main__":
    main()
