#!/usr/bin/env python3
"""`make run`: throwaway PostgreSQL and Redis on free loopback ports, migrations applied, then
`bollard api` in the foreground on PORT (default 8000). Ctrl-C stops everything it started.
(Until the embedded SQLite `bollard dev` mode lands; see README.)"""
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402


def main():
    port = int(os.environ.get("PORT", "8000"))
    if harness.port_open(port):
        port = harness.free_port()
    print("starting throwaway PostgreSQL and Redis ...", flush=True)
    pg, redis = harness.Postgres(), harness.Redis()
    env = harness.base_env(pg, redis, ENVIRONMENT="dev", LOG_LEVEL=os.environ.get("LOG_LEVEL", "info"),
                           PORT=port, API_THREADS=os.environ.get("API_THREADS", "0"),
                           SHUTDOWN_DRAIN_SECONDS=0)
    try:
        migrate = subprocess.run([harness.binary("bollard"), "migrate"], env=env)
        if migrate.returncode != 0:
            print(f"bollard migrate failed with exit code {migrate.returncode}", file=sys.stderr)
            return migrate.returncode
        print(f"\nBollard is up: http://127.0.0.1:{port}/health/ready   (metrics: /metrics; Ctrl-C stops)\n",
              flush=True)
        api = subprocess.Popen([harness.binary("bollard"), "api"], env=env)
        try:
            return api.wait()
        except KeyboardInterrupt:
            api.send_signal(signal.SIGTERM)
            return api.wait()
    finally:
        pg.destroy()
        redis.destroy()


if __name__ == "__main__":
    sys.exit(main())
