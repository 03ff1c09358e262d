"""Fixtures for Redis Cluster: 3 masters and 3 replicas of real redis-server processes on free loopback
ports (harness.RedisCluster), one cluster per test (a test kills or moves nodes)."""
import pytest

import harness


@pytest.fixture
def cluster():
    c = harness.RedisCluster(masters=3, node_timeout_ms=1000)
    yield c
    c.destroy()
