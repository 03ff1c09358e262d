"""Fixtures for the console tests (webhook targets on loopback allowed: the journey registers the
test receiver): one headless Debian Chromium per session (driven by PyPI
playwright through executable_path — never `playwright install`), and a console served by
`bollard api` on PostgreSQL or by `bollard dev` on SQLite."""
import os

import pytest

import harness
from devlib import dev_env, start_dev, stop, wait_ready

CHROMIUM = os.environ.get("BOLLARD_CHROMIUM", "/usr/bin/chromium")


# Per module, not per session: Playwright's sync API keeps an asyncio loop running in the main thread
# while it is open, and later suites that call asyncio.run() (tests/mcp's clients) would fail.
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        # --no-sandbox: the tests may run as root (CI containers), where Chromium's sandbox refuses.
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory):
    db = tmp_path_factory.mktemp("console-dev") / "bollard.db"
    b = start_dev(dev_env(db, ACCESS_LOG="false", WEBHOOK_ALLOW_PRIVATE="true"))
    wait_ready(b)
    yield b
    assert stop(b) == 0


@pytest.fixture(scope="module")
def api_server(pg, redis, request):
    name = "console_" + request.module.__name__.split(".")[-1][:40]
    url = pg.new_database(name)
    env = harness.base_env(pg, redis, DATABASE_URL=url, ACCESS_LOG="false", WEBHOOK_ALLOW_PRIVATE="true")
    redis.cli("FLUSHDB")
    b = harness.Bollard.migrated_api(env)
    yield b
    b.stop_clean()


@pytest.fixture(params=["dev", "api"])
def server(request):
    """The console on both back ends: `bollard dev` (SQLite) and `bollard api` (PostgreSQL)."""
    return request.getfixturevalue("dev_server" if request.param == "dev" else "api_server")
