"""Fixtures for Redis Cluster: 3 masters and 3 replicas of real redis-server processes on free loopback
ports (harness.RedisCluster), one cluster per test (a test kills or moves nodes), and an ACL user on
every node that may not run CLUSTER (so its connections learn the cluster from MOVED replies only)."""
import pytest

import harness

ACL_USER = "bollard-app"
ACL_PASSWORD = "cluster-acl-Pw-7f3a"


@pytest.fixture
def cluster():
    c = harness.RedisCluster(masters=3, node_timeout_ms=1000)
    yield c
    c.destroy()
