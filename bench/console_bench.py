#!/usr/bin/env python3
"""The console's load in headless Chromium on `bollard dev`, against the /docs page measured the
same way: bytes transferred (what the network carried, headers included, from the DevTools
protocol) and the time from the start of the navigation (the document's time origin) to the screen
being usable — the console's task list
rendered (a signed-in user with 20 tasks), /docs' list of operations rendered.

Each load runs in a fresh browser context (an empty cache, as a first visit); the figures are
medians over CONSOLE_BENCH_RUNS (default 15) loads. Debian's chromium, driven by PyPI playwright
through executable_path. Usage: make bench-console
"""
import json
import os
import statistics
import sys
import tempfile

import requests

import results as bench_results
from devlib import dev_env, start_dev, stop, wait_ready

RUNS = int(os.environ.get("CONSOLE_BENCH_RUNS", "15"))
CHROMIUM = os.environ.get("BOLLARD_CHROMIUM", "/usr/bin/chromium")
GOAL_MS = 300.0


# Noted by the page itself: the first moment `sel` matches, in ms since the navigation started
# (performance.now() counts from the document's time origin, the start of its navigation). The same
# observer on both pages, so neither pays for the browser's own process start-up or for polling.
WATCH = """(() => {
  const sel = %s;
  const obs = new MutationObserver(() => {
    if (document.querySelector(sel)) { window.__usable_ms = performance.now(); obs.disconnect(); }
  });
  obs.observe(document, {childList: true, subtree: true});
})();"""


def load(browser, url, ready_selector, init_script=None):
    ctx = browser.new_context()
    if init_script:
        ctx.add_init_script(init_script)
    ctx.add_init_script(WATCH % json.dumps(ready_selector))
    page = ctx.new_page()
    cdp = ctx.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    transferred = []
    cdp.on("Network.loadingFinished", lambda e: transferred.append(e["encodedDataLength"]))
    page.goto(url, wait_until="commit")
    page.wait_for_selector(ready_selector, state="attached")
    page.wait_for_function("() => window.__usable_ms !== undefined")
    elapsed = page.evaluate("window.__usable_ms")
    page.wait_for_load_state("networkidle")
    total = sum(transferred)
    ctx.close()
    return elapsed, total


def main():
    from playwright.sync_api import sync_playwright
    with tempfile.TemporaryDirectory() as tmp:
        b = start_dev(dev_env(os.path.join(tmp, "bollard.db"), ACCESS_LOG="false", LOG_LEVEL="warn"))
        try:
            wait_ready(b)
            base = b.url("")
            r = requests.post(base + "/api/auth/signup",
                              json={"email": "bench@example.com", "password": "correct horse battery"}, timeout=30)
            r.raise_for_status()
            tok = r.json()
            for i in range(20):
                requests.post(base + "/api/tasks", json={"title": f"Task {i}", "due_at": "2031-01-01T09:00:00Z"},
                              headers={"Authorization": "Bearer " + tok["access_token"]}, timeout=10).raise_for_status()
            session = {"token": tok["access_token"], "user_id": tok["user_id"], "expires_at": tok["expires_at"],
                       "email": "bench@example.com"}
            signed_in = f"sessionStorage.setItem('bollard.session', {json.dumps(json.dumps(session))});"
            figures = {"console": [], "docs": []}
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
                # One warm-up each (Chromium's own first-start costs are nobody's page load).
                load(browser, base + "/", "#task-list li:nth-child(20)", signed_in)
                load(browser, base + "/docs", ".opblock")
                for _ in range(RUNS):
                    figures["console"].append(load(browser, base + "/", "#task-list li:nth-child(20)", signed_in))
                    figures["docs"].append(load(browser, base + "/docs", ".opblock"))
                browser.close()
        finally:
            stop(b)

    def med(name, i):
        return statistics.median(x[i] for x in figures[name])

    c_ms, d_ms = med("console", 0), med("docs", 0)
    c_kb, d_kb = med("console", 1) / 1024, med("docs", 1) / 1024
    print("\n| page | navigation → usable (median) | transferred |")
    print("|---|---|---|")
    print(f"| / (console, task list of 20 rendered) | {c_ms:.0f} ms | {c_kb:.1f} KB |")
    print(f"| /docs (operations rendered) | {d_ms:.0f} ms | {d_kb:.1f} KB |")
    print(f"goal: console ≤ {GOAL_MS:.0f} ms: {'met' if c_ms <= GOAL_MS else 'NOT met'}")
    cmd = "make bench-console"
    bench_results.record("console", [
        bench_results.row("console load: navigation to task list rendered (median)", round(c_ms, 1), "ms", cmd,
                          "/docs page (Swagger UI), same measure", round(d_ms, 1),
                          bench_results.lower_is_better(c_ms, d_ms), GOAL_MS, goal_kind="max", question="latency"),
        bench_results.row("console load: bytes transferred, empty cache", round(c_kb, 1), "KB", cmd,
                          "/docs page (Swagger UI)", round(d_kb, 1), bench_results.lower_is_better(c_kb, d_kb),
                          50.0, goal_kind="max", question="size",
                          note="page, script, style, icon and the first API answers; gzip on the wire"),
    ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
