"""pkg/store on SQLite answers every call exactly as on PostgreSQL.

store-driver (tests/dev/store_driver.c) runs store calls from JSON lines on one back end; the same
scenario runs on both and the results are compared after replacing what is random per run (ids
become labels in order of appearance, created_at/updated_at become "<ts>" once their format is
checked). due_at values, statuses, versions, cursors (by label), list order and the outbox rows
written alongside each change must be identical."""
import json
import os
import re
import resource
import signal
import sqlite3
import subprocess
import uuid

import pytest

import harness

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
UNKNOWN = str(uuid.uuid4())

DUE_OK = [
    "2030-01-31T12:00:00Z",
    "2030-01-31T12:00:00.123456789Z",  # rounded to microseconds
    "2030-01-01T00:00:00.0000005Z",  # half-way: rounds as timestamptz does
    "2030-01-01T00:00:00.0000015Z",
    "2030-01-01T00:00:00.9999996Z",  # rounds up into the next second
    "2024-02-29T23:59:60Z",  # leap second rolls over into March
    "2024-12-31T24:00:00Z",
    "2030-06-01T00:00:00.5-05:30",
    "2030-06-01T00:00:00+0530",
    "2030-06-01T00:00:00+05",
    "2030-06-01 10:00:00Z",
    "1969-12-31T23:59:59.999999Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999999Z",
]
DUE_BAD = [
    "2023-02-29T00:00:00Z",
    "2030-13-01T00:00:00Z",
    "2030-01-01T25:00:00Z",
    "2030-01-01T24:00:01Z",
    "2030-01-01T00:60:00Z",
    "2030-01-01T00:00:61Z",
]  # (the store takes RFC 3339 only: the API refuses anything else, e.g. PostgreSQL's "tomorrow", first)


class Driver:
    def __init__(self, url, migrate=False, preexec_fn=None):
        args = [harness.binary("dev-tests/store-driver"), url] + (["--migrate"] if migrate else [])
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=harness.base_env(), preexec_fn=preexec_fn)
        self.results = []
        self.logs = []  # the driver's (and the store's) JSON log lines

    def send(self, cmd):
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            assert line, f"store-driver died: {self.proc.stderr.read()}"
            out = json.loads(line)
            if "ts" not in out:
                return out
            self.logs.append(line)

    def call(self, op, *args):
        out = self.send({"op": op, "args": list(args)})
        self.results.append((op, out))
        return out

    def close(self):
        self.proc.stdin.close()
        self.logs += [line for line in self.proc.stdout.read().splitlines() if line.strip()]
        rc = self.proc.wait(30)
        err = self.proc.stderr.read()
        assert rc == 0, err
        assert "AddressSanitizer" not in err and "runtime error:" not in err and "LeakSanitizer" not in err, err
        return err


def scenario(d):
    """Every store call with the interesting cases of each; returns nothing (d.results keeps all)."""
    d.call("schema_state")
    alice = d.call("user_create", "Alice@Example.COM", "hash-a")["user_id"]
    d.call("user_create", "alice@example.com", "hash-b")  # taken, case-insensitively
    d.call("user_by_email", "ALICE@example.com")
    d.call("user_by_email", "nobody@example.com")
    bob = d.call("user_create", "bob@example.com", "hash-c")["user_id"]

    first = d.call("task_create", alice, "first", "", False, None)["json"]["id"]
    d.call("task_create", alice, "second", "with a description", True, "2030-01-31T12:00:00Z")
    for due in DUE_OK + DUE_BAD:
        d.call("task_create", alice, "due " + due, "", False, due)
    d.call("task_create", alice, "é" * 200, "d" * 2000, False, None)  # limits count characters
    d.call("task_create", alice, "x" * 201, "", False, None)
    d.call("task_create", alice, "", "", False, None)
    d.call("task_create", alice, "ok", "d" * 2001, False, None)
    d.call("task_create", UNKNOWN, "no such user", "", False, None)
    d.call("task_create", "not-a-uuid", "bad user id", "", False, None)

    for spelling in (first, first.upper(), "{" + first + "}", first.replace("-", "")):
        d.call("task_get", alice, spelling)
    d.call("task_get", bob, first)  # another user's task does not exist for bob
    d.call("task_get", alice, UNKNOWN)
    d.call("task_get", alice, "abc")
    d.call("task_get", alice, first[:-1])

    d.call("task_replace", alice, first, 7, "renamed", "", False, None)  # stale version
    d.call("task_replace", alice, first, 1, "renamed", "now described", False, "2031-05-05T05:05:05Z")
    d.call("task_replace", alice, first, -1, "renamed again", "", True, None)  # completes it
    d.call("task_replace", alice, first, -1, "still complete", "", True, None)
    d.call("task_replace", bob, first, -1, "not bob's", "", False, None)
    d.call("task_replace", alice, UNKNOWN, -1, "gone", "", False, None)
    d.call("task_replace", alice, first, -1, "", "", False, None)  # violates the title check
    d.call("task_replace", alice, first, -1, "bad due", "", False, "2030-02-30T00:00:00Z")

    d.call("task_toggle", alice, first, 1)
    d.call("task_toggle", alice, first, 5)
    d.call("task_toggle", alice, first, -1)
    d.call("task_toggle", bob, first, -1)

    second = d.call("task_create", alice, "to delete", "", False, None)["json"]["id"]
    d.call("task_delete", alice, second, 9)
    d.call("task_delete", bob, second, -1)
    d.call("task_delete", alice, second, 1)
    d.call("task_delete", alice, second, -1)

    # pages of bob's tasks, newest first; filters; a cursor naming a deleted row still works
    ids = [d.call("task_create", bob, f"bob {i}", "", i % 3 == 0, None)["json"]["id"] for i in range(7)]
    cursor, pages = None, 0
    while True:
        page = d.call("task_list", bob, -1, 3, cursor)
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None or pages > 5:
            break
    for completed in (0, 1):
        d.call("task_list", bob, completed, 100, None)
    d.call("task_list", bob, -1, 7, None)  # exactly one page: no next cursor
    mid = d.call("task_list", bob, -1, 2, None)["next_cursor"]
    d.call("task_delete", bob, ids[4], -1)
    d.call("task_list", bob, -1, 10, mid)
    d.call("task_list", bob, 1, 1, mid)
    d.call("task_list", alice, -1, 1, None)
    d.call("task_list", str(uuid.uuid4()), -1, 5, None)
    d.call("task_list", bob, -1, 5, f"9223372036854775807.{UNKNOWN}")  # past every row
    d.call("task_list", bob, -1, 5, f"9999999999999999999.{UNKNOWN}")  # not a bigint
    d.call("task_list", bob, -1, 5, f"0.{UNKNOWN}")

    # text that is not UTF-8 (Latin-1 "café", an overlong "/", a surrogate): PostgreSQL refuses it
    for raw in ("636166e9", "c0af", "eda080"):
        d.call("user_by_email", {"hex": raw})
        d.call("task_create", alice, {"hex": raw}, "", False, None)

    # webhook endpoints: limit per user, listing order, secrets never listed, ownership
    events = json.dumps(["task.created", "task.completed"])
    hooks = [d.call("webhook_create", alice, f"https://example.com/hook/{i}", events, f"secret-{i}", 3)
             for i in range(4)]  # the fourth is over the limit
    d.call("webhook_create", bob, "https://example.com/bob", json.dumps(["task.deleted"]), "s", 3)
    d.call("webhook_create", alice, "https://example.com/x", "not json", "s", 10)
    d.call("webhook_create", alice, "https://example.com/x", '{"an": "object"}', "s", 10)
    d.call("webhook_create", alice, "https://example.com/x", "[]", "s", 10)  # violates the cardinality check
    d.call("webhook_create", "nope", "https://example.com/x", events, "s", 10)
    d.call("webhook_list", alice)
    d.call("webhook_list", str(uuid.uuid4()))
    d.call("webhook_list", "nope")
    first_hook = hooks[0]["json"]["id"]
    d.call("webhook_delete", bob, first_hook)
    d.call("webhook_delete", alice, first_hook)
    d.call("webhook_delete", alice, first_hook)
    d.call("webhook_delete", alice, "nope")
    d.call("webhook_list", alice)

    # a user that does not exist (a token that outlived its account): NO_USER from every call
    gone = [d.call("task_create", UNKNOWN, "t", "", False, None), d.call("task_get", UNKNOWN, first),
            d.call("task_list", UNKNOWN, -1, 5, None), d.call("task_list", UNKNOWN, 1, 5, mid),
            d.call("task_replace", UNKNOWN, first, -1, "t", "", False, None),
            d.call("task_replace", UNKNOWN, first, 1, "t", "", False, None),
            d.call("task_toggle", UNKNOWN, first, -1), d.call("task_delete", UNKNOWN, first, 2),
            d.call("webhook_create", UNKNOWN, "https://example.com/x", events, "s", 10),
            d.call("webhook_list", UNKNOWN), d.call("webhook_delete", UNKNOWN, first_hook)]
    assert [g["status"] for g in gone] == ["NO_USER"] * len(gone), gone
    # bob exists: his empty answers stay "not found" / empty
    assert d.call("task_get", bob, UNKNOWN)["status"] == "NOT_FOUND"
    assert d.call("webhook_delete", bob, UNKNOWN)["status"] == "NOT_FOUND"

    # cancel: the callback never runs
    out = d.send({"op": "cancel", "call": {"op": "task_list", "args": [bob, -1, 5, None]}})
    d.results.append(("cancel", out))


class Normalizer:
    def __init__(self):
        self.labels = {}
        self.created = {}  # label -> created_at text, for checking cursors

    def label(self, value):
        return self.labels.setdefault(value, f"<id{len(self.labels)}>")

    def webhook(self, w):
        assert list(w) == ["id", "url", "events", "created_at"] and TS.match(w["created_at"]), w
        return dict(w, id=self.label(w["id"]), created_at="<ts>")

    def task(self, t):
        assert set(t) == {"id", "title", "description", "completed", "due_at", "created_at", "updated_at"}, t
        assert list(t) == ["id", "title", "description", "completed", "due_at", "created_at", "updated_at"]
        assert TS.match(t["created_at"]) and TS.match(t["updated_at"]), t
        assert t["updated_at"] >= t["created_at"]
        assert t["due_at"] is None or TS.match(t["due_at"]), t
        out = dict(t, id=self.label(t["id"]), created_at="<ts>", updated_at="<ts>")
        self.created[out["id"]] = t["created_at"]
        return out

    def cursor(self, c):
        micros, _, ident = c.partition(".")
        assert micros.isdigit() and UUID.match(ident), c
        label = self.label(ident)
        return f"<cursor {label}>", int(micros)

    def result(self, op, r):
        r = dict(r)
        for key in ("user_id",):
            if r.get(key) is not None:
                assert UUID.match(r[key]), r
                r[key] = self.label(r[key])
        body = r.get("json")
        one = self.webhook if op.startswith("webhook") else self.task
        if isinstance(body, dict):
            r["json"] = one(body)
        elif isinstance(body, list):
            r["json"] = [one(t) for t in body]
        if r.get("next_cursor") is not None:
            r["next_cursor"], micros = self.cursor(r["next_cursor"])
            last = r["json"][-1]["id"]
            assert r["next_cursor"] == f"<cursor {last}>"
            r["cursor_matches_last_created_at"] = micros_of(self.created[last]) == micros
        return op, r


def micros_of(ts):
    import datetime
    dt = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    delta = dt - epoch
    return (delta.days * 86400 + delta.seconds) * 1000000 + delta.microseconds


def normalized(results):
    n = Normalizer()
    return [n.result(op, r) for op, r in results], n


def outbox_sqlite(path):
    with sqlite3.connect(path) as conn:
        return [(t, json.loads(p)) for t, p in conn.execute("SELECT type, payload FROM outbox ORDER BY id")]


def outbox_pg(pg, db):
    text = pg.psql("SELECT coalesce(json_agg(json_build_array(type, payload) ORDER BY id), '[]') FROM outbox",
                   db=db)
    return [tuple(x) for x in json.loads(text)]


def normalized_outbox(rows, n):
    out = []
    for kind, payload in rows:
        payload = dict(payload)
        assert payload["id"] in n.labels, payload
        out.append((kind, dict(payload, id=n.labels[payload["id"]], created_at="<ts>", updated_at="<ts>")))
    return out


@pytest.fixture
def pg_db(pg):
    name = "store_parity"
    url = pg.new_database(name)
    env = harness.base_env(pg, None, DATABASE_URL=url)
    out = harness.run(["migrate"], env, timeout=60)
    assert out.returncode == 0, out.stderr
    return url, name


def test_sqlite_answers_like_postgresql(pg, pg_db, tmp_path):
    url, name = pg_db
    db = tmp_path / "parity.db"
    sq = Driver(f"sqlite:{db}", migrate=True)
    scenario(sq)
    sq.close()
    pq = Driver(url)
    scenario(pq)
    pq.close()

    got, n_sq = normalized(sq.results)
    want, n_pg = normalized(pq.results)
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"call {i} ({w[0]}): SQLite {g[1]} != PostgreSQL {w[1]}"
    assert all(r.get("cursor_matches_last_created_at", True) for _, r in got)
    assert got[-1] == ("cancel", {"callbacks": 0})

    sq_outbox = normalized_outbox(outbox_sqlite(db), n_sq)
    pg_outbox = normalized_outbox(outbox_pg(pg, name), n_pg)
    assert sq_outbox == pg_outbox
    kinds = [k for k, _ in sq_outbox]
    assert {"task.created", "task.updated", "task.completed", "task.deleted"} == set(kinds)


def test_schema_state_before_migrations(pg, tmp_path):
    fresh_pg = pg.new_database("store_parity_fresh")
    outs = []
    for url in (f"sqlite:{tmp_path / 'fresh.db'}", fresh_pg):
        d = Driver(url)
        outs.append(d.call("schema_state"))
        d.close()
    assert outs[0] == outs[1] and outs[0]["schema_missing"] is True and outs[0]["status"] == "OK"


def test_queue_bound_and_destroy_with_work_in_flight(tmp_path):
    """512 calls outstanding at most (then STORE_BUSY at once); destroying the store with queued,
    running and undelivered calls frees them without calling back (the driver exits under ASan)."""
    d = Driver(f"sqlite:{tmp_path / 'flood.db'}", migrate=True)
    out = d.send({"op": "flood", "n": 600})
    assert out == {"accepted": 512, "busy": 88}
    d.close()


def test_write_failure_is_an_error_not_a_crash(tmp_path):
    """Writes that the file system refuses (here: past RLIMIT_FSIZE, so the WAL cannot grow, as on a
    full disk) give STORE_UNAVAILABLE (503 + Retry-After: the environment, not the request) with a
    log line naming the cause; reads keep working and so does the process."""
    db = tmp_path / "small.db"
    Driver(f"sqlite:{db}", migrate=True).close()

    def limit_file_size():
        # The -shm file needs 32 KiB; a few WAL frames fit above that, then writes fail with EFBIG.
        resource.setrlimit(resource.RLIMIT_FSIZE, (48 * 1024, 48 * 1024))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    d = Driver(f"sqlite:{db}", preexec_fn=limit_file_size)
    created = None
    for i in range(200):
        r = d.call("user_create", f"user{i}@example.com", "x" * 2000)
        if r["status"] != "OK":
            break
        created = f"user{i}@example.com"
    assert r["status"] == "UNAVAILABLE", r
    assert created is not None and d.call("user_by_email", created)["status"] == "OK"
    assert d.call("schema_state")["status"] == "OK"
    err = d.close()
    logs = [json.loads(line) for line in d.logs]
    assert any(line["level"] == "error" and ("I/O error" in line["msg"] or "disk is full" in line["msg"])
               for line in logs), (logs, err)
