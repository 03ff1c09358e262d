/* Bollard console: plain JavaScript, no framework, no build step. Served under a CSP without
 * 'unsafe-inline' or 'unsafe-eval', so: no inline handlers, no innerHTML of data (every text goes
 * through textContent), no eval. The session token lives in sessionStorage (README: "The console"). */
"use strict";
(function () {
  var SESSION_KEY = "bollard.session";
  var PAGE_SIZE = 20;
  var WRITE_TOOLS = { add_task: 1, complete_task: 1, update_task: 1, delete_task: 1 };
  var EVENTS = ["task.created", "task.updated", "task.completed", "task.deleted"];

  function $(id) { return document.getElementById(id); }

  /* h("li", {class: "x", onclick: f}, "text", child...) — attributes, listeners, text nodes. */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k.slice(0, 2) === "on") el.addEventListener(k.slice(2), v);
        else if (k === "text") el.textContent = v;
        else el.setAttribute(k, v === true ? "" : v);
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return el;
  }

  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

  /* ---- session ------------------------------------------------------------------------------ */
  var session = null;
  try { session = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null"); } catch (e) { session = null; }
  if (session && (!session.token || (session.expires_at && Date.parse(session.expires_at) <= Date.now()))) session = null;

  function saveSession(s) {
    session = s;
    try {
      if (s) sessionStorage.setItem(SESSION_KEY, JSON.stringify(s));
      else sessionStorage.removeItem(SESSION_KEY);
    } catch (e) { /* storage refused (private mode): the session lives in memory only */ }
  }

  /* ---- HTTP --------------------------------------------------------------------------------- */
  function ApiError(status, problem, text) {
    this.status = status;
    this.problem = problem;
    this.text = text;
  }

  /* fetch + JSON, with the token; a problem document (or any non-2xx) becomes an ApiError. */
  function api(method, path, body, headers) {
    var opts = { method: method, headers: { Accept: "application/json" }, cache: "no-store" };
    if (headers) Object.keys(headers).forEach(function (k) { opts.headers[k] = headers[k]; });
    if (session) opts.headers.Authorization = "Bearer " + session.token;
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(path, opts).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        if (text) { try { data = JSON.parse(text); } catch (e) { data = null; } }
        if (res.ok) return { status: res.status, data: data, etag: res.headers.get("ETag"), headers: res.headers };
        if (res.status === 401 && session && path.indexOf("/api/auth/") !== 0) {
          signOut("Your session has ended. Sign in again.");
        }
        var retry = res.headers.get("Retry-After");
        var err = new ApiError(res.status, data && typeof data === "object" ? data : null, text);
        err.retryAfter = retry;
        throw err;
      });
    }, function () {
      throw new ApiError(0, null, "The server could not be reached. Check that Bollard is running.");
    });
  }

  /* A readable message for any failure: the problem's detail, its field errors, Retry-After. */
  function showError(box, err, lead) {
    clear(box);
    var p = err && err.problem;
    var msg;
    if (p && (p.detail || p.title)) msg = p.detail || p.title;
    else if (err && err.status === 0) msg = err.text;
    else if (err instanceof ApiError) msg = "The server answered " + err.status + (err.text ? ": " + String(err.text).slice(0, 200) : ".");
    else msg = String((err && err.message) || err);
    if (msg && !/[.!?]$/.test(msg)) msg += ".";
    box.appendChild(h("p", null, (lead ? lead + " " : "") + msg.charAt(0).toUpperCase() + msg.slice(1)));
    if (p && Array.isArray(p.errors) && p.errors.length) {
      var ul = h("ul");
      p.errors.forEach(function (fe) { ul.appendChild(h("li", null, (fe.field ? fe.field + ": " : "") + (fe.message || ""))); });
      box.appendChild(ul);
    }
    if (err && err.retryAfter) box.appendChild(h("p", null, "Try again in " + err.retryAfter + " s."));
    box.hidden = false;
  }
  function hideError(box) { clear(box); box.hidden = true; }

  function busy(button, on) { button.disabled = on; if (on) button.setAttribute("aria-busy", "true"); else button.removeAttribute("aria-busy"); }

  /* ---- dates: shown in the browser's locale and time zone ----------------------------------- */
  var dateFmt = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
  function showDate(iso) { var d = new Date(iso); return isNaN(d) ? iso : dateFmt.format(d); }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  /* An ISO instant as the value of <input type=datetime-local> in local time, and back. */
  function toLocalInput(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    if (isNaN(d)) return "";
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
  }
  function fromLocalInput(v) {
    if (!v) return null;
    var d = new Date(v); /* no zone in the value: the browser reads it as local time */
    return isNaN(d) ? null : d.toISOString();
  }

  /* ---- views -------------------------------------------------------------------------------- */
  var views = ["auth", "tasks", "assistant", "webhooks"];
  var current = null;

  function route() {
    var want = (location.hash || "#tasks").slice(1);
    if (!session) want = "auth";
    else if (views.indexOf(want) < 0 || want === "auth") want = "tasks";
    show(want);
  }

  function show(name) {
    var first = current !== name;
    current = name;
    views.forEach(function (v) { $("view-" + v).hidden = v !== name; });
    $("nav").hidden = !session;
    $("who").hidden = !session;
    if (session) $("who-email").textContent = session.email || "";
    ["tasks", "assistant", "webhooks"].forEach(function (v) {
      var a = $("nav-" + v);
      if (v === name) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    });
    document.title = { auth: authMode === "signup" ? "Create an account" : "Sign in", tasks: "Tasks", assistant: "Assistant", webhooks: "Webhooks" }[name] + " · Bollard console";
    if (name === "tasks" && first) loadTasks(true);
    if (name === "webhooks" && first) loadHooks();
    if (first) {
      var heading = $(name + "-title");
      if (heading && document.readyState !== "loading" && started) heading.focus();
    }
  }

  var started = false;

  function signOut(message) {
    saveSession(null);
    conversationId = null;
    clear($("chat-log"));
    clear($("task-list"));
    clear($("hook-list"));
    $("hook-secret").hidden = true;
    var notice = $("auth-notice");
    notice.textContent = message || "";
    notice.hidden = !message;
    if (location.hash) history.replaceState(null, "", location.pathname);
    current = null;
    route();
  }

  /* ---- sign in / sign up -------------------------------------------------------------------- */
  var authMode = "signin";

  function setAuthMode(mode) {
    authMode = mode;
    var up = mode === "signup";
    $("auth-title").textContent = up ? "Create an account" : "Sign in";
    $("auth-submit").textContent = up ? "Create account" : "Sign in";
    $("auth-switch-text").textContent = up ? "Already have an account?" : "No account yet?";
    $("auth-switch").textContent = up ? "Sign in instead" : "Create an account";
    $("auth-password").setAttribute("autocomplete", up ? "new-password" : "current-password");
    $("auth-password-hint").hidden = !up;
    hideError($("auth-error"));
    document.title = (up ? "Create an account" : "Sign in") + " · Bollard console";
  }

  $("auth-switch").addEventListener("click", function () {
    setAuthMode(authMode === "signup" ? "signin" : "signup");
    $("auth-email").focus();
  });

  $("auth-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var box = $("auth-error"), btn = $("auth-submit");
    var email = $("auth-email").value.trim(), password = $("auth-password").value;
    if (!email || !password) {
      showError(box, { message: "Enter your email and password." });
      (email ? $("auth-password") : $("auth-email")).focus();
      return;
    }
    hideError(box);
    $("auth-notice").hidden = true;
    busy(btn, true);
    var up = authMode === "signup";
    api("POST", up ? "/api/auth/signup" : "/api/auth/signin", { email: email, password: password })
      .then(function (r) {
        saveSession({ token: r.data.access_token, user_id: r.data.user_id, expires_at: r.data.expires_at, email: email });
        $("auth-password").value = "";
        setAuthMode("signin");
        current = null;
        if (location.hash !== "#tasks") history.replaceState(null, "", "#tasks");
        route();
      }, function (err) {
        showError(box, err, up ? "Could not create the account." : "Could not sign in.");
        $("auth-email").focus();
      })
      .then(function () { busy(btn, false); });
  });

  $("signout").addEventListener("click", function () { signOut("You are signed out."); $("auth-email").focus(); });

  /* ---- tasks -------------------------------------------------------------------------------- */
  var cursor = null, loading = false, shown = 0;

  function filterQuery() {
    var v = document.querySelector('input[name="filter"]:checked').value;
    return v === "open" ? "&completed=false" : v === "done" ? "&completed=true" : "";
  }

  function loadTasks(reset) {
    if (!session || loading) return Promise.resolve();
    loading = true;
    var list = $("task-list"), box = $("tasks-error"), more = $("load-more");
    list.setAttribute("aria-busy", "true");
    list.setAttribute("data-state", "loading");
    busy(more, true);
    var url = "/api/tasks?limit=" + PAGE_SIZE + filterQuery() + (!reset && cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
    return api("GET", url).then(function (r) {
      hideError(box);
      if (reset) { clear(list); shown = 0; }
      var firstNew = null;
      r.data.items.forEach(function (t) {
        var li = renderTask(t);
        if (!firstNew) firstNew = li;
        list.appendChild(li);
        shown++;
      });
      cursor = r.data.next_cursor;
      more.hidden = !cursor;
      $("tasks-empty").hidden = shown > 0;
      $("tasks-count").textContent = shown === 0 ? "" : shown + (cursor ? "+ tasks" : shown === 1 ? " task" : " tasks");
      return firstNew;
    }, function (err) { showError(box, err, "Could not load the tasks."); })
      .then(function (firstNew) {
        loading = false;
        list.removeAttribute("aria-busy");
        list.setAttribute("data-state", "ready");
        busy(more, false);
        return firstNew;
      });
  }

  function renderTask(t) {
    var li = h("li", { class: "task" + (t.completed ? " done" : ""), "data-id": t.id });
    li._task = t;
    fillTask(li, t);
    return li;
  }

  function fillTask(li, t) {
    clear(li);
    li._task = t;
    li.className = "task" + (t.completed ? " done" : "");
    var checkId = "done-" + t.id;
    var check = h("input", { type: "checkbox", id: checkId, class: "check", checked: t.completed, "aria-describedby": "title-" + t.id,
      onchange: function () { toggleTask(li, check); } });
    var meta = [];
    if (t.due_at) {
      var overdue = !t.completed && Date.parse(t.due_at) < Date.now();
      meta.push(h("span", { class: overdue ? "overdue" : null }, (overdue ? "Overdue — due " : "Due ") + showDate(t.due_at)));
    }
    var body = h("div", null,
      h("label", { for: checkId, class: "title", id: "title-" + t.id, text: t.title }),
      t.description ? h("p", { class: "desc", text: t.description }) : null,
      h("p", { class: "meta" }, meta.length ? meta[0] : "No due date", " · ", t.completed ? "Completed" : "Open"));
    var actions = h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary edit-btn", "aria-label": "Edit “" + t.title + "”", onclick: function () { editTask(li); } }, "Edit"),
      h("button", { type: "button", class: "danger delete-btn", "aria-label": "Delete “" + t.title + "”", onclick: function () { deleteTask(li); } }, "Delete"));
    li.appendChild(check);
    li.appendChild(body);
    li.appendChild(actions);
    li.appendChild(h("div", { class: "error", role: "alert", hidden: true }));
  }

  function rowError(li) { return li.querySelector(".error"); }

  function toggleTask(li, check) {
    var t = li._task;
    check.disabled = true;
    api("PATCH", "/api/tasks/" + t.id + "/complete").then(function (r) {
      fillTask(li, r.data);
      var c = li.querySelector(".check");
      if (c) c.focus();
      if (!matchesFilter(r.data)) announce("“" + r.data.title + "” is now " + (r.data.completed ? "completed" : "open") + " and left this filter.");
    }, function (err) {
      check.disabled = false;
      check.checked = t.completed;
      showError(rowError(li), err, "Could not change the task.");
    });
  }

  function matchesFilter(t) {
    var v = document.querySelector('input[name="filter"]:checked').value;
    return v === "all" || (v === "done") === t.completed;
  }

  function deleteTask(li) {
    var t = li._task;
    api("DELETE", "/api/tasks/" + t.id).then(function () {
      var next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      shown--;
      $("tasks-empty").hidden = shown > 0;
      $("tasks-count").textContent = shown === 0 ? "" : shown + (cursor ? "+ tasks" : shown === 1 ? " task" : " tasks");
      announce("Deleted “" + t.title + "”.");
      var focusTo = next && next.querySelector(".edit-btn");
      (focusTo || $("new-title")).focus();
    }, function (err) { showError(rowError(li), err, "Could not delete the task."); });
  }

  /* Editing reads the task first: its ETag goes into If-Match, so a change made elsewhere in the
   * meantime is refused (412) instead of silently overwritten. */
  function editTask(li) {
    var t = li._task;
    api("GET", "/api/tasks/" + t.id).then(function (r) { openEditor(li, r.data, r.etag); },
      function (err) { showError(rowError(li), err, "Could not open the task."); });
  }

  function openEditor(li, t, etag) {
    clear(li);
    li._task = t;
    var p = "edit-" + t.id + "-";
    var err = h("div", { class: "error", role: "alert", hidden: true });
    var title = h("input", { id: p + "title", required: true, maxlength: "200", value: t.title });
    var desc = h("textarea", { id: p + "desc", rows: "2", maxlength: "2000" });
    desc.value = t.description || "";
    var due = h("input", { id: p + "due", type: "datetime-local", value: toLocalInput(t.due_at) });
    var done = h("input", { id: p + "done", type: "checkbox", checked: t.completed });
    var save = h("button", { type: "submit" }, "Save");
    var form = h("form", { class: "edit", novalidate: true, "aria-label": "Edit “" + t.title + "”" },
      h("label", { for: p + "title" }, "Title"), title,
      h("label", { for: p + "desc" }, "Description"), desc,
      h("label", { for: p + "due" }, "Due"), due,
      h("label", null, done, " Completed"),
      err,
      h("div", { class: "row" }, save,
        h("button", { type: "button", class: "secondary", onclick: function () { fillTask(li, li._task); focusEdit(li); } }, "Cancel")));
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var body = { title: title.value.trim(), description: desc.value, completed: done.checked, due_at: fromLocalInput(due.value) };
      if (!body.title) { showError(err, { message: "A task needs a title." }); title.focus(); return; }
      busy(save, true);
      api("PUT", "/api/tasks/" + t.id, body, { "If-Match": etag }).then(function (r) {
        fillTask(li, r.data);
        focusEdit(li);
        announce("Saved “" + r.data.title + "”.");
      }, function (e) {
        busy(save, false);
        if (e.status === 412) return conflict(li, err);
        showError(err, e, "Could not save.");
        title.focus();
      });
    });
    li.className = "task editing";
    li.appendChild(form);
    title.focus();
  }

  function conflict(li, box) {
    clear(box);
    box.appendChild(h("p", null, "Someone else changed this task after you opened it, so your changes were not saved. " +
      "Load their version to edit it again (your unsaved changes will be replaced), or cancel."));
    box.appendChild(h("div", { class: "row" },
      h("button", { type: "button", class: "secondary", onclick: function () { editTask(li); } }, "Load the latest version")));
    box.hidden = false;
    box.classList.add("conflict");
    var b = box.querySelector("button");
    if (b) b.focus();
  }

  function focusEdit(li) { var b = li.querySelector(".edit-btn"); if (b) b.focus(); }

  var liveTimer = null;
  function announce(text) {
    var c = $("tasks-count");
    c.textContent = text;
    clearTimeout(liveTimer);
    liveTimer = setTimeout(function () { $("tasks-count").textContent = shown === 0 ? "" : shown + (cursor ? "+ tasks" : shown === 1 ? " task" : " tasks"); }, 4000);
  }

  $("task-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var box = $("task-form-error"), btn = $("new-submit");
    var body = { title: $("new-title").value.trim(), description: $("new-description").value };
    var due = fromLocalInput($("new-due").value);
    if (due) body.due_at = due;
    if (!body.title) { showError(box, { message: "A task needs a title." }); $("new-title").focus(); return; }
    hideError(box);
    busy(btn, true);
    api("POST", "/api/tasks", body).then(function (r) {
      $("task-form").reset();
      announce("Added “" + r.data.title + "”.");
      loadTasks(true);
      $("new-title").focus();
    }, function (err) { showError(box, err, "Could not add the task."); $("new-title").focus(); })
      .then(function () { busy(btn, false); });
  });

  Array.prototype.forEach.call(document.querySelectorAll('input[name="filter"]'), function (r) {
    r.addEventListener("change", function () { cursor = null; loadTasks(true); });
  });

  $("load-more").addEventListener("click", function () {
    loadTasks(false).then(function (firstNew) {
      var b = firstNew && firstNew.querySelector(".edit-btn");
      if (b) b.focus();
    });
  });

  /* ---- the assistant ------------------------------------------------------------------------ */
  var conversationId = null, chatBusy = false;

  function chatItem(role, text) {
    var li = h("li", { class: role }, h("span", { class: "who-label" }, role === "user" ? "You" : "Assistant"));
    var body = h("span", { class: "text" }, text || "");
    li.appendChild(body);
    $("chat-log").appendChild(li);
    li.scrollIntoView({ block: "nearest" });
    return body;
  }

  function pretty(v) {
    if (typeof v === "string") { try { v = JSON.parse(v); } catch (e) { return v; } }
    try { return JSON.stringify(v, null, 1); } catch (e) { return String(v); }
  }

  function toolItem(call) {
    var li = h("li", { class: "tool", "data-tool-id": call.id || "" },
      h("span", { class: "who-label" }, "Tool call: " + (call.name || "?")),
      h("code", { class: "args" }, pretty(call.arguments)));
    $("chat-log").appendChild(li);
    return li;
  }

  function toolResult(ev, items) {
    var li = items[ev.id] || toolItem({ id: ev.id, name: ev.name, arguments: "" });
    li.appendChild(h("span", { class: "who-label" }, ev.is_error ? "Result (failed)" : "Result"));
    li.appendChild(h("code", { class: "result" }, pretty(ev.result)));
    if (ev.is_error) li.classList.add("failed");
  }

  function setupNotice(lines) {
    var box = $("chat-setup");
    clear(box);
    lines.forEach(function (l) { box.appendChild(h("p", null, l)); });
    box.hidden = false;
  }

  /* 404: this server has no chat route; 503: it has one but no provider (the problem names what to
   * set). Either way the panel says what to configure instead of showing an error code. */
  function explainChat(err) {
    if (err.status === 404) {
      setupNotice(["The assistant is not available on this server: it has no chat route (POST /api/chat answered 404).",
        "A Bollard build with the assistant needs a model provider: set LLM_PROVIDER (GROQ, OPENROUTER or OPENAI) and its key — GROQ_API_KEY, OPENROUTER_API_KEY or LLM_API_KEY (with LLM_BASE_URL for any OpenAI-compatible server) — then restart."]);
      return true;
    }
    if (err.status === 503 && !err.retryAfter) {
      var d = err.problem && (err.problem.detail || err.problem.title);
      setupNotice(["The assistant is not set up on this server." + (d ? " The server says: " + d : ""),
        "Set LLM_PROVIDER (GROQ, OPENROUTER or OPENAI) and its key (GROQ_API_KEY, OPENROUTER_API_KEY or LLM_API_KEY), then restart Bollard."]);
      return true;
    }
    return false;
  }

  /* Server-sent events from a fetch body: "event:" and "data:" lines, a blank line ends an event. */
  function readSse(res, onEvent) {
    var reader = res.body.getReader(), dec = new TextDecoder(), buf = "";
    function dispatch(block) {
      var name = "message", data = [];
      block.split(/\r?\n/).forEach(function (line) {
        if (!line || line.charAt(0) === ":") return;
        var i = line.indexOf(":"), field = i < 0 ? line : line.slice(0, i), value = i < 0 ? "" : line.slice(i + 1);
        if (value.charAt(0) === " ") value = value.slice(1);
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
      });
      if (!data.length) return;
      var text = data.join("\n"), parsed = text;
      try { parsed = JSON.parse(text); } catch (e) { parsed = text; }
      onEvent(name, parsed);
    }
    function pump() {
      return reader.read().then(function (r) {
        if (r.done) { if (buf.trim()) dispatch(buf); return; }
        buf += dec.decode(r.value, { stream: true });
        var m;
        while ((m = /\r?\n\r?\n/.exec(buf))) {
          dispatch(buf.slice(0, m.index));
          buf = buf.slice(m.index + m[0].length);
        }
        return pump();
      });
    }
    return pump();
  }

  function deltaText(d) {
    if (typeof d === "string") return d;
    if (!d) return "";
    return d.text || d.content || d.delta || "";
  }

  function sendChat(message) {
    var box = $("chat-error"), btn = $("chat-send");
    hideError(box);
    chatBusy = true;
    busy(btn, true);
    chatItem("user", message);
    var answer = null, tools = {}, changed = false, finished = false;
    var headers = { Accept: "text/event-stream", "Content-Type": "application/json", Authorization: "Bearer " + session.token };
    var body = { message: message };
    if (conversationId) body.conversation_id = conversationId;

    function onEvent(name, d) {
      if (name === "delta") {
        if (!answer) answer = chatItem("assistant", "");
        answer.textContent += deltaText(d);
      } else if (name === "tool_call") {
        tools[d.id] = toolItem(d);
        if (WRITE_TOOLS[d.name]) changed = true;
      } else if (name === "tool_result") {
        toolResult(d, tools);
        if (WRITE_TOOLS[d.name]) changed = true;
      } else if (name === "done") {
        finished = true;
        finish(d);
      } else if (name === "error") {
        finished = true;
        showError(box, new ApiError(d && d.status || 502, typeof d === "object" ? d : { detail: String(d) }), "The assistant failed.");
      }
    }
    function finish(d) {
      if (d && d.conversation_id) conversationId = d.conversation_id;
      if (d && Array.isArray(d.tool_calls)) {
        d.tool_calls.forEach(function (c) {
          if (!tools[c.id]) { tools[c.id] = toolItem(c); if ("result" in c) toolResult(c, tools); }
          if (WRITE_TOOLS[c.name]) changed = true;
        });
      }
      if (!answer && d && d.response) answer = chatItem("assistant", d.response);
      else if (answer && d && d.response && !answer.textContent) answer.textContent = d.response;
    }

    return fetch("/api/chat", { method: "POST", headers: headers, body: JSON.stringify(body), cache: "no-store" })
      .then(function (res) {
        if (!res.ok) {
          return res.text().then(function (t) {
            var p = null;
            try { p = JSON.parse(t); } catch (e) { p = null; }
            var err = new ApiError(res.status, p, t);
            err.retryAfter = res.headers.get("Retry-After");
            if (res.status === 401) signOut("Your session has ended. Sign in again.");
            throw err;
          });
        }
        $("chat-setup").hidden = true;
        var type = res.headers.get("Content-Type") || "";
        if (type.indexOf("text/event-stream") === 0) return readSse(res, onEvent).then(function () {
          if (!finished) showError(box, { message: "The reply stopped before it was complete." });
        });
        return res.json().then(function (d) { finished = true; finish(d); });
      })
      .catch(function (err) {
        if (err instanceof ApiError && explainChat(err)) return;
        showError(box, err instanceof ApiError ? err : new ApiError(0, null, "The server could not be reached."), "The assistant could not answer.");
      })
      .then(function () {
        chatBusy = false;
        busy(btn, false);
        if (changed) { cursor = null; loadTasks(true); }
      });
  }

  $("chat-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var m = $("chat-message").value.trim();
    if (!m || chatBusy) return;
    $("chat-message").value = "";
    sendChat(m).then(function () { $("chat-message").focus(); });
  });
  $("chat-message").addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("chat-form").requestSubmit(); }
  });
  $("chat-new").addEventListener("click", function () {
    conversationId = null;
    clear($("chat-log"));
    hideError($("chat-error"));
    $("chat-message").focus();
  });

  /* ---- webhooks ----------------------------------------------------------------------------- */
  function hooksPath(id) { return "/api/" + encodeURIComponent(session.user_id) + "/webhooks" + (id ? "/" + encodeURIComponent(id) : ""); }

  function loadHooks() {
    if (!session) return Promise.resolve();
    var list = $("hook-list"), box = $("hooks-error");
    return api("GET", hooksPath()).then(function (r) {
      hideError(box);
      clear(list);
      r.data.items.forEach(function (w) { list.appendChild(renderHook(w)); });
      $("hooks-empty").hidden = r.data.items.length > 0;
    }, function (err) { showError(box, err, "Could not load the endpoints."); });
  }

  function renderHook(w) {
    var li = h("li", { class: "hook", "data-id": w.id });
    li.appendChild(h("div", null,
      h("p", { class: "url" }, h("strong", { text: w.url })),
      h("p", { class: "hint" }, (w.events || EVENTS).join(", ") + " · registered " + showDate(w.created_at))));
    li.appendChild(h("button", { type: "button", class: "danger", "aria-label": "Delete the endpoint " + w.url, onclick: function () {
      api("DELETE", hooksPath(w.id)).then(function () {
        li.remove();
        $("hooks-empty").hidden = $("hook-list").children.length > 0;
        $("hook-url").focus();
      }, function (err) { showError($("hooks-error"), err, "Could not delete the endpoint."); });
    } }, "Delete"));
    return li;
  }

  $("hook-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var box = $("hook-form-error"), btn = $("hook-submit");
    var url = $("hook-url").value.trim();
    var events = Array.prototype.filter.call(document.querySelectorAll('input[name="events"]'), function (c) { return c.checked; })
      .map(function (c) { return c.value; });
    if (!url) { showError(box, { message: "Enter the URL deliveries go to." }); $("hook-url").focus(); return; }
    if (!events.length) { showError(box, { message: "Choose at least one event." }); return; }
    hideError(box);
    busy(btn, true);
    api("POST", hooksPath(), { url: url, events: events }).then(function (r) {
      $("hook-form").reset();
      $("hook-secret-url").textContent = r.data.url;
      $("hook-secret-value").textContent = r.data.secret;
      $("hook-secret-copied").textContent = "";
      $("hook-secret").hidden = false;
      $("hook-secret").focus();
      loadHooks();
    }, function (err) { showError(box, err, "Could not register the endpoint."); $("hook-url").focus(); })
      .then(function () { busy(btn, false); });
  });

  $("hook-secret-copy").addEventListener("click", function () {
    var text = $("hook-secret-value").textContent, out = $("hook-secret-copied");
    function selected() {
      var range = document.createRange();
      range.selectNodeContents($("hook-secret-value"));
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      out.textContent = "Copying is not allowed here: the secret is selected, press Ctrl+C (⌘C) to copy it.";
    }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { out.textContent = "Copied to the clipboard."; }, selected);
    } else selected();
  });
  $("hook-secret-done").addEventListener("click", function () {
    $("hook-secret-value").textContent = "";
    $("hook-secret").hidden = true;
    $("hook-url").focus();
  });

  /* ---- readiness strip ---------------------------------------------------------------------- */
  function checkReady() {
    fetch("/health/ready", { cache: "no-store" }).then(function (res) {
      return res.json().then(function (d) { return { ok: res.ok, d: d }; });
    }).then(function (r) {
      var el = $("status"), checks = (r.d && r.d.checks) || {};
      var failing = Object.keys(checks).filter(function (k) { return checks[k] && checks[k].ok === false; });
      if (r.ok && !failing.length) {
        el.className = "status good";
        el.textContent = "Server ready: " + Object.keys(checks).join(", ") + " ok.";
      } else {
        el.className = "status bad";
        el.textContent = "Server not ready — " + (failing.length ? failing.map(function (k) {
          return k + (checks[k].reason ? ": " + checks[k].reason : " failing");
        }).join("; ") : "status " + r.d.status) + ".";
      }
    }, function () {
      var el = $("status");
      el.className = "status bad";
      el.textContent = "Server not reachable — readiness could not be read.";
    });
  }

  window.addEventListener("hashchange", route);
  setAuthMode("signin");
  route();
  started = true;
  checkReady();
  setInterval(checkReady, 15000);
})();
