"""Redis over TLS (rediss://) for every role: `bollard api` (readiness, the per-loop connections),
`bollard worker` (relay and deliverer connections) and `bollard check`, against a real TLS-only
redis-server. The server's certificate is verified against REDIS_TLS_CA_FILE (a CA the harness makes)
and its name or address checked; a wrong CA, a name the certificate does not carry, a missing client
certificate and a wrong ACL password are refused and named by readiness and by `bollard check`; a
restarted server with a new certificate is reconnected to by itself."""
import json
import tempfile
import time

import pytest

import harness
import workerlib
from tlsacl import ACL_PASSWORD, ACL_USER


def env_for(pg, db_url, redis, **extra):
    env = harness.base_env(pg, redis, ACCESS_LOG="false", **({"DATABASE_URL": db_url} if db_url else {}))
    env.update({k: str(v) for k, v in extra.items()})
    return env


def ready(b):
    status, _, body = harness.get(b.url("/health/ready"))
    return status, json.loads(body)


def redis_reason(b):
    status, body = ready(b)
    return status, body["checks"]["redis"].get("reason", "")


def tls_url(server, host="localhost", user=ACL_USER, password=ACL_PASSWORD):
    cred = f"{user}:{password}@" if password is not None else ""
    return f"rediss://{cred}{host}:{server.port}/0"


def check(env):
    return harness.run(["check"], env, timeout=30)


def named(b, text, timeout=15):
    def seen():
        status, reason = redis_reason(b)
        return status == 503 and text in reason and reason
    return harness.wait_until(seen, timeout=timeout, what=f"readiness naming {text!r}")


def deliver_one(stack, receiver, name):
    """A task created through the API reaches the receiver as a signed webhook."""
    user, s = stack.signup()
    hook = stack.register(user, s, receiver.url(name))
    receiver.secrets[name] = hook["secret"]
    before = stack.outbox_events("task.created")
    stack.create_tasks(user, s, 1)
    events = stack.outbox_events("task.created") - before
    harness.wait_until(lambda: events and events <= receiver.delivered(name), timeout=30,
                       what=f"the webhook at {name} through TLS Redis")
    assert all(r["sig_ok"] for r in receiver.snapshot())


def test_api_worker_and_check_over_tls_then_a_new_server_certificate(pg, tls_redis, receiver):
    stack = workerlib.Stack(pg, "redis_tls", redis=tls_redis, REDIS_URL=tls_url(tls_redis),
                            REDIS_TLS_CA_FILE=tls_redis.ca)
    try:
        out = check(stack.env)
        assert out.returncode == 0, out.stderr
        assert "redis" in out.stdout
        harness.wait_until(lambda: ready(stack.api)[0] == 200, timeout=15, what="ready over TLS")
        w = stack.worker("tls-1")
        deliver_one(stack, receiver, "a")
        assert ACL_PASSWORD not in w.stdout() + w.stderr() + stack.api.stdout() + stack.api.stderr()

        # The server's certificate is replaced (same CA) and Redis restarted: both roles reconnect.
        tls_redis.stop()
        named(stack.api, "not connected")
        tls_redis.renew_certificate("server2")
        tls_redis.start()
        assert tls_redis.cli("ACL", "SETUSER", ACL_USER, "on", ">" + ACL_PASSWORD, "~*", "&*", "+@all") == "OK"
        harness.wait_until(lambda: ready(stack.api)[0] == 200, timeout=20, what="ready again after the restart")
        deliver_one(stack, receiver, "b")
        assert w.proc.poll() is None
        workerlib.stop_worker(w)
    finally:
        stack.stop()


def test_ip_address_and_host_name_are_checked(pg, db_url, tls_redis):
    """The certificate names localhost and 127.0.0.1: both work; a name it does not carry (the same
    server, reached through an alias in the URL) is refused as a mismatch."""
    env = env_for(pg, db_url, tls_redis, REDIS_URL=tls_url(tls_redis, host="127.0.0.1"),
                           REDIS_TLS_CA_FILE=tls_redis.ca)
    out = check(env)
    assert out.returncode == 0, out.stderr
    other = harness.Redis(tls=True)
    try:
        # a certificate from `other`'s CA for another name only (and 127.0.0.1): localhost mismatches
        other.cert, other.key = harness.make_server_cert(other.tls_dir, other.ca, name="elsewhere",
                                                          dns="elsewhere.invalid")
        other.stop()
        other.start()
        env = env_for(pg, db_url, other, REDIS_URL=f"rediss://localhost:{other.port}/0",
                               REDIS_TLS_CA_FILE=other.ca)
        out = check(env)
        assert out.returncode == 1 and "certificate verify failed: hostname mismatch" in out.stderr, out.stderr
        b = harness.Bollard.api(env)
        try:
            named(b, "certificate verify failed: hostname mismatch")
        finally:
            b.stop()
    finally:
        other.destroy()


def test_wrong_ca_is_refused_and_named(pg, db_url, tls_redis):
    wrong_ca = harness.make_test_ca(tempfile.mkdtemp(prefix="bollard-other-ca-"), "other")
    stack_env = dict(REDIS_URL=tls_url(tls_redis), REDIS_TLS_CA_FILE=wrong_ca)
    env = env_for(pg, db_url, tls_redis, **stack_env)
    out = check(env)
    assert out.returncode == 1
    assert "redis: TLS handshake with localhost" in out.stderr and "certificate verify failed" in out.stderr, out.stderr
    assert ACL_PASSWORD not in out.stderr
    b = harness.Bollard.api(env)
    try:
        named(b, "TLS handshake failed: certificate verify failed")
        assert ready(b)[1]["checks"]["database"]["ok"] is True
    finally:
        b.stop()
    # The worker names it in its log and keeps trying (it stays up; its heartbeat says Redis is down).
    tmp = tempfile.mkdtemp(prefix="bollard-worker-tls-")
    w = workerlib.start_worker(env, tmp, "tls-wrong-ca")
    try:
        def logged():
            return sum("certificate verify failed" in line for line in w.stdout().splitlines()) >= 1
        harness.wait_until(logged, timeout=20, what="the worker naming the certificate failure")
        time.sleep(2)
        assert w.proc.poll() is None, w.stderr()
        assert ACL_PASSWORD not in w.stdout() + w.stderr()
    finally:
        workerlib.stop_worker(w)


def test_acl_user_and_wrong_password(pg, db_url, tls_redis):
    env = env_for(pg, db_url, tls_redis, REDIS_URL=tls_url(tls_redis, password="not-the-password"),
                           REDIS_TLS_CA_FILE=tls_redis.ca)
    out = check(env)
    assert out.returncode == 1 and "AUTH refused: WRONGPASS" in out.stderr, out.stderr
    assert "not-the-password" not in out.stderr
    b = harness.Bollard.api(env)
    try:
        named(b, "AUTH refused: WRONGPASS")
        assert "not-the-password" not in b.stdout() + b.stderr()
    finally:
        b.stop()
    # the user and its password over plain TCP too (same code path, no handshake)
    plain = harness.Redis()
    try:
        assert plain.cli("ACL", "SETUSER", ACL_USER, "on", ">" + ACL_PASSWORD, "~*", "&*", "+@all") == "OK"
        assert plain.cli("ACL", "SETUSER", "default", "off") == "OK"
        env = env_for(pg, db_url, plain, REDIS_URL=f"redis://{ACL_USER}:{ACL_PASSWORD}@127.0.0.1:{plain.port}/2")
        out = check(env)
        assert out.returncode == 0, out.stderr
        b = harness.Bollard.api(env)
        try:
            harness.wait_until(lambda: ready(b)[0] == 200, timeout=15, what="ready with an ACL user")
        finally:
            b.stop()
    finally:
        plain.destroy()


def test_mutual_tls(pg, db_url):
    server = harness.Redis(tls=True, auth_clients="yes")
    try:
        base = dict(REDIS_URL=f"rediss://localhost:{server.port}/0", REDIS_TLS_CA_FILE=server.ca)
        without = env_for(pg, db_url, server, **base)
        out = check(without)
        assert out.returncode == 1 and "certificate" in out.stderr, out.stderr
        b = harness.Bollard.api(without)
        try:
            named(b, "certificate")
        finally:
            b.stop()
        env = env_for(pg, db_url, server, REDIS_TLS_CERT_FILE=server.client_cert,
                               REDIS_TLS_KEY_FILE=server.client_key, **base)
        out = check(env)
        assert out.returncode == 0, out.stderr
        b = harness.Bollard.api(env)
        try:
            harness.wait_until(lambda: ready(b)[0] == 200, timeout=15, what="ready with a client certificate")
            b.stop_clean()
        finally:
            b.stop()
    finally:
        server.destroy()


@pytest.mark.parametrize("extra, environment, variable", [
    ({"REDIS_TLS_INSECURE_SKIP_VERIFY": "true"}, "staging", "REDIS_TLS_INSECURE_SKIP_VERIFY"),
    ({"REDIS_TLS_INSECURE_SKIP_VERIFY": "true"}, "production", "REDIS_TLS_INSECURE_SKIP_VERIFY"),
    ({"REDIS_TLS_CERT_FILE": "/etc/hosts"}, "staging", "REDIS_TLS_KEY_FILE"),
    ({"REDIS_TLS_CA_FILE": "/nonexistent/ca.crt"}, "staging", "REDIS_TLS_CA_FILE"),
    ({"REDIS_URL": "redis://127.0.0.1:1/0", "REDIS_TLS_CA_FILE": "/etc/hosts"}, "staging", "REDIS_TLS_CA_FILE"),
])
def test_configuration_refused(tls_redis, extra, environment, variable):
    env = env_for(None, None, tls_redis, **{"ENVIRONMENT": environment, "REDIS_URL": tls_url(tls_redis), **extra})
    for role in (["check"], ["api"], ["worker"]):
        out = harness.run(role, env, timeout=30)
        assert out.returncode == 78, (role, out.stderr)
        assert variable in out.stderr, (role, out.stderr)
        assert ACL_PASSWORD not in out.stderr


def test_skip_verify_in_dev_only(pg, db_url, tls_redis):
    wrong_ca = harness.make_test_ca(tempfile.mkdtemp(prefix="bollard-other-ca-"), "other")
    env = env_for(pg, db_url, tls_redis, ENVIRONMENT="dev", REDIS_URL=tls_url(tls_redis),
                           REDIS_TLS_CA_FILE=wrong_ca, REDIS_TLS_INSECURE_SKIP_VERIFY="true")
    out = check(env)
    assert out.returncode == 0, out.stderr
