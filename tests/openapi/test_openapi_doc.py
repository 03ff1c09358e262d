"""/openapi.json is a valid OpenAPI 3.1 document, served byte for byte as committed, whose every
operation the server routes; /docs is a page whose every file comes from the same server."""
import os
import re
import subprocess
import sys
import uuid
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
import requests

import harness

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMMITTED_DOCUMENT = os.path.join(REPO, "pkg", "openapi", "openapi.json")
OPERATIONS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def openapi_validate():
    try:
        from openapi_spec_validator import validate
    except ImportError:  # .ci/install-deps installs it; a bare checkout gets it here
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "openapi-spec-validator"], check=False)
        try:
            from openapi_spec_validator import validate
        except ImportError:
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--break-system-packages",
                            "openapi-spec-validator"], check=True)
            from openapi_spec_validator import validate
    return validate


@pytest.fixture(scope="module")
def api(pg, redis):
    b = harness.Bollard.api(harness.base_env(pg, redis))
    yield b
    b.signal()
    assert b.wait(15) == 0
    b.assert_sanitizers_clean()


def test_document_is_valid_openapi_3_1(api):
    r = requests.get(api.url("/openapi.json"), timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    doc = r.json()
    assert doc["openapi"].startswith("3.1.")
    openapi_validate()(doc)  # raises with the offending place on any schema violation
    with open(COMMITTED_DOCUMENT, "rb") as f:
        assert r.content == f.read(), "the binary serves another document than pkg/openapi/openapi.json"


def test_every_documented_operation_is_routed(api):
    """The unit test compares the document with api_routes(); this checks the running server too:
    no documented operation gets the router's own 404 or 405."""
    doc = requests.get(api.url("/openapi.json"), timeout=10).json()
    some_id = str(uuid.uuid4())
    checked = 0
    for template, item in doc["paths"].items():
        if template == "/docs/{file}":
            continue  # an unknown file is a legitimate 404; the page test below covers real ones
        path = re.sub(r"\{[^}]+\}", some_id, template)
        for method in (m for m in item if m in OPERATIONS):
            r = requests.request(method.upper(), api.url(path), timeout=10)
            assert r.status_code != 405, f"{method.upper()} {template}: 405, documented but not routed"
            if r.status_code == 404:
                body = r.json()
                assert body.get("detail") != "no such resource", \
                    f"{method.upper()} {template}: the router has no such route"
            checked += 1
    assert checked >= 20


class _References(HTMLParser):
    """Every URL the page makes the browser load or link to."""

    def __init__(self):
        super().__init__()
        self.loaded = []  # (tag, url): fetched by the browser when the page loads
        self.links = []  # <a href>: followed only on a click

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.loaded.append((tag, a["src"]))
        elif tag == "link" and a.get("href"):
            self.loaded.append((tag, a["href"]))
        elif tag in ("img", "iframe", "source", "embed") and a.get("src"):
            self.loaded.append((tag, a["src"]))
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])


def _assert_same_host(base, ref, where):
    absolute = urljoin(base, ref)
    assert urlsplit(absolute).netloc == urlsplit(base).netloc, f"{where} refers to another host: {ref}"
    return absolute


def test_docs_page_needs_nothing_but_this_server(api):
    page_url = api.url("/docs")
    r = requests.get(page_url, timeout=10)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert requests.get(api.url("/docs/"), timeout=10).text == html
    assert not re.search(r"https?://", html), "the page names an absolute URL"

    refs = _References()
    refs.feed(html)
    kinds = {tag for tag, _ in refs.loaded}
    assert {"script", "link"} <= kinds, refs.loaded
    scripts = []
    for tag, ref in refs.loaded:
        url = _assert_same_host(page_url, ref, "the page")
        got = requests.get(url, timeout=10)
        assert got.status_code == 200, f"{ref}: {got.status_code}"
        ctype = got.headers["content-type"]
        if tag == "script":
            assert ctype.startswith("text/javascript"), (ref, ctype)
            scripts.append((ref, got.text))
        elif ref.endswith(".css"):
            assert ctype.startswith("text/css"), (ref, ctype)
            # Stylesheets may only pull in inline data or files of this server (no web fonts).
            for target in re.findall(r"url\(\s*['\"]?([^'\")]+)", got.text):
                if target.startswith("data:"):
                    continue
                sub = _assert_same_host(url, target, ref)
                assert requests.get(sub, timeout=10).status_code == 200, f"{ref} -> {target}"
            assert "@import" not in got.text, f"{ref} imports another stylesheet"
    for ref in refs.links:
        url = _assert_same_host(page_url, ref, "a link of the page")
        assert requests.get(url, timeout=10).status_code == 200, ref

    # The page's own script points Swagger UI at this server's document and turns off the one
    # request Swagger UI would make elsewhere on its own (the public validator badge).
    own = [text for ref, text in scripts if ref.endswith("/swagger-initializer.js")]
    assert len(own) == 1, [ref for ref, _ in scripts]
    assert not re.search(r"https?://", own[0])
    assert 'url: "/openapi.json"' in own[0]
    assert "validatorUrl: null" in own[0]
    bundle = [text for ref, text in scripts if ref.endswith("/swagger-ui-bundle.js")]
    assert len(bundle) == 1 and "SwaggerUIBundle" in bundle[0]


def test_unknown_docs_file_is_404(api):
    for path in ("/docs/nope.js", "/docs/swagger-ui-bundle.js.map", "/docs/.env", "/docs/index.html/x"):
        r = requests.get(api.url(path), timeout=10)
        assert r.status_code == 404, path
        assert r.headers["content-type"] == "application/problem+json"
