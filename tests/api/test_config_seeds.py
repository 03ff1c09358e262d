"""The seed stack's spellings of the environment contract (issue 19 item 2), and help that needs no
configuration (item 1). Everything here runs `bollard check` (or `--help`) against an unreachable
database: exit 1 means the configuration was accepted, 78 that it was refused."""
import json

import pytest

import harness

SECRET = "s3cr3t-value-that-must-never-be-printed-0123456789"
DB_PASSWORD = "pw-never-printed-42"
ROLES = ["api", "worker", "migrate", "check", "dev"]


def env_for(**over):
    env = harness.base_env(
        SECRET_KEY=SECRET,
        DATABASE_URL=f"postgresql://app:{DB_PASSWORD}@127.0.0.1:1/bollard",
        REDIS_URL="redis://127.0.0.1:1/0",
        DB_CONNECT_TIMEOUT_MS="500",
    )
    for k, v in over.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def check(**over):
    out = harness.run(["check"], env_for(**over), timeout=20)
    text = out.stdout + out.stderr
    assert SECRET not in text and DB_PASSWORD not in text, text
    return out


def config_lines(out):
    return [l for l in out.stderr.splitlines() if l.startswith("config: ")]


def normalisations(out):
    lines = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
    return [l for l in lines if l.get("msg") == "configuration value read in its canonical spelling"]


# ---- item 1: help and usage before any configuration

@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_role_help_needs_no_environment(role, flag):
    out = harness.run([role, flag], {"PATH": "/usr/bin:/bin"}, timeout=10)
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert out.stdout.startswith(f"usage: bollard {role}"), out.stdout
    assert "config:" not in out.stderr, out.stderr


@pytest.mark.parametrize("args", [[r, "--no-such-option"] for r in ROLES] + [["migrate", "sideways"], ["nope"]])
def test_unknown_subcommand_or_option_is_a_usage_error_without_environment(args):
    out = harness.run(args, {"PATH": "/usr/bin:/bin"}, timeout=10)
    assert out.returncode == 64, (out.stdout, out.stderr)
    assert "usage: bollard" in out.stderr
    assert "config:" not in out.stderr


def test_migrate_subcommand_help_needs_no_environment():
    out = harness.run(["migrate", "status", "--help"], {"PATH": "/usr/bin:/bin"}, timeout=10)
    assert out.returncode == 0 and "usage: bollard migrate" in out.stdout


# ---- item 2: the seeds' spellings

@pytest.mark.parametrize("given,canonical", [("development", "dev"), ("Development", "dev"), ("PRODUCTION", "production")])
def test_environment_aliases_are_read_and_logged_once(given, canonical):
    out = check(ENVIRONMENT=given)
    assert out.returncode == 1, out.stderr  # accepted; the database is unreachable
    notes = normalisations(out)
    assert [(n["variable"], n["given"], n["value"]) for n in notes] == [("ENVIRONMENT", given, canonical)]


@pytest.mark.parametrize("given,canonical", [("WARNING", "warn"), ("warning", "warn"), ("critical", "error"),
                                             ("Info", "info"), ("DEBUG", "debug")])
def test_log_level_is_case_insensitive_with_python_names(given, canonical):
    out = check(LOG_LEVEL=given)
    assert out.returncode == 1, out.stderr
    notes = normalisations(out)
    assert [(n["variable"], n["value"]) for n in notes] == [("LOG_LEVEL", canonical)], out.stdout


def test_canonical_spellings_log_nothing():
    out = check(ENVIRONMENT="staging", LOG_LEVEL="info")
    assert out.returncode == 1 and normalisations(out) == []


@pytest.mark.parametrize("var,given,suggestion", [
    ("ENVIRONMENT", "prod", "production"),
    ("ENVIRONMENT", "prodution", "production"),
    ("ENVIRONMENT", "stagin", "staging"),
    ("ENVIRONMENT", "stage", "staging"),
    ("LOG_LEVEL", "debg", "debug"),
    ("LOG_LEVEL", "wrn", "warn"),
])
def test_near_misses_get_a_suggestion(var, given, suggestion):
    out = check(**{var: given})
    assert out.returncode == 78
    lines = config_lines(out)
    assert len(lines) == 1 and lines[0].startswith(f"config: {var}:"), out.stderr
    assert f"did you mean {suggestion}?" in lines[0], lines[0]


def test_far_misses_get_no_suggestion():
    out = check(ENVIRONMENT="kubernetes")
    assert out.returncode == 78 and "did you mean" not in out.stderr


def test_secret_given_through_the_alias_is_named_as_set():
    out = check(SECRET_KEY=None, BETTER_AUTH_SECRET="too-short")
    assert out.returncode == 78
    lines = config_lines(out)
    assert len(lines) == 1 and lines[0].startswith("config: BETTER_AUTH_SECRET:"), lines
    assert "too-short" not in out.stderr


def test_secret_file_given_through_the_alias_is_named_as_set(tmp_path):
    f = tmp_path / "secret"
    f.write_text("short\n")
    out = check(SECRET_KEY=None, BETTER_AUTH_SECRET_FILE=str(f))
    assert out.returncode == 78
    assert config_lines(out)[0].startswith("config: BETTER_AUTH_SECRET_FILE:"), out.stderr


def test_ssl_require_gets_the_sslmode_hint():
    out = check(DATABASE_URL=f"postgresql://app:{DB_PASSWORD}@127.0.0.1:1/bollard?ssl=require")
    assert out.returncode == 78
    lines = config_lines(out)
    assert len(lines) == 1 and "DATABASE_URL" in lines[0] and "sslmode=require" in lines[0], lines
    # sslmode itself is libpq's and passes
    ok = check(DATABASE_URL=f"postgresql://app:{DB_PASSWORD}@127.0.0.1:1/bollard?sslmode=disable")
    assert ok.returncode == 1, ok.stderr


def test_jwt_algorithm_hs256_is_accepted():
    out = check(JWT_ALGORITHM="HS256")
    assert out.returncode == 1 and "JWT_ALGORITHM" not in out.stderr, out.stderr


@pytest.mark.parametrize("alg", ["RS256", "HS512", "none", "hs256"])
def test_other_jwt_algorithms_exit_78_saying_what_is_supported(alg):
    out = check(JWT_ALGORITHM=alg)
    assert out.returncode == 78
    lines = config_lines(out)
    assert len(lines) == 1 and lines[0].startswith("config: JWT_ALGORITHM:") and "HS256" in lines[0], lines


def test_help_lists_the_new_variables():
    out = harness.run(["--help"], {"PATH": "/usr/bin:/bin"}, timeout=10)
    for var in ("JWT_ALGORITHM", "MIGRATE_STATUS_CONNECT_TIMEOUT_SECONDS"):
        assert var in out.stdout
