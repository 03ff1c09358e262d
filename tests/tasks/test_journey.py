"""The whole user journey over HTTP: accounts, tasks CRUD, pagination, filters, ETags. The tests are
in tests/lib/journey.py, which tests/dev/test_journey_sqlite.py runs too (on SQLite); here they run
against `bollard api` on PostgreSQL (the `api` and `user` fixtures of tests/tasks/conftest.py)."""
from journey import *  # noqa: F401,F403 (the test functions are collected here)
