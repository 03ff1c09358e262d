"""Redis over TLS in the chart: config.redis.tls reaches the ConfigMap as REDIS_TLS_*, its Secret is
mounted read-only in every pod that talks to Redis (API, worker, `helm test`'s `bollard check`) and
in no other, and the binary's refusals (skip-verify outside dev, a certificate without its key) are
the chart's too."""
import pytest

from chartlib import SECRETS, helm_template

MOUNT = "/etc/bollard/redis-tls"
TLS = ["secret.redisUrl=rediss://app:pw@redis.example.com:6380/0", "config.redis.tls.secretName=redis-tls",
       f"config.redis.tls.caFile={MOUNT}/ca.crt", f"config.redis.tls.certFile={MOUNT}/tls.crt",
       f"config.redis.tls.keyFile={MOUNT}/tls.key"]


def mounts(spec):
    return {m["mountPath"]: m for c in spec.get("initContainers", []) + spec["containers"]
            for m in c.get("volumeMounts", [])}


def test_tls_settings_and_the_secret_reach_the_redis_pods():
    r = helm_template(SECRETS, sets=TLS)
    data = r.one("ConfigMap")["data"]
    assert data["REDIS_TLS_CA_FILE"] == f"{MOUNT}/ca.crt"
    assert data["REDIS_TLS_CERT_FILE"] == f"{MOUNT}/tls.crt" and data["REDIS_TLS_KEY_FILE"] == f"{MOUNT}/tls.key"
    assert data["REDIS_TLS_INSECURE_SKIP_VERIFY"] == "false"
    seen = set()
    for obj, _, spec in r.workloads():
        component = obj["metadata"]["labels"].get("app.kubernetes.io/component")
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        if component in ("api", "worker") or obj["kind"] == "Pod":
            assert mounts(spec)[MOUNT]["readOnly"] is True, obj["metadata"]["name"]
            assert volumes["redis-tls"]["secret"]["secretName"] == "redis-tls"
            seen.add(component if obj["kind"] != "Pod" else "test")
        else:  # the migration Jobs never talk to Redis
            assert "redis-tls" not in volumes and MOUNT not in mounts(spec), obj["metadata"]["name"]
    assert seen == {"api", "worker", "test"}


def test_nothing_tls_by_default():
    r = helm_template(SECRETS)
    data = r.one("ConfigMap")["data"]
    assert not any(k.startswith("REDIS_TLS_") and k != "REDIS_TLS_INSECURE_SKIP_VERIFY" for k in data)
    for _, _, spec in r.workloads():
        assert MOUNT not in mounts(spec)


@pytest.mark.parametrize("sets, message", [
    (["config.redis.tls.insecureSkipVerify=true"], "insecureSkipVerify is only allowed with config.environment dev"),
    (["config.redis.tls.certFile=/etc/bollard/redis-tls/tls.crt"], "certFile and keyFile go together"),
    (["config.redis.tls.keyFile=/etc/bollard/redis-tls/tls.key"], "certFile and keyFile go together"),
])
def test_refused_like_the_binary(sets, message):
    p = helm_template(SECRETS, sets=sets, check=False)
    assert p.returncode != 0 and message in p.stderr, p.stderr


def test_skip_verify_in_dev():
    r = helm_template(SECRETS, sets=["config.environment=dev", "config.redis.tls.insecureSkipVerify=true"])
    assert r.one("ConfigMap")["data"]["REDIS_TLS_INSECURE_SKIP_VERIFY"] == "true"


def test_schema_refuses_a_relative_path():
    p = helm_template(SECRETS, sets=["config.redis.tls.caFile=ca.crt"], check=False)
    assert p.returncode != 0
