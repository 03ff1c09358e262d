"""Helpers for the `bollard dev` tests: processes on a SQLite file of their own, no PostgreSQL or Redis."""
import harness


def dev_env(db_path, **extra):
    """A valid `bollard dev` configuration: ENVIRONMENT=dev, sqlite: DATABASE_URL, no REDIS_URL."""
    settings = {"ENVIRONMENT": "dev", "DATABASE_URL": f"sqlite:{db_path}", "SHUTDOWN_DRAIN_SECONDS": 2}
    settings.update(extra)
    env = harness.base_env(None, None, **settings)
    if "REDIS_URL" not in extra:
        del env["REDIS_URL"]
    return env


def start_dev(env, port=None, wait=True):
    """`bollard dev` on a free port, waited for until live."""
    port = port or harness.free_port()
    env = dict(env)
    env["PORT"] = str(port)
    b = harness.Bollard(["dev"], env, port)
    if wait:
        b.wait_live(timeout=20)
    return b


def stop(b, timeout=20):
    """SIGTERM; returns the exit code once the sanitizers are known clean."""
    b.signal()
    rc = b.wait(timeout)
    b.assert_sanitizers_clean()
    return rc


def wait_ready(b, timeout=15):
    harness.wait_until(lambda: harness.get(b.url("/health/ready"))[0] == 200, timeout=timeout,
                       what="/health/ready 200")
