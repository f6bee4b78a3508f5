"""Who can reach what: NetworkPolicies for serving and Ray, and Ray's token authentication.

A Ray cluster runs whatever is submitted to it, and what it writes into the model store TF
Serving loads and runs, so reaching Ray is reaching production. These checks fail when a policy
admits a whole namespace or cluster, or when Ray's endpoints go unauthenticated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from packaging.version import Version

from serving import defaults

Docs = dict[str, list[dict[str, Any]]]
Find = Callable[..., dict[str, Any]]
OVERLAYS = ("cpu", "gpu", "bucket", "tuning", "tuning-ephemeral", "gateway")
RAY_HEAD_PORTS = {6379, 8265, 10001}  # GCS, dashboard (job API), Ray client


def policies(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == "NetworkPolicy"]


def rule_ports(rule: dict[str, Any]) -> set[int] | None:
    """The ports a rule opens (None: every port)."""
    return {p["port"] for p in rule["ports"]} if rule.get("ports") else None


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_policy_admits_a_whole_namespace_or_cluster(overlay: str, rendered: Docs) -> None:
    found = policies(rendered[overlay])
    assert found, f"{overlay} deploys no NetworkPolicy"
    for policy in found:
        name = policy["metadata"]["name"]
        assert "Ingress" in policy["spec"]["policyTypes"], name
        for rule in policy["spec"]["ingress"]:
            assert rule.get("from"), f"{name}: a rule without `from` admits everyone"
            for peer in rule["from"]:
                assert "ipBlock" not in peer, name
                assert peer.get("podSelector", {}).get("matchLabels"), (
                    f"{name}: {peer} selects every pod"
                )
                if "namespaceSelector" in peer:
                    assert peer["namespaceSelector"].get("matchLabels"), (
                        f"{name}: {peer} selects every namespace"
                    )


@pytest.mark.parametrize("overlay", ("cpu", "gpu", "bucket"))
def test_serving_admits_prometheus_from_the_monitoring_namespace_to_the_rest_port_only(
    overlay: str, rendered: Docs, find: Find, generator
) -> None:
    policy = find(rendered[overlay], "NetworkPolicy", "charloom-serving")
    prometheus = dict([generator.PROMETHEUS_LABEL])
    client = dict([generator.CLIENT_LABEL])
    for rule in policy["spec"]["ingress"]:
        for peer in rule["from"]:
            namespace = peer.get("namespaceSelector", {}).get("matchLabels")
            if peer["podSelector"]["matchLabels"] == prometheus:
                assert namespace == {"kubernetes.io/metadata.name": generator.MONITORING_NAMESPACE}
                assert rule_ports(rule) == {defaults.REST_PORT}
            else:
                assert peer["podSelector"]["matchLabels"] == client
                assert namespace in (None, dict([generator.CLIENT_NAMESPACE_LABEL])), (
                    "clients of other namespaces need a namespace label only an administrator sets"
                )


def test_ray_requires_a_token_everywhere(rendered: Docs, find: Find) -> None:
    ephemeral = find(rendered["tuning-ephemeral"], "RayJob")["spec"]["rayClusterSpec"]
    assert ephemeral["authOptions"] == {
        "mode": "token"
    }  # KubeRay gives the job's submitter the token
    docs = rendered["tuning"]
    cluster = find(docs, "RayCluster")
    assert cluster["spec"]["authOptions"] == {"mode": "token"}
    assert Version(cluster["spec"]["rayVersion"]) >= Version("2.52.0"), "token auth needs Ray 2.52"
    submitter = find(docs, "RayJob")["spec"]["submitterPodTemplate"]["spec"]["containers"][0]
    env = {e["name"]: e for e in submitter["env"]}
    assert env["RAY_AUTH_MODE"]["value"] == "token"
    secret = env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert secret == {"name": f"{cluster['metadata']['name']}-auth-secret", "key": "auth_token"}


@pytest.mark.parametrize("overlay", ("tuning", "tuning-ephemeral"))
def test_ray_pods_admit_only_their_cluster_the_submitter_and_the_operator(
    overlay: str, rendered: Docs, find: Find
) -> None:
    from tests.k8s.test_policy import pod_templates

    docs = rendered[overlay]
    policy = find(docs, "NetworkPolicy", "charloom-tune")
    ray_pods = policy["spec"]["podSelector"]["matchLabels"]
    templates = dict(pod_templates(docs))
    for where, template in templates.items():  # the policy selects every Ray pod, not the submitter
        selected = ray_pods.items() <= template["metadata"]["labels"].items()
        assert selected == (not where.endswith("/submitter")), where
    submitter = find(docs, "RayJob")["spec"]["submitterPodTemplate"]["metadata"]["labels"]
    for rule in policy["spec"]["ingress"]:
        ports = rule_ports(rule)
        for peer in rule["from"]:
            labels = peer["podSelector"]["matchLabels"]
            if labels == ray_pods:
                assert "namespaceSelector" not in peer  # the cluster's own namespace
            elif labels.items() <= submitter.items():
                assert ports == {8265}, "the submitter needs the job API only"
            elif labels == {"app.kubernetes.io/name": "kuberay-operator"}:
                assert ports == {8265} and peer["namespaceSelector"]["matchLabels"]
            else:
                assert ports is not None and not ports & RAY_HEAD_PORTS, (
                    f"{labels} may reach {ports}"
                )
