"""Chart tests: helm template/lint/install --dry-run=client against chart/bollard, offline.

Collected only with BOLLARD_CHART_TEST=1, which `make chart-test` (part of `make test`) sets after
building Helm, kvalidate and `chart`: the plain pytest run of `make test` does not run them twice,
and a missing tool is a failure there, never a skip.
"""
import os
import pytest

if os.environ.get("BOLLARD_CHART_TEST") != "1":
    collect_ignore_glob = ["test_*.py"]

from chartlib import SECRETS, helm_template, tool  # noqa: E402


@pytest.fixture(scope="session")
def helm():
    return tool("BOLLARD_HELM")


@pytest.fixture(scope="session")
def kvalidate():
    return tool("BOLLARD_KVALIDATE")


@pytest.fixture(scope="session")
def chart_lint():
    return tool("BOLLARD_CHART_LINT")


@pytest.fixture(scope="session")
def default_render():
    return helm_template(SECRETS)
