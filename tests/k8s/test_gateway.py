"""The gateway's manifests: from serving/defaults.py like the rest of k8s/; round-robin over TF
Serving's headless Service; HTTP probes on /health and /ready; an optional API key Secret; and
the path applications -> gateway -> TF Serving only."""

from __future__ import annotations

from typing import Any

from serving import defaults

Docs = dict[str, list[dict[str, Any]]]


def test_gateway_targets_every_tf_serving_pod(rendered: Docs, find, generator) -> None:
    deployment = find(rendered["gateway"], "Deployment", "charloom-gateway")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    headless = find(rendered["cpu"], "Service", "charloom-serving-headless")
    assert headless["spec"]["clusterIP"] == "None"
    host = f"{headless['metadata']['name']}.{headless['metadata']['namespace']}.svc.cluster.local"
    assert f"--target=dns:///{host}:{defaults.GRPC_PORT}" in args
    assert "--load-balancing=round_robin" in args
    assert f"--max-rows-per-call={defaults.MAX_BATCH_SIZE}" in args
    assert container["command"] == ["charloom", "gateway"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": defaults.GATEWAY_HTTP_PORT, "grpc": defaults.GATEWAY_GRPC_PORT}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    [env] = container["env"]
    assert env["name"] == "CHARLOOM_GATEWAY_API_KEY"
    assert env["valueFrom"]["secretKeyRef"] == {
        "name": generator.GATEWAY_API_KEY_SECRET,
        "key": "key",
        "optional": True,
    }
    service = find(rendered["gateway"], "Service", "charloom-gateway")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert {p["port"] for p in service["spec"]["ports"]} == set(ports.values())


def test_applications_reach_the_gateway_and_only_it_reaches_tf_serving(
    rendered: Docs, find, generator
) -> None:
    gateway = find(rendered["gateway"], "Deployment", "charloom-gateway")
    gateway_labels = gateway["spec"]["template"]["metadata"]["labels"]
    serving_policy = find(rendered["cpu"], "NetworkPolicy", "charloom-serving")
    admitted = [
        peer["podSelector"]["matchLabels"]
        for rule in serving_policy["spec"]["ingress"]
        for peer in rule["from"]
    ]
    assert any(all(gateway_labels.get(k) == v for k, v in labels.items()) for labels in admitted)
    policy = find(rendered["gateway"], "NetworkPolicy", "charloom-gateway")
    assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    apps = dict([generator.GATEWAY_CLIENT_LABEL])
    [apps_rule, prometheus_rule] = policy["spec"]["ingress"]
    assert all(peer["podSelector"]["matchLabels"] == apps for peer in apps_rule["from"])
    assert {p["port"] for p in prometheus_rule["ports"]} == {defaults.GATEWAY_HTTP_PORT}
    [to_serving, dns] = policy["spec"]["egress"]
    assert to_serving["to"] == [{"podSelector": {"matchLabels": generator.SELECTOR_LABELS}}]
    assert to_serving["ports"] == [{"protocol": "TCP", "port": defaults.GRPC_PORT}]
    assert {p["port"] for p in dns["ports"]} == {53}


def test_the_gateway_accepts_its_deployment_flags(rendered: Docs, find) -> None:
    """The Deployment's arguments parse into a valid GatewayConfig with the real CLI."""
    from charloom.cli import build_parser
    from serving.gateway.config import GatewayConfig

    deployment = find(rendered["gateway"], "Deployment", "charloom-gateway")
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    parser, _ = build_parser()
    args = parser.parse_args(["gateway", *container["args"]])
    fields = {k: v for k, v in vars(args).items() if k in GatewayConfig.__dataclass_fields__}
    config = GatewayConfig(**fields)
    assert config.port == defaults.GATEWAY_HTTP_PORT and config.load_balancing == "round_robin"
