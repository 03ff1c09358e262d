"""Helpers of the console tests: a page that fails the test on any console error, uncaught
exception or CSP violation; axe-core injected into a screen; screenshots kept as test output."""
import os
import re
import uuid

import requests

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AXE_JS = os.path.join(REPO, "build", "tools", "axe-core", "axe.min.js")
OUTPUT = os.path.join(os.environ.get("BOLLARD_BUILD", os.path.join(REPO, "build", "asan")), "test-output",
                      "console")
PASSWORD = "correct horse battery"

# Reported by the page itself before any of its scripts run: Chromium also logs a violation as a
# console error, but the event names the directive even when the console message changes.
WATCH_CSP = """document.addEventListener('securitypolicyviolation', function (e) {
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI);
});"""

_FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")


class Watched:
    """A page whose console errors, uncaught exceptions and CSP violations are collected;
    check() fails the test on any except failed loads with a status the test expects."""

    def __init__(self, context, base):
        self.base = base
        self.page = context.new_page()
        self.errors = []
        self.page.add_init_script(WATCH_CSP)
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def check(self, allowed_statuses=()):
        bad = []
        for text in self.errors:
            m = _FAILED_LOAD.search(text)
            if m and int(m.group(1)) in allowed_statuses:
                continue
            bad.append(text)
        assert not bad, f"console errors on the page: {bad}"


def new_context(browser, **kw):
    return browser.new_context(viewport=kw.pop("viewport", {"width": 1100, "height": 900}), **kw)


def axe_check(page, screen):
    """No serious or critical axe-core violation on what the page shows now."""
    with open(AXE_JS, encoding="utf-8") as f:
        source = f.read()
    # Evaluated over the DevTools protocol rather than added as a <script>: the console's CSP
    # (rightly) refuses inline scripts, and this way the policy stays exactly as served.
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate("() => { " + source + "\n}")
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(source + "\n;0")
    violations = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.slice(0, 5).map(n => n.target.join(' '))}));
    }""")
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, f"axe-core on the {screen} screen: {bad}"
    return violations


def screenshot(page, name, full_page=True):
    os.makedirs(OUTPUT, exist_ok=True)
    path = os.path.join(OUTPUT, name + ".png")
    page.screenshot(path=path, full_page=full_page)
    return path


def new_email():
    return f"console-{uuid.uuid4().hex[:12]}@example.com"


def api_signup(base, email=None):
    email = email or new_email()
    r = requests.post(base + "/api/auth/signup", json={"email": email, "password": PASSWORD}, timeout=30)
    assert r.status_code == 201, r.text
    return email, r.json()


def sign_in(w, email):
    page = w.page
    page.goto(w.base + "/")
    page.fill("#auth-email", email)
    page.fill("#auth-password", PASSWORD)
    page.click("#auth-submit")
    page.wait_for_selector("#view-tasks:not([hidden])")
    wait_tasks(page)


def wait_tasks(page):
    """Until the task list has finished its latest load."""
    page.wait_for_selector("#task-list[data-state=ready]", state="attached")


def token_of(page):
    return page.evaluate("JSON.parse(sessionStorage.getItem('bollard.session')).token")
