"""The tasks API journey of tests/tasks/test_journey.py (tests/lib/journey.py), test for test, against
`bollard dev` on its embedded SQLite file: the `api` and `user` fixtures here (tests/dev/conftest.py)
replace the PostgreSQL ones, so every journey test also proves the SQLite store answers as the
PostgreSQL one."""
from journey import *  # noqa: F401,F403 (the test functions are collected here too)
