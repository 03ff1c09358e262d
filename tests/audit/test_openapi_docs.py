"""Audit findings 16 and 17 (/docs): the server accepts what its OpenAPI document says it accepts, and /docs is served with a CSP."""
import re

import requests

from auditlib import account, bearer, signup


def test_nul_in_json_is_422_not_400(api):
    _, token, _ = account(api)
    r = requests.post(api.url("/api/tasks"), data='{"title": "a\\u0000b"}',
                      headers={**bearer(token), "Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"


def test_empty_cursor_is_the_first_page(api):
    _, token, _ = account(api)
    h = bearer(token)
    requests.post(api.url("/api/tasks"), json={"title": "t"}, headers=h, timeout=10)
    r = requests.get(api.url("/api/tasks?cursor="), headers=h, timeout=10)
    assert r.status_code == 200, r.text
    assert len(r.json()["items"]) == 1


def test_openapi_describes_the_server_rules(api):
    doc = requests.get(api.url("/openapi.json"), timeout=10).json()
    # the email rule the server applies is the one the document states (not format: email)
    signup = doc["paths"]["/api/auth/signup"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" in signup:
        name = signup["$ref"].rsplit("/", 1)[-1]
        signup = doc["components"]["schemas"][name]
    email = signup["properties"]["email"]
    if "$ref" in email:
        email = doc["components"]["schemas"][email["$ref"].rsplit("/", 1)[-1]]
    assert "pattern" in email and email.get("maxLength") == 254, email
    assert "format" not in email, "format: email accepts addresses the server refuses, and the reverse"


def test_docs_page_has_csp_and_nosniff(api):
    for path in ["/docs", "/openapi.json"]:
        r = requests.get(api.url(path), timeout=10)
        assert r.status_code == 200
        assert r.headers.get("x-content-type-options") == "nosniff", (path, r.headers)
    r = requests.get(api.url("/docs"), timeout=10)
    csp = r.headers.get("content-security-policy", "")
    assert "default-src 'none'" in csp or "default-src 'self'" in csp, csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp, csp


def test_nul_is_refused_per_field_never_cut_short(api):
    """A password with a NUL must not become the shorter password before it (C strings); nested
    values (webhook events) are checked too. Each is a field error."""
    _, token, _ = account(api)
    r = requests.post(api.url("/api/auth/signup"), data='{"email": "nul@example.com", "password": "12345678\\u0000tail"}',
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["password"], r.text
    r = requests.post(api.url("/api/tasks"), data='{"title": "ok", "description": "a\\u0000"}',
                      headers={**bearer(token), "Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["description"], r.text


def test_email_length_counts_characters_as_the_document_does(api):
    """The document's maxLength counts characters; so does the server (254 'é' are 508 bytes)."""
    email = "é" * 240 + "@example.com"  # 252 characters
    r, _ = signup(api, email=email)
    assert r.status_code == 201, r.text
    r, _ = signup(api, email="é" * 243 + "@example.com")  # 255 characters
    assert r.status_code == 422, r.text


def test_docs_assets_have_csp_and_nosniff(api):
    for path in ["/docs/", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/docs/page.css",
                 "/docs/swagger-initializer.js", "/docs/favicon-32x32.png"]:
        r = requests.get(api.url(path), timeout=10)
        assert r.status_code == 200, path
        assert r.headers.get("x-content-type-options") == "nosniff", path
        csp = r.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp and "unsafe-" not in csp, (path, csp)
    csp = requests.get(api.url("/openapi.json"), timeout=10).headers.get("content-security-policy", "")
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, csp
    # nothing inline left in the page for the policy to block
    html = requests.get(api.url("/docs"), timeout=10).text
    assert " style=" not in html and "<style" not in html
    assert all(tag.startswith("<script src=") for tag in re.findall(r"<script[^>]*>", html)), html
