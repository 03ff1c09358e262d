"""/metrics off the public port (CONTRACT §4, issue 18 item 1): the API container has a port `metrics`
(metrics.port, METRICS_PORT); the public Service (and so its NodePort, LoadBalancer, Ingress and
HTTPRoute) never carries it; a headless `<fullname>-metrics` Service does, and the ServiceMonitor
scrapes that Service's port by name; the NetworkPolicy admits it from the monitoring namespace only."""
import pytest

from chartlib import SECRETS, helm_template

PUBLIC_LABEL = "app.kubernetes.io/component"


@pytest.fixture(scope="module")
def everything_on():
    return helm_template(SECRETS, sets=[
        "service.type=NodePort", "service.nodePort=30081", "serviceMonitor.enabled=true",
        "networkPolicy.enabled=true", "networkPolicy.apiIngressFrom[0].podSelector.matchLabels.role=gateway",
        "ingress.enabled=true", "httpRoute.enabled=true", "httpRoute.parentRefs[0].name=gw"])


def test_container_port_and_env(default_render):
    c = default_render.one("Deployment", "api")["spec"]["template"]["spec"]["containers"][0]
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": 8000, "metrics": 9090}
    assert default_render.one("ConfigMap")["data"]["METRICS_PORT"] == "9090"
    r = helm_template(SECRETS, sets=["metrics.port=9300"])
    c = r.one("Deployment", "api")["spec"]["template"]["spec"]["containers"][0]
    assert {p["name"]: p["containerPort"] for p in c["ports"]}["metrics"] == 9300
    assert r.one("ConfigMap")["data"]["METRICS_PORT"] == "9300"
    assert r.one("Service", "metrics")["spec"]["ports"][0]["port"] == 9300


def test_public_service_never_carries_the_metrics_port(default_render, everything_on):
    for r in (default_render, everything_on):
        svc = r.one("Service", "api")
        assert [p["name"] for p in svc["spec"]["ports"]] == ["http"]
        assert all(p["targetPort"] == "http" and p["port"] != 9090 for p in svc["spec"]["ports"])
    assert everything_on.one("Service", "api")["spec"]["ports"][0]["nodePort"] == 30081
    # the ways in all point at the public Service's http port
    ingress = everything_on.one("Ingress")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"]["name"] == "rel-bollard"
            assert path["backend"]["service"]["port"] == {"name": "http"}
    for rule in everything_on.one("HTTPRoute")["spec"]["rules"]:
        assert [b["name"] for b in rule["backendRefs"]] == ["rel-bollard"]


def test_headless_metrics_service(default_render):
    svc = default_render.one("Service", "metrics")
    api = default_render.one("Service", "api")
    assert svc["metadata"]["name"] == "rel-bollard-metrics"
    assert svc["spec"]["type"] == "ClusterIP" and svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["publishNotReadyAddresses"] is True  # an unready pod's figures matter most
    assert svc["spec"]["selector"] == api["spec"]["selector"]
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP",
                                     "appProtocol": "http"}]


def test_service_monitor_targets_the_metrics_service_by_port_name(everything_on):
    sm = everything_on.one("ServiceMonitor")
    assert [(e["port"], e["path"]) for e in sm["spec"]["endpoints"]] == [("metrics", "/metrics")]
    wanted = sm["spec"]["selector"]["matchLabels"]

    def selected(svc):
        return all(svc["metadata"]["labels"].get(k) == v for k, v in wanted.items())

    assert [s["metadata"]["name"] for s in everything_on.kinds("Service") if selected(s)] == ["rel-bollard-metrics"]
    assert "metrics" in [p["name"] for p in everything_on.one("Service", "metrics")["spec"]["ports"]]


def test_network_policy_admits_metrics_from_the_monitoring_namespace_only(everything_on):
    np = everything_on.one("NetworkPolicy", name="rel-bollard-api")
    api_rule, metrics_rule = np["spec"]["ingress"]
    assert api_rule["ports"] == [{"port": "http", "protocol": "TCP"}]  # unchanged: apiIngressFrom + helm test
    assert api_rule["from"][0] == {"podSelector": {"matchLabels": {"role": "gateway"}}}
    assert metrics_rule == {"ports": [{"port": "metrics", "protocol": "TCP"}],
                            "from": [{"namespaceSelector": {"matchLabels": {
                                "kubernetes.io/metadata.name": "monitoring"}}}]}
    r = helm_template(SECRETS, sets=["networkPolicy.enabled=true", "metrics.networkPolicy.namespaceSelector=null",
                                     "metrics.networkPolicy.namespaceSelector.matchLabels.team=observability"],
                      check=False)
    # null deletes the required default (the schema refuses); a replacement selector is given whole
    assert r.returncode != 0
    custom = helm_template(SECRETS, sets=[
        "networkPolicy.enabled=true",
        "metrics.networkPolicy.namespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name=prom"])
    rule = custom.one("NetworkPolicy", name="rel-bollard-api")["spec"]["ingress"][1]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "prom"}}}]
    # The API port's rule without apiIngressFrom stays open to any source, the metrics rule does not.
    open_api = helm_template(SECRETS, sets=["networkPolicy.enabled=true"])
    api_rule, metrics_rule = open_api.one("NetworkPolicy", name="rel-bollard-api")["spec"]["ingress"]
    assert "from" not in api_rule and metrics_rule["from"]


def test_metrics_port_equal_to_config_port_fails_the_render():
    p = helm_template(SECRETS, sets=["metrics.port=8000"], check=False)
    assert p.returncode != 0 and "metrics.port (8000) must differ from config.port (8000)" in p.stderr


def test_prometheus_rule_selects_the_metrics_service_job():
    rule = helm_template(SECRETS, sets=["prometheusRule.enabled=true"]).one("PrometheusRule")
    exprs = [r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert any('job="rel-bollard-metrics"' in e for e in exprs)
    assert not any('job="rel-bollard"' in e for e in exprs)
