"""What the chat and MCP suites' tests and fixtures share (a module of its own: `from conftest import`
would pick whichever suite's conftest.py pytest imported first)."""
import harness

KEY = "sk-or-test-SECRETKEY-0123456789"  # the fake provider's key: it must never reach a log


def start_api(pg, redis, name, **extra):
    url = pg.new_database(name)
    env = harness.base_env(pg, redis, DATABASE_URL=url, ACCESS_LOG="false", **extra)
    redis.cli("FLUSHDB")
    return harness.Bollard.migrated_api(env)
