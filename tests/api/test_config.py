"""The environment contract (CONTRACT §3): every problem reported, one line each, exit 78, no secret echoed."""
import os
import tempfile

import pytest

import harness

SECRET = "s3cr3t-value-that-must-never-be-printed-0123456789"
DB_PASSWORD = "pw-never-printed-42"


def valid_env(**over):
    env = harness.base_env(
        SECRET_KEY=SECRET,
        DATABASE_URL=f"postgresql://app:{DB_PASSWORD}@127.0.0.1:1/bollard",
        REDIS_URL=f"redis://:{DB_PASSWORD}@127.0.0.1:1/0",
    )
    for k, v in over.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def assert_no_secret(out):
    text = out.stdout + out.stderr
    assert SECRET not in text
    assert DB_PASSWORD not in text


@pytest.mark.parametrize("var", ["DATABASE_URL", "SECRET_KEY", "REDIS_URL", "ENVIRONMENT", "LOG_LEVEL"])
def test_missing_required_variable_exits_78_naming_it(var):
    out = harness.run(["api"], valid_env(**{var: None}), timeout=10)
    assert out.returncode == 78, out
    lines = [l for l in out.stderr.splitlines() if l.startswith("config: ")]
    assert len(lines) == 1 and var in lines[0], out.stderr
    assert_no_secret(out)


@pytest.mark.parametrize("var,value", [
    ("DATABASE_URL", "mysql://" + DB_PASSWORD + "@db/x"),
    ("DATABASE_URL", "sqlite:/tmp/x.db"),  # only with ENVIRONMENT=dev
    ("SECRET_KEY", "short-" + "x"),
    ("REDIS_URL", "http://" + DB_PASSWORD),
    ("ENVIRONMENT", "prod"),
    ("LOG_LEVEL", "verbose"),
    ("PORT", "70000"),
    ("PORT", "80abc"),
    ("SHUTDOWN_DRAIN_SECONDS", "30"),  # not below SHUTDOWN_TIMEOUT_SECONDS
    ("FRONTEND_URL", "https://app.example.com/path"),
    ("ACCESS_LOG", "maybe"),
    ("TRUSTED_PROXIES", "10.0.0.0/33"),
    ("TRUSTED_PROXIES", "10.0.0.1/8"),  # host bits set: a typo more often than not
    ("TRUSTED_PROXIES", "proxy.internal"),
    ("SIGNUP_LIMIT_PER_HOUR", "-1"),
])
def test_invalid_value_exits_78_naming_the_variable_only(var, value):
    out = harness.run(["api"], valid_env(**{var: value}), timeout=10)
    assert out.returncode == 78, out
    assert var in out.stderr
    assert value not in out.stdout + out.stderr or value.isdigit() or value in ("prod", "verbose", "maybe")
    assert_no_secret(out)


def test_every_problem_reported_in_one_run():
    env = valid_env(DATABASE_URL=None, SECRET_KEY="short", LOG_LEVEL="loud", PORT="0")
    out = harness.run(["api"], env, timeout=10)
    assert out.returncode == 78
    problems = [l for l in out.stderr.splitlines() if l.startswith("config: ")]
    names = " ".join(problems)
    for var in ("DATABASE_URL", "SECRET_KEY", "LOG_LEVEL", "PORT"):
        assert var in names, out.stderr
    assert len(problems) == 4, out.stderr


def test_secret_file_variants_and_alias(pg, redis):
    with tempfile.TemporaryDirectory() as d:
        key = os.path.join(d, "key")
        with open(key, "w") as f:
            f.write(SECRET + "\n")
        url = os.path.join(d, "db")
        with open(url, "w") as f:
            f.write(pg.url)
        env = harness.base_env(pg, redis, SECRET_KEY_FILE=key, DATABASE_URL_FILE=url)
        del env["SECRET_KEY"], env["DATABASE_URL"]
        b = harness.Bollard.api(env)
        assert harness.get(b.url("/health/live"))[0] == 200
        b.signal()
        assert b.wait(15) == 0
        assert SECRET not in b.stdout() + b.stderr()

        # both NAME and NAME_FILE: refused
        env2 = dict(env, SECRET_KEY=SECRET)
        out = harness.run(["api"], env2, timeout=10)
        assert out.returncode == 78 and "SECRET_KEY" in out.stderr
        assert_no_secret(out)

        # an unreadable file: refused, naming the _FILE variable
        env3 = dict(env, SECRET_KEY_FILE=os.path.join(d, "missing"))
        out = harness.run(["api"], env3, timeout=10)
        assert out.returncode == 78 and "SECRET_KEY_FILE" in out.stderr

    # BETTER_AUTH_SECRET is accepted as an alias of SECRET_KEY
    env4 = harness.base_env(pg, redis, BETTER_AUTH_SECRET=SECRET)
    del env4["SECRET_KEY"]
    b = harness.Bollard.api(env4)
    assert harness.get(b.url("/health/live"))[0] == 200
    b.signal()
    assert b.wait(15) == 0


def test_missing_secret_never_listens():
    port = harness.free_port()
    env = valid_env(SECRET_KEY=None, PORT=str(port))
    out = harness.run(["api"], env, timeout=10)
    assert out.returncode == 78
    assert not harness.port_open(port)


def test_help_lists_every_variable_and_version():
    out = harness.run(["--help"], {"PATH": "/usr/bin:/bin"}, timeout=10)
    assert out.returncode == 0
    for var in ("DATABASE_URL", "SECRET_KEY", "REDIS_URL", "ENVIRONMENT", "LOG_LEVEL", "PORT", "API_THREADS",
                "SHUTDOWN_DRAIN_SECONDS", "SHUTDOWN_TIMEOUT_SECONDS", "FRONTEND_URL", "JWT_EXPIRATION_DAYS",
                "WORKER_CONCURRENCY", "MIGRATE_CONNECT_TIMEOUT_SECONDS", "TRUSTED_PROXIES", "SIGNUP_LIMIT_PER_HOUR"):
        assert var in out.stdout, var
    v = harness.run(["--version"], {"PATH": "/usr/bin:/bin"}, timeout=10)
    assert v.returncode == 0 and v.stdout.startswith("bollard ") and "git " in v.stdout


