"""Every overlay renders, and every rendered object validates offline.

Built-in kinds are checked with kubernetes-validate in strict mode (unknown fields are errors)
against pinned Kubernetes versions. KubeRay's RayCluster and RayJob are checked against the
structure KubeRay's v1 CRDs declare (ray-project/kuberay v1.7,
ray-operator/config/crd/bases/ray.io_{rayclusters,rayjobs}.yaml: required fields, field names,
types, enums) and against the operator's own spec rules (controllers/ray/utils/validation.go);
the pod templates inside them are validated as real Kubernetes PodTemplates.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

OVERLAYS = ("shared", "cpu", "gpu", "bucket", "tuning", "tuning-ephemeral", "gateway")
# 1.35: the oldest release the manifests promise to work on; 1.37: the pinned kubectl's release.
KUBERNETES_VERSIONS = ("1.35.0", "1.37.0")
KUBERAY_KINDS = {"RayCluster", "RayJob"}

# --- KubeRay v1 structure, hand-written from the CRDs -------------------------------------------
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_INT32_NON_NEGATIVE = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
_POD_TEMPLATE = {  # the CRD requires spec.containers and containers[].name
    "type": "object",
    "required": ["spec"],
    "properties": {
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["containers"],
            "properties": {
                "containers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "object", "required": ["name"]},
                }
            },
        },
    },
    "additionalProperties": False,
}
_HEAD_GROUP = {
    "type": "object",
    "required": ["template"],
    "properties": {
        "enableIngress": {"type": "boolean"},
        "headService": {"type": "object"},
        "ingressOptions": {"type": "object"},
        "labels": _STRING_MAP,
        "rayStartParams": _STRING_MAP,
        "resources": _STRING_MAP,
        "serviceType": {"type": "string"},
        "template": _POD_TEMPLATE,
    },
    "additionalProperties": False,
}
_WORKER_GROUP = {
    "type": "object",
    "required": ["groupName", "maxReplicas", "minReplicas", "template"],
    "properties": {
        "groupName": {"type": "string", "minLength": 1},
        "idleTimeoutSeconds": _INT32_NON_NEGATIVE,
        "labels": _STRING_MAP,
        "maxReplicas": _INT32_NON_NEGATIVE,
        "minReplicas": _INT32_NON_NEGATIVE,
        "numOfHosts": _INT32_NON_NEGATIVE,
        "priority": {"type": "integer"},
        "rayStartParams": _STRING_MAP,
        "replicas": _INT32_NON_NEGATIVE,
        "resources": _STRING_MAP,
        "scaleStrategy": {"type": "object"},
        "suspend": {"type": "boolean"},
        "template": _POD_TEMPLATE,
    },
    "additionalProperties": False,
}
_AUTOSCALER_OPTIONS = {
    "type": "object",
    "properties": {
        "args": {"type": "array"},
        "command": {"type": "array"},
        "env": {"type": "array"},
        "envFrom": {"type": "array"},
        "idleTimeoutSeconds": {"type": "integer"},
        "image": {"type": "string"},
        "imagePullPolicy": {"type": "string"},
        "resources": {"type": "object"},
        "securityContext": {"type": "object"},
        "upscalingMode": {"enum": ["Default", "Aggressive", "Conservative"]},
        "version": {"enum": ["v1", "v2"]},
        "volumeMounts": {"type": "array"},
    },
    "additionalProperties": False,
}
_AUTH_OPTIONS = {  # KubeRay 1.5.1+ AuthOptions (1.6 added secretName and enableK8sTokenAuth)
    "type": "object",
    "properties": {
        "mode": {"enum": ["disabled", "token"]},
        "secretName": {"type": "string"},
        "enableK8sTokenAuth": {"type": "boolean"},
    },
    "additionalProperties": False,
}
RAY_CLUSTER_SPEC = {
    "type": "object",
    "required": ["headGroupSpec"],
    "properties": {
        "authOptions": _AUTH_OPTIONS,
        "autoscalerOptions": _AUTOSCALER_OPTIONS,
        "enableInTreeAutoscaling": {"type": "boolean"},
        "gcsFaultToleranceOptions": {"type": "object"},
        "headGroupSpec": _HEAD_GROUP,
        "headServiceAnnotations": _STRING_MAP,
        "historyServerOptions": {"type": "object"},
        "managedBy": {"type": "string"},
        "networkPolicy": {"type": "object"},
        "rayVersion": {"type": "string"},
        "suspend": {"type": "boolean"},
        "tlsOptions": {"type": "object"},
        "upgradeStrategy": {"type": "object"},
        "workerGroupSpecs": {"type": "array", "items": _WORKER_GROUP},
    },
    "additionalProperties": False,
}
RAY_JOB_SPEC = {
    "type": "object",
    "properties": {
        "activeDeadlineSeconds": {"type": "integer"},
        "backoffLimit": {"type": "integer"},
        "clusterSelector": _STRING_MAP,
        "deletionStrategy": {"type": "object"},
        "entrypoint": {"type": "string"},
        "entrypointNumCpus": {"type": "number"},
        "entrypointNumGpus": {"type": "number"},
        "entrypointResources": {"type": "string"},
        "jobId": {"type": "string"},
        "managedBy": {"type": "string"},
        "metadata": _STRING_MAP,
        "preRunningDeadlineSeconds": {"type": "integer"},
        "rayClusterSpec": RAY_CLUSTER_SPEC,
        "runtimeEnvYAML": {"type": "string"},
        "shutdownAfterJobFinishes": {"type": "boolean"},
        # enum from apis/ray/v1/rayjob_types.go (the CRD leaves it a plain string)
        "submissionMode": {"enum": ["K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"]},
        "submitterConfig": {"type": "object"},
        "submitterPodTemplate": _POD_TEMPLATE,
        "suspend": {"type": "boolean"},
        "ttlSecondsAfterFinished": _INT32_NON_NEGATIVE,
    },
    "additionalProperties": False,
}


def _object_schema(kind: str, spec_schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "ray.io/v1"},
            "kind": {"const": kind},
            "metadata": {"type": "object", "required": ["name"]},
            "spec": spec_schema,
        },
    }


KUBERAY_SCHEMAS = {
    "RayCluster": _object_schema("RayCluster", RAY_CLUSTER_SPEC),
    "RayJob": _object_schema("RayJob", RAY_JOB_SPEC),
}


def kuberay_rule_violations(obj: dict[str, Any]) -> list[str]:
    """The operator's spec validation (validation.go) for the features these manifests use."""
    spec = obj["spec"]
    problems = []
    cluster = spec if obj["kind"] == "RayCluster" else spec.get("rayClusterSpec")
    if obj["kind"] == "RayJob":
        selector = spec.get("clusterSelector")
        if cluster is None and not selector:
            problems.append("one of rayClusterSpec or clusterSelector must be set")
        if selector is not None:
            if not selector.get("ray.io/cluster"):
                problems.append("clusterSelector needs a non-empty ray.io/cluster")
            if spec.get("submissionMode") == "SidecarMode":
                problems.append("clusterSelector is not supported in SidecarMode")
            if spec.get("backoffLimit", 0) > 0:
                problems.append("backoffLimit is incompatible with clusterSelector")
            if spec.get("suspend"):
                problems.append("clusterSelector mode cannot be suspended")
        if spec.get("suspend") and not spec.get("shutdownAfterJobFinishes"):
            problems.append("suspend needs shutdownAfterJobFinishes")
    if cluster is not None:
        for group in cluster.get("workerGroupSpecs", []):
            if group["minReplicas"] > group["maxReplicas"]:
                problems.append(f"worker group {group['groupName']}: minReplicas > maxReplicas")
            if cluster.get("enableInTreeAutoscaling") and group.get("suspend"):
                problems.append(f"worker group {group['groupName']} suspended with autoscaling")
    return problems


def pod_templates(obj: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, template) for every pod template inside a RayCluster or RayJob."""
    spec = obj["spec"]
    found = []
    cluster = spec if obj["kind"] == "RayCluster" else spec.get("rayClusterSpec")
    if cluster is not None:
        found.append(("headGroupSpec", cluster["headGroupSpec"]["template"]))
        found += [
            (f"workerGroupSpecs[{g['groupName']}]", g["template"])
            for g in cluster.get("workerGroupSpecs", [])
        ]
    if "submitterPodTemplate" in spec:
        found.append(("submitterPodTemplate", spec["submitterPodTemplate"]))
    return found


def as_pod_template(name: str, template: dict[str, Any]) -> dict[str, Any]:
    """A v1 PodTemplate wrapping `template`, so the Kubernetes schema can check it."""
    return {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": name},
        "template": template,
    }


# --- tests ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders(overlay: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    kinds = {doc["kind"] for doc in rendered[overlay]}
    if overlay == "shared":
        assert kinds == {"Namespace", "PersistentVolumeClaim"}
    elif overlay == "tuning":
        assert kinds == {"RayCluster", "RayJob", "NetworkPolicy"}
    elif overlay == "tuning-ephemeral":
        assert kinds == {"RayJob", "NetworkPolicy"}
    elif overlay == "gateway":
        assert kinds == {"Deployment", "Service", "NetworkPolicy"}
    else:
        assert {
            "ConfigMap",
            "Deployment",
            "Service",
            "HorizontalPodAutoscaler",
            "PodDisruptionBudget",
            "NetworkPolicy",
        } <= kinds
    if overlay != "shared":
        assert not kinds & {"Namespace", "PersistentVolumeClaim"}, (
            "`kubectl delete -k` of a workload overlay must not delete the namespace or the models"
        )
    assert all(
        doc["metadata"].get("namespace", "charloom") == "charloom" for doc in rendered[overlay]
    ), "every object lives in the charloom namespace"


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_builtin_objects_validate_strictly(
    overlay: str, version: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    checked = 0
    for doc in rendered[overlay]:
        if doc["kind"] in KUBERAY_KINDS:
            for where, template in pod_templates(doc):
                kubernetes_validate.validate(
                    as_pod_template(f"{doc['metadata']['name']}-{where}", template),
                    version,
                    strict=True,
                )
                checked += 1
            continue
        kubernetes_validate.validate(doc, version, strict=True)
        checked += 1
    assert checked >= 2


def test_strict_validation_rejects_an_unknown_field(
    rendered: dict[str, list[dict[str, Any]]], find: Callable[..., dict[str, Any]]
) -> None:
    """Guards the check above: a misspelt field must not pass."""
    deployment = copy.deepcopy(find(rendered["cpu"], "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSIONS[0], strict=True)


@pytest.mark.parametrize("kind", sorted(KUBERAY_KINDS))
def test_kuberay_objects_match_the_crd(
    kind: str, rendered: dict[str, list[dict[str, Any]]], find: Callable[..., dict[str, Any]]
) -> None:
    obj = find(rendered["tuning"], kind)
    jsonschema.validate(obj, KUBERAY_SCHEMAS[kind])
    assert kuberay_rule_violations(obj) == []


def test_kuberay_autoscaler_sidecar_is_a_valid_container(
    rendered: dict[str, list[dict[str, Any]]], find: Callable[..., dict[str, Any]]
) -> None:
    """KubeRay copies autoscalerOptions.resources/securityContext into the sidecar container."""
    cluster = find(rendered["tuning"], "RayCluster")
    options = cluster["spec"]["autoscalerOptions"]
    container = {
        "name": "autoscaler",
        "image": "rayproject/ray:2.60.0",
        "resources": options["resources"],
        "securityContext": options["securityContext"],
    }
    kubernetes_validate.validate(
        as_pod_template("autoscaler", {"spec": {"containers": [container]}}),
        KUBERNETES_VERSIONS[0],
        strict=True,
    )


@pytest.mark.parametrize(
    "mutation, message",
    [
        (lambda c: c["spec"].pop("headGroupSpec"), "'headGroupSpec' is a required property"),
        (lambda c: c["spec"]["workerGroupSpecs"][0].pop("maxReplicas"), "'maxReplicas'"),
        (
            lambda c: c["spec"]["headGroupSpec"]["rayStartParams"].update({"num-cpus": 0}),
            "not of type",
        ),
        (lambda c: c["spec"].update({"workerGroupSpec": []}), "Additional properties"),
    ],
)
def test_kuberay_schema_rejects_broken_clusters(
    mutation: Callable[[dict[str, Any]], object],
    message: str,
    rendered: dict[str, list[dict[str, Any]]],
    find: Callable[..., dict[str, Any]],
) -> None:
    cluster = copy.deepcopy(find(rendered["tuning"], "RayCluster"))
    mutation(cluster)
    with pytest.raises(jsonschema.ValidationError, match=message):
        jsonschema.validate(cluster, KUBERAY_SCHEMAS["RayCluster"])


def test_kuberay_rules_reject_a_retrying_selector_job(
    rendered: dict[str, list[dict[str, Any]]], find: Callable[..., dict[str, Any]]
) -> None:
    job = copy.deepcopy(find(rendered["tuning"], "RayJob"))
    job["spec"]["backoffLimit"] = 2
    assert kuberay_rule_violations(job) == ["backoffLimit is incompatible with clusterSelector"]
