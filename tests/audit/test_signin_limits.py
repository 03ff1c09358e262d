"""Audit findings 2, 3, 4 and 17 (sign-up): sign-in limits are counted before the password is
checked, once per account whatever the spelling of its email, per client address only from trusted
proxies' headers, and a stranger cannot lock the owner out."""
from concurrent.futures import ThreadPoolExecutor

import pytest

import harness
from auditlib import PASSWORD, account, signin, signup, start_api, stop_api

ACCOUNT_LIMIT = 5  # failed sign-ins per (account, client address) before 429
CLIENT_LIMIT = 50  # failed sign-ins per client address before 429


def test_concurrent_guesses_are_counted_before_the_password_is_checked(api, redis):
    """Finding 2: 30 simultaneous sign-ins, 29 wrong and 1 right: at most the limit are checked."""
    _, _, email = account(api)
    passwords = ["wrong password %d" % i for i in range(29)] + [PASSWORD]
    with ThreadPoolExecutor(30) as pool:
        codes = list(pool.map(lambda pw: signin(api, email, pw).status_code, passwords))
    checked = [c for c in codes if c != 429]
    assert len(checked) <= ACCOUNT_LIMIT, codes
    assert set(checked) <= {200, 401}, codes


def test_concurrent_guesses_per_address_are_bounded(api, redis):
    """Finding 2: 150 simultaneous wrong guesses for random accounts from one address: at most the
    per-address limit reach the password check."""
    redis.cli("FLUSHDB")
    with ThreadPoolExecutor(50) as pool:
        codes = list(pool.map(lambda i: signin(api, f"nobody-{i}@example.com", "wrong password").status_code,
                              range(150)))
    assert sum(1 for c in codes if c != 429) <= CLIENT_LIMIT, codes
    redis.cli("FLUSHDB")


@pytest.mark.parametrize("variant", ["\u212aate", "KATE", "Kate"])
def test_case_variants_share_one_allowance(api, redis, variant):
    """Finding 3: K (U+212A KELVIN SIGN) folds to k in the database; the limiter counts the account,
    so a variant spelling gets no fresh guesses."""
    redis.cli("FLUSHDB")
    domain = f"@{harness.free_port()}.example.com"
    r, _ = signup(api, email="kate" + domain)
    assert r.status_code == 201, r.text
    for _ in range(ACCOUNT_LIMIT):
        assert signin(api, "kate" + domain, "wrong password").status_code == 401
    assert signin(api, "kate" + domain, "wrong password").status_code == 429
    assert signin(api, variant + domain, "wrong password").status_code == 429
    assert signin(api, variant + domain, PASSWORD).status_code == 429
    # and it is one account: the variant cannot sign up a second one
    r, _ = signup(api, email=variant + domain)
    assert r.status_code == 409, r.text
    redis.cli("FLUSHDB")


@pytest.fixture(scope="module")
def proxied(pg, redis):
    redis.cli("FLUSHDB")
    b = start_api(pg, redis, "proxied", TRUSTED_PROXIES="127.0.0.0/8, ::1/128")
    yield b
    stop_api(b)


def xff(addr):
    return {"X-Forwarded-For": f"{addr}"}


def test_one_client_behind_a_proxy_does_not_lock_out_everyone(proxied, redis):
    """Finding 4: behind a trusted proxy the address comes from X-Forwarded-For."""
    redis.cli("FLUSHDB")
    _, _, email = account(proxied)
    for i in range(CLIENT_LIMIT):
        assert signin(proxied, f"random-{i}@example.com", "wrong password",
                      headers=xff("203.0.113.7")).status_code == 401
    assert signin(proxied, "random-x@example.com", "wrong password", headers=xff("203.0.113.7")).status_code == 429
    # a different client behind the same proxy is not affected
    assert signin(proxied, email, PASSWORD, headers=xff("198.51.100.9")).status_code == 200
    # the proxy appends the peer it saw; a client-forged left-most entry does not help
    r = signin(proxied, "random-y@example.com", "wrong password", headers=xff("10.9.9.9, 203.0.113.7"))
    assert r.status_code == 429
    # RFC 7239 Forwarded is understood too
    r = signin(proxied, "random-z@example.com", "wrong password", headers={"Forwarded": 'for="203.0.113.7"'})
    assert r.status_code == 429
    redis.cli("FLUSHDB")


def test_a_stranger_cannot_lock_the_owner_out(proxied, redis):
    """Finding 4: 5 wrong guesses from one address lock that address out of the account, not the
    owner signing in from elsewhere."""
    redis.cli("FLUSHDB")
    _, _, email = account(proxied)
    for _ in range(ACCOUNT_LIMIT):
        assert signin(proxied, email, "wrong password", headers=xff("203.0.113.50")).status_code == 401
    assert signin(proxied, email, PASSWORD, headers=xff("203.0.113.50")).status_code == 429
    assert signin(proxied, email, PASSWORD, headers=xff("198.51.100.20")).status_code == 200
    redis.cli("FLUSHDB")


def test_forwarded_headers_are_ignored_without_trusted_proxies(api, redis):
    """Without TRUSTED_PROXIES a client cannot pick its own address."""
    redis.cli("FLUSHDB")
    for i in range(CLIENT_LIMIT):
        r = signin(api, f"spoof-{i}@example.com", "wrong password", headers=xff(f"198.51.100.{i}"))
        assert r.status_code == 401
    r = signin(api, "spoof-x@example.com", "wrong password", headers=xff("198.51.100.200"))
    assert r.status_code == 429
    redis.cli("FLUSHDB")


@pytest.fixture(scope="module")
def signup_limited(pg, redis):
    redis.cli("FLUSHDB")
    b = start_api(pg, redis, "signup_limited", SIGNUP_LIMIT_PER_HOUR="10")
    yield b
    stop_api(b)


def test_signups_per_address_are_limited(signup_limited, redis):
    """Finding 17: sign-ups are limited per client address (SIGNUP_LIMIT_PER_HOUR)."""
    codes = [signup(signup_limited)[0].status_code for _ in range(12)]
    assert codes[:10] == [201] * 10, codes
    r, _ = signup(signup_limited)
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 3600
    assert r.headers["content-type"] == "application/problem+json"
    redis.cli("FLUSHDB")
