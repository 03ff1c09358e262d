"""Audit finding 12: IPv6 forms that embed or tunnel to an IPv4 address are judged by that address."""
import pytest
import requests

from auditlib import account, bearer


@pytest.mark.parametrize("host", [
    "[2002:7f00:1::1]",          # 6to4 of 127.0.0.1
    "[2002:a00:1::1]",           # 6to4 of 10.0.0.1
    "[::ffff:0:7f00:1]",         # IPv4-translated 127.0.0.1
    "[::ffff:0:a9fe:a9fe]",      # IPv4-translated 169.254.169.254
    "[2001:0:4136:e378:8000:63bf:3fff:fdd2]",  # Teredo
    "[64:ff9b:1::a00:1]",        # local-use NAT64
])
def test_embedded_ipv4_targets_are_refused(api, host):
    user, token, _ = account(api)
    r = requests.post(api.url(f"/api/{user}/webhooks"), json={"url": f"https://{host}/hook"},
                      headers=bearer(token), timeout=10)
    assert r.status_code == 422, r.text


def test_public_6to4_is_still_allowed(api):
    user, token, _ = account(api)
    r = requests.post(api.url(f"/api/{user}/webhooks"), json={"url": "https://[2002:5db8:d822::1]/hook"},
                      headers=bearer(token), timeout=10)
    assert r.status_code == 201, r.text
