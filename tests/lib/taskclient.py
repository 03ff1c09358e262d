"""HTTP client helpers for the tasks API tests."""
import uuid

import requests


class Client:
    def __init__(self, base, token=None, user_id=None):
        self.base, self.token, self.user_id = base, token, user_id
        self.s = requests.Session()

    def h(self, extra=None):
        h = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        h.update(extra or {})
        return h

    def get(self, path, **kw):
        return self.s.get(self.base + path, headers=self.h(kw.pop("headers", None)), timeout=10, **kw)

    def post(self, path, json=None, **kw):
        return self.s.post(self.base + path, json=json, headers=self.h(kw.pop("headers", None)), timeout=10, **kw)

    def put(self, path, json=None, **kw):
        return self.s.put(self.base + path, json=json, headers=self.h(kw.pop("headers", None)), timeout=10, **kw)

    def patch(self, path, **kw):
        return self.s.patch(self.base + path, headers=self.h(kw.pop("headers", None)), timeout=10, **kw)

    def delete(self, path, **kw):
        return self.s.delete(self.base + path, headers=self.h(kw.pop("headers", None)), timeout=10, **kw)


def signup(base, email=None, password="correct horse battery"):
    email = email or f"user-{uuid.uuid4().hex[:12]}@example.com"
    r = requests.post(base + "/api/auth/signup", json={"email": email, "password": password}, timeout=30)
    assert r.status_code == 201, r.text
    body = r.json()
    return Client(base, body["access_token"], body["user_id"]), email
