"""The web console at / in a real Chromium: the whole journey on `bollard api` (PostgreSQL) and
`bollard dev` (SQLite), a conflicting edit, keyboard-only use, axe-core on every screen, the
assistant panel's states, and the HTTP contract of the embedded files (CSP, caching, gzip,
CONSOLE_ENABLED). Any console error, uncaught exception or CSP violation fails a test."""
import gzip
import json
import re

import pytest
import requests

import harness
from consolelib import (PASSWORD, Watched, api_signup, axe_check, new_context, new_email, screenshot, sign_in,
                        token_of, wait_tasks)
from devlib import dev_env, start_dev, stop, wait_ready
from fakellm import FakeProvider, Step, stream_chunks


def task_titles(page):
    return page.eval_on_selector_all("#task-list li .title", "els => els.map(e => e.textContent)")


def row(page, title):
    return page.locator("#task-list li", has=page.locator(".title", has_text=re.compile("^" + re.escape(title) + "$")))


def test_journey(browser, server, receiver):
    """Sign up, sign in, create, edit, complete, filter, load more, delete, webhook register/delete."""
    base = server.url("")
    ctx = new_context(browser)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    w = Watched(ctx, base)
    page = w.page
    page.goto(base + "/")
    page.wait_for_selector("#view-auth:not([hidden])")
    page.wait_for_selector("#status.good")
    assert "ready" in page.inner_text("#status")
    axe_check(page, "sign-in")

    # Sign up; a bad password is refused with the server's field errors, readable.
    email = new_email()
    page.click("#auth-switch")
    assert page.inner_text("#auth-title") == "Create an account"
    page.fill("#auth-email", email)
    page.fill("#auth-password", "short")
    page.click("#auth-submit")
    page.wait_for_selector("#auth-error:not([hidden])")
    err = page.inner_text("#auth-error")
    assert "password" in err and "{" not in err, err
    axe_check(page, "sign-up")
    page.fill("#auth-password", PASSWORD)
    page.click("#auth-submit")
    page.wait_for_selector("#view-tasks:not([hidden])")
    wait_tasks(page)
    assert page.inner_text("#who-email") == email
    # The token is kept in this tab's sessionStorage, never in the URL.
    token = token_of(page)
    assert token and token not in page.url

    # Sign out, then sign in again.
    page.click("#signout")
    page.wait_for_selector("#view-auth:not([hidden])")
    assert page.evaluate("sessionStorage.getItem('bollard.session')") is None
    page.fill("#auth-email", email)
    page.fill("#auth-password", "wrong password")
    page.click("#auth-submit")
    page.wait_for_selector("#auth-error:not([hidden])")
    assert "{" not in page.inner_text("#auth-error")
    page.fill("#auth-password", PASSWORD)
    page.click("#auth-submit")
    page.wait_for_selector("#view-tasks:not([hidden])")
    wait_tasks(page)
    token = token_of(page)

    # Create, with a due date typed in the browser's local time and shown back in its locale.
    page.fill("#new-title", "Renew the certificate")
    page.fill("#new-description", "before it expires")
    page.fill("#new-due", "2031-03-04T09:30")
    page.click("#new-submit")
    row(page, "Renew the certificate").wait_for()
    meta = row(page, "Renew the certificate").locator(".meta").inner_text()
    expected = page.evaluate("""() => new Intl.DateTimeFormat(undefined, {year: 'numeric', month: 'short',
        day: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short'}).format(new Date('2031-03-04T09:30'))""")
    assert expected in meta, (expected, meta)
    api_task = requests.get(base + "/api/tasks", headers={"Authorization": f"Bearer {token}"}, timeout=10).json()
    due = api_task["items"][0]["due_at"]
    assert page.evaluate(f"new Date({json.dumps(due)}).getTime() === new Date('2031-03-04T09:30').getTime()")

    # An empty title is refused in the page; a too-long one by the server, as a readable message.
    page.evaluate("document.getElementById('new-title').removeAttribute('maxlength')")
    page.fill("#new-title", "x" * 201)
    page.click("#new-submit")
    page.wait_for_selector("#task-form-error:not([hidden])")
    msg = page.inner_text("#task-form-error")
    assert "title" in msg and "{" not in msg, msg

    # Edit (If-Match behind the scenes).
    page.fill("#new-title", "")
    r = row(page, "Renew the certificate")
    r.locator(".edit-btn").click()
    page.wait_for_selector("#task-list form.edit")
    axe_check(page, "task editor")
    page.locator("#task-list form.edit input[id$='-title']").fill("Renew the TLS certificate")
    page.locator("#task-list form.edit button[type=submit]").click()
    row(page, "Renew the TLS certificate").wait_for()
    assert "Renew the certificate" not in task_titles(page)

    # Complete.
    row(page, "Renew the TLS certificate").locator(".check").check()
    page.wait_for_selector("#task-list li.done")
    assert "Completed" in row(page, "Renew the TLS certificate").locator(".meta").inner_text()

    # Filter by completion.
    page.fill("#new-title", "Water the plants")
    page.click("#new-submit")
    row(page, "Water the plants").wait_for()
    page.check("input[name=filter][value=open]")
    wait_tasks(page)
    page.wait_for_function("() => document.querySelectorAll('#task-list li').length === 1")
    assert task_titles(page) == ["Water the plants"]
    page.check("input[name=filter][value=done]")
    wait_tasks(page)
    page.wait_for_function("() => document.querySelectorAll('#task-list li').length === 1")
    assert task_titles(page) == ["Renew the TLS certificate"]
    page.check("input[name=filter][value=all]")
    wait_tasks(page)
    page.wait_for_function("() => document.querySelectorAll('#task-list li').length === 2")
    screenshot(page, f"tasks-{'dev' if 'dev' in server.args else 'api'}", full_page=False)

    # Load more over the cursor: 23 more tasks make 25, two pages of 20.
    for i in range(23):
        resp = requests.post(base + "/api/tasks", json={"title": f"Bulk {i:02d}"},
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert resp.status_code == 201, resp.text
    page.check("input[name=filter][value=open]")
    wait_tasks(page)
    page.check("input[name=filter][value=all]")
    wait_tasks(page)
    assert page.locator("#task-list li").count() == 20
    assert page.is_visible("#load-more")
    screenshot(page, f"tasks-page-of-20-{'dev' if 'dev' in server.args else 'api'}")
    axe_check(page, "tasks")
    page.click("#load-more")
    page.wait_for_function("() => document.querySelectorAll('#task-list li').length === 25")
    assert page.is_hidden("#load-more")
    assert len(set(task_titles(page))) == 25

    # Delete.
    row(page, "Water the plants").locator(".delete-btn").click()
    page.wait_for_function("() => document.querySelectorAll('#task-list li').length === 24")
    assert "Water the plants" not in task_titles(page)
    left = requests.get(base + "/api/tasks?limit=100", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert "Water the plants" not in [t["title"] for t in left.json()["items"]]

    # Webhooks: register (secret shown once, copied), list, delete.
    page.click("#nav-webhooks")
    page.wait_for_selector("#view-webhooks:not([hidden])")
    page.wait_for_selector("#hooks-empty:not([hidden])")
    assert "no route for dead letters" in page.inner_text("#dead-letters")
    axe_check(page, "webhooks")
    page.fill("#hook-url", "not a url")
    page.click("#hook-submit")
    page.wait_for_selector("#hook-form-error:not([hidden])")
    assert "url" in page.inner_text("#hook-form-error").lower()
    hook_url = f"http://127.0.0.1:{receiver.port}/hook/console"
    page.fill("#hook-url", hook_url)
    page.uncheck("input[name=events][value='task.deleted']")
    page.click("#hook-submit")
    page.wait_for_selector("#hook-secret:not([hidden])")
    secret = page.inner_text("#hook-secret-value")
    assert re.fullmatch(r"whsec_[A-Za-z0-9_-]{43}", secret), secret
    page.click("#hook-secret-copy")
    page.wait_for_function("() => document.getElementById('hook-secret-copied').textContent.length > 0")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    page.wait_for_selector("#hook-list li")
    assert hook_url in page.inner_text("#hook-list")
    assert "task.deleted" not in page.inner_text("#hook-list")
    screenshot(page, f"webhooks-{'dev' if 'dev' in server.args else 'api'}")
    axe_check(page, "webhooks with the secret")
    page.click("#hook-secret-done")
    assert page.is_hidden("#hook-secret")
    assert secret not in page.content()
    page.click("#hook-list li button.danger")
    page.wait_for_selector("#hooks-empty:not([hidden])")
    user_id = page.evaluate("JSON.parse(sessionStorage.getItem('bollard.session')).user_id")
    hooks = requests.get(base + f"/api/{user_id}/webhooks", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert hooks.json()["items"] == []

    # 422 (short password, long title), 401 (wrong password) and 422 (bad URL) were expected answers.
    w.check(allowed_statuses=(401, 422))
    ctx.close()


def test_conflicting_edit_shows_the_conflict(browser, dev_server):
    """Two pages edit one task: the second save gets 412 and says so in words."""
    base = dev_server.url("")
    email, _ = api_signup(base)
    ctx = new_context(browser)
    a, b = Watched(ctx, base), Watched(ctx, base)
    sign_in(a, email)
    sign_in(b, email)  # sessionStorage is per tab: each page signs in
    a.page.fill("#new-title", "Shared task")
    a.page.click("#new-submit")
    row(a.page, "Shared task").wait_for()
    b.page.reload()
    wait_tasks(b.page)
    row(b.page, "Shared task").wait_for()
    for w in (a, b):
        row(w.page, "Shared task").locator(".edit-btn").click()
        w.page.wait_for_selector("#task-list form.edit")
    a.page.locator("form.edit input[id$='-title']").fill("Edited on page A")
    a.page.locator("form.edit button[type=submit]").click()
    row(a.page, "Edited on page A").wait_for()
    b.page.locator("form.edit input[id$='-title']").fill("Edited on page B")
    b.page.locator("form.edit button[type=submit]").click()
    b.page.wait_for_selector("form.edit .error.conflict:not([hidden])")
    text = b.page.inner_text("form.edit .error")
    assert "Someone else changed this task" in text and "{" not in text, text
    screenshot(b.page, "conflict")
    axe_check(b.page, "conflict")
    # The page offers the latest version; loading it shows page A's title.
    b.page.click("form.edit .error button")
    b.page.wait_for_function("() => document.querySelector(\"form.edit input[id$='-title']\").value === 'Edited on page A'")
    a.check()
    b.check(allowed_statuses=(412,))
    ctx.close()


def test_keyboard_only_sign_in_and_create(browser, dev_server):
    base = dev_server.url("")
    email, _ = api_signup(base)
    ctx = new_context(browser)
    w = Watched(ctx, base)
    page = w.page
    page.goto(base + "/")
    page.wait_for_selector("#view-auth:not([hidden])")
    kb = page.keyboard

    def active():
        return page.evaluate("document.activeElement && document.activeElement.id")

    for _ in range(12):
        kb.press("Tab")
        if active() == "auth-email":
            break
    assert active() == "auth-email"
    # Focus is visible: keyboard focus draws an outline.
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
    kb.type(email)
    kb.press("Tab")
    assert active() == "auth-password"
    kb.type(PASSWORD)
    kb.press("Enter")
    page.wait_for_selector("#view-tasks:not([hidden])")
    wait_tasks(page)
    assert active() == "tasks-title"  # focus moved to the new screen's heading
    kb.press("Tab")
    assert active() == "new-title"
    kb.type("Typed without a mouse")
    kb.press("Enter")
    row(page, "Typed without a mouse").wait_for()
    assert active() == "new-title"  # ready for the next one
    # Complete it from the keyboard: Tab to its checkbox, Space.
    for _ in range(20):
        kb.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('check')"):
            break
    kb.press("Space")
    page.wait_for_selector("#task-list li.done")
    w.check()
    ctx.close()


def test_phone_width(browser, dev_server):
    """At 375 px nothing overflows sideways, and every screen passes axe-core."""
    base = dev_server.url("")
    email, _ = api_signup(base)
    ctx = new_context(browser, viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    w = Watched(ctx, base)
    sign_in(w, email)
    page = w.page
    page.fill("#new-title", "A task with a rather long title that has to wrap on a phone screen")
    page.fill("#new-due", "2031-01-01T08:00")
    page.click("#new-submit")
    page.wait_for_selector("#task-list li")
    for screen in ("tasks", "assistant", "webhooks"):
        page.click(f"#nav-{screen}")
        page.wait_for_selector(f"#view-{screen}:not([hidden])")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), screen
        axe_check(page, f"{screen} at phone width")
    page.click("#nav-tasks")
    wait_tasks(page)
    screenshot(page, "phone")
    w.check()
    ctx.close()


def test_assistant_not_configured_explains(browser, dev_server):
    """No LLM_PROVIDER on this server (POST /api/chat answers 503 naming it): the panel says what to
    configure, not an error code."""
    base = dev_server.url("")
    email, _ = api_signup(base)
    ctx = new_context(browser)
    w = Watched(ctx, base)
    sign_in(w, email)
    page = w.page
    page.click("#nav-assistant")
    page.fill("#chat-message", "add a task called buy bread")
    page.click("#chat-send")
    page.wait_for_selector("#chat-setup:not([hidden])")
    text = page.inner_text("#chat-setup")
    assert "LLM_PROVIDER" in text and "restart" in text and "503" not in text, text
    assert page.is_hidden("#chat-error")
    axe_check(page, "assistant")
    screenshot(page, "assistant-not-configured")
    w.check(allowed_statuses=(503,))
    ctx.close()


def test_assistant_not_configured_503(browser, dev_server):
    """The contract's 503 when no provider is set: the panel shows the server's words."""
    base = dev_server.url("")
    email, _ = api_signup(base)
    ctx = new_context(browser)
    w = Watched(ctx, base)
    sign_in(w, email)
    page = w.page
    problem = {"type": "about:blank", "title": "Service Unavailable", "status": 503,
               "detail": "chat is not configured: set LLM_PROVIDER and its API key"}
    page.route("**/api/chat", lambda route: route.fulfill(status=503, content_type="application/problem+json",
                                                          body=json.dumps(problem)))
    page.click("#nav-assistant")
    page.fill("#chat-message", "hello")
    page.click("#chat-send")
    page.wait_for_selector("#chat-setup:not([hidden])")
    text = page.inner_text("#chat-setup")
    assert "chat is not configured: set LLM_PROVIDER and its API key" in text, text
    w.check(allowed_statuses=(503,))
    ctx.close()


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory):
    """`bollard dev` with the assistant on the scripted fake provider (tests/lib/fakellm.py)."""
    provider = FakeProvider()
    db = tmp_path_factory.mktemp("console-chat") / "bollard.db"
    b = start_dev(dev_env(db, ACCESS_LOG="false", LLM_PROVIDER="OPENAI", LLM_BASE_URL=provider.base_url,
                          LLM_MODEL="fake-model"))
    wait_ready(b)
    yield b, provider
    assert stop(b) == 0
    provider.stop()


def test_assistant_streams_and_refreshes_tasks(browser, chat_server):
    """The panel on the real chat route, streamed (SSE) from a provider that streams: the model asks
    for add_task, Bollard runs it, the reply's text arrives in deltas; the tool call and its result
    are shown, and the task list shows the new task without a reload."""
    server, provider = chat_server
    base = server.url("")
    email, _ = api_signup(base)
    ctx = new_context(browser)
    w = Watched(ctx, base)
    sign_in(w, email)
    page = w.page
    provider.script(Step(kind="sse", chunks=stream_chunks([], [("add_task", json.dumps({"title": "Buy bread"}))])),
                    Step(kind="sse", chunks=stream_chunks(["I added ", "“Buy bread”."]), comments=True),
                    Step(kind="sse", chunks=stream_chunks(["You are welcome."])))
    page.click("#nav-assistant")
    page.fill("#chat-message", "add a task called buy bread")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#chat-log .assistant .text')?.textContent === 'I added “Buy bread”.'")
    tool_box = page.inner_text("#chat-log .tool")
    assert "add_task" in tool_box and "Buy bread" in tool_box and "Result" in tool_box, tool_box
    sent = provider.requests[0]["body"]
    assert sent["stream"] is True and sent["messages"][-1] == {"role": "user", "content": "add a task called buy bread"}
    axe_check(page, "assistant with a reply")
    screenshot(page, "assistant")
    # The second message continues the conversation: the model sees the first exchange.
    page.fill("#chat-message", "thanks")
    page.click("#chat-send")
    page.wait_for_function("() => document.querySelectorAll('#chat-log .assistant').length === 2")
    history = [m.get("content") for m in provider.requests[-1]["body"]["messages"] if m["role"] == "user"]
    assert history == ["add a task called buy bread", "thanks"], history
    page.click("#nav-tasks")
    row(page, "Buy bread").wait_for()
    assert task_titles(page) == ["Buy bread"]
    w.check()
    ctx.close()


def test_http_contract(dev_server):
    """Security headers, hashed names cached for a year, gzip when accepted, ETag revalidation."""
    base = dev_server.url("")
    r = requests.get(base + "/", headers={"Accept-Encoding": "identity"}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    csp = r.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["Cache-Control"] == "no-cache"
    assert "Content-Encoding" not in r.headers
    page = r.text
    assert "<script>" not in page and " style=" not in page and "http" not in page.split("<body>")[0]
    assets = re.findall(r'"/console/([^"]+)"', page)
    assert len(set(assets)) == 3
    total_gz = 0
    for name in set(assets):
        assert re.fullmatch(r"[a-z]+\.[0-9a-f]{12}\.(js|css|svg)", name), name
        plain = harness.get(base + "/console/" + name, headers={"Accept-Encoding": "identity"})
        zipped = harness.get(base + "/console/" + name, headers={"Accept-Encoding": "gzip, br"})
        assert plain[0] == zipped[0] == 200
        assert plain[1]["cache-control"] == "public, max-age=31536000, immutable"
        assert zipped[1]["content-encoding"] == "gzip" and zipped[1]["vary"] == "Accept-Encoding"
        assert gzip.decompress(zipped[2]) == plain[2]
        assert len(zipped[2]) < len(plain[2])
        total_gz += len(zipped[2])
        again = harness.get(base + "/console/" + name, headers={"If-None-Match": plain[1]["etag"]})
        assert again[0] == 304 and again[2] == b""
    page_gz = harness.get(base + "/", headers={"Accept-Encoding": "gzip"})
    assert page_gz[1]["content-encoding"] == "gzip"
    total_gz += len(page_gz[2])
    assert total_gz <= 50 * 1024, total_gz  # the README's bundle budget
    assert harness.get(base + "/console/app.js")[0] == 404  # only hashed names live under /console/
    assert harness.get(base + "/console/index.html")[0] == 404
    assert harness.get(base + "/console/%2e%2e%2fapp.js")[0] == 404


def test_console_disabled(tmp_path):
    b = start_dev(dev_env(tmp_path / "bollard.db", CONSOLE_ENABLED="false"))
    wait_ready(b)
    status, headers, body = harness.get(b.url("/"))
    assert status == 404 and headers["content-type"] == "application/problem+json"
    assert "CONSOLE_ENABLED" in json.loads(body)["detail"]
    assert harness.get(b.url("/console/app.js"))[0] == 404
    assert harness.get(b.url("/docs"))[0] == 200  # the API page is not affected
    assert stop(b) == 0


def test_console_under_bollard_api_and_invalid_setting(pg, redis):
    """`bollard api` serves the same page; CONSOLE_ENABLED must be a boolean (exit 78 otherwise)."""
    env = harness.base_env(pg, redis, CONSOLE_ENABLED="maybe")
    out = harness.run(["api"], env, timeout=20)
    assert out.returncode == 78 and "CONSOLE_ENABLED" in out.stderr, out.stderr
    assert "CONSOLE_ENABLED" in harness.run(["--help"], env).stdout
