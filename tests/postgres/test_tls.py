"""TLS to PostgreSQL: a server the harness starts with ssl=on and a certificate for localhost from a
test CA it makes with openssl (in a temp dir). sslmode=require and verify-full (sslrootcert) work for
the API (whose pool resolves the host name off the loop and connects by hostaddr, keeping `host` for
the certificate check), migrate and `bollard check`; a wrong CA is named by readiness
(503, the database check, the TLS reason) and by `bollard check`."""
import json
import os
import tempfile

import pytest

import harness
from taskclient import signup


@pytest.fixture(scope="module")
def tls_pg():
    server = harness.Postgres(tls=True)
    yield server
    server.destroy()


def url(server, db, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"postgresql://postgres@localhost:{server.port}/{db}?{query}"


def ready(b):
    status, _, body = harness.get(b.url("/health/ready"))
    return status, json.loads(body)


@pytest.mark.parametrize("mode", ["require", "verify-full"])
def test_api_migrate_check_over_tls(tls_pg, redis, mode):
    db = "tls_" + mode.replace("-", "_")
    tls_pg.new_database(db)
    params = {"sslmode": mode}
    if mode == "verify-full":
        params["sslrootcert"] = tls_pg.ca
    env = harness.base_env(tls_pg, redis, DATABASE_URL=url(tls_pg, db, **params), ACCESS_LOG="false")
    out = harness.run(["migrate"], env, timeout=60)
    assert out.returncode == 0, out.stderr
    out = harness.run(["check"], env, timeout=30)
    assert out.returncode == 0, out.stderr
    b = harness.Bollard.api(env)
    try:
        harness.wait_until(lambda: ready(b)[0] == 200, timeout=15, what="ready over TLS")
        client, _ = signup(b.url(""))
        assert client.post("/api/tasks", {"title": "over tls"}).status_code == 201
        # every connection of the API is encrypted (the server's view)
        assert tls_pg.psql(f"SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
                           f"WHERE a.datname = '{db}' AND a.application_name = 'bollard'", db="postgres") == "t"
        b.signal()
        assert b.wait(20) == 0
        b.assert_sanitizers_clean()
    finally:
        b.stop()


def test_wrong_ca_is_named_by_readiness_and_check(tls_pg, redis):
    db = "tls_wrong_ca"
    tls_pg.new_database(db)
    other = tempfile.mkdtemp(prefix="bollard-other-ca-")
    wrong_ca = harness.make_test_ca(other, "other")
    env = harness.base_env(tls_pg, redis, DATABASE_URL=url(tls_pg, db, sslmode="verify-full", sslrootcert=wrong_ca),
                           ACCESS_LOG="false")
    out = harness.run(["check"], env, timeout=30)
    assert out.returncode == 1
    assert "database: not reachable:" in out.stderr and "certificate verify failed" in out.stderr, out.stderr
    b = harness.Bollard.api(env)
    try:
        def named():
            status, body = ready(b)
            reason = body["checks"]["database"].get("reason", "")
            return status == 503 and "certificate verify failed" in reason and body or None
        body = harness.wait_until(named, timeout=15, what="readiness naming the certificate failure")
        assert body["checks"]["database"]["ok"] is False
        assert body["checks"]["redis"]["ok"] is True
    finally:
        b.stop()


def test_verify_full_checks_the_host_name_not_the_address(tls_pg, redis):
    """The certificate is for localhost and 127.0.0.1. With hostaddr given, libpq connects to the
    address and verifies the certificate against `host` (as the pool does after resolving a name off
    the loop): a host name the certificate does not carry is refused, and readiness says so."""
    env = harness.base_env(tls_pg, redis, DATABASE_URL=f"postgresql://postgres@bollard-elsewhere.invalid:{tls_pg.port}"
                           f"/postgres?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={tls_pg.ca}",
                           ACCESS_LOG="false")
    out = harness.run(["check"], env, timeout=30)
    assert out.returncode == 1 and "does not match host name" in out.stderr, out.stderr
    b = harness.Bollard.api(env)
    try:
        def named():
            status, body = ready(b)
            reason = body["checks"]["database"].get("reason", "")
            return status == 503 and "does not match host name" in reason
        harness.wait_until(named, timeout=15, what="readiness naming the host name mismatch")
    finally:
        b.stop()
