"""Render the kustomize inputs that carry serving/defaults.py's values.

The model name, ports, paths and batching parameters live in one place, serving/defaults.py,
which the local server and the client already import. Kubernetes manifests cannot import Python,
so this script writes the files that repeat those values (the TF Serving config files shipped in
the ConfigMap, and the Deployment, Service and NetworkPolicy that name ports and paths). The
output is committed; tests/k8s regenerates it and fails when it differs, so a change to
defaults.py cannot silently leave the cluster on old values.

    .venv/bin/python k8s/generate.py          # rewrite the generated files
    .venv/bin/python k8s/generate.py --check  # exit 1 if any generated file is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

K8S_DIR = Path(__file__).resolve().parent
REPO_ROOT = K8S_DIR.parent
if str(REPO_ROOT) not in sys.path:  # run as a script from a checkout without an installed package
    sys.path.insert(0, str(REPO_ROOT))

from serving import defaults  # noqa: E402  (needs the sys.path line above)

# The official image, pinned to the newest tags confirmed published (serving/defaults.py says
# which and why); the test suite proves the exports under each one's TensorFlow.
TF_SERVING_IMAGE = "tensorflow/serving"
TF_SERVING_VERSION = defaults.TF_SERVING_CPU_VERSION
TF_SERVING_GPU_TAG = f"{defaults.TF_SERVING_GPU_VERSION}-gpu"

APP_NAME = "charloom-serving"
SELECTOR_LABELS = {"app.kubernetes.io/name": APP_NAME}
COMMON_LABELS = {
    **SELECTOR_LABELS,
    "app.kubernetes.io/component": "serving",
    "app.kubernetes.io/part-of": "charloom",
}
# Only pods carrying this label may open connections to the serving pods (NetworkPolicy): in the
# serving namespace, or in a namespace an administrator labelled with CLIENT_NAMESPACE_LABEL
# (a pod's own labels are set by whoever deploys it; a namespace's are not).
CLIENT_LABEL = ("charloom.dev/serving-client", "true")
CLIENT_NAMESPACE_LABEL = ("charloom.dev/serving-clients", "true")
# Prometheus pods of the monitoring namespace may scrape the REST port, nothing else (the REST
# port also serves TF Serving's REST Predict API, so it is not opened wider).
PROMETHEUS_LABEL = ("app.kubernetes.io/name", "prometheus")
MONITORING_NAMESPACE = "monitoring"

CONFIG_MAP = "charloom-serving-config"
CONFIG_DIR_IN_CONTAINER = "/etc/charloom-serving"
MODELS_CONFIG = "models.config"
BATCHING_CONFIG = "batching.config"
MONITORING_CONFIG = "monitoring.config"

# One ReadWriteMany claim shared by tuning (writes) and serving (reads). Ray pods mount its root
# at SHARED_MOUNT; serving mounts only MODEL_STORE_SUBPATH at MODEL_BASE_PATH_IN_CONTAINER, so
# `charloom tune --model-base-path {SHARED_MOUNT}/{MODEL_STORE_SUBPATH}` exports straight into
# the directory TF Serving polls.
SHARED_CLAIM = "charloom-shared"
SHARED_MOUNT = "/mnt/shared"
MODEL_STORE_SUBPATH = f"models/{defaults.MODEL_NAME}"
RAY_RESULTS_SUBPATH = "ray-results"
# The bucket overlay: TF Serving reads gs:// paths natively (GCS is built into TensorFlow).
BUCKET_MODEL_BASE_PATH = f"gs://charloom-models/models/{defaults.MODEL_NAME}"

# TF Serving needs no particular user. Use the Ray image's ray:users (1000:100), the owner of
# everything tuning writes to the shared store, so both sides agree on the volume's group.
RUN_AS_USER = 1000
RUN_AS_GROUP = 100


def models_config(base_path: str) -> str:
    """TF Serving's --model_config_file: one model, latest version (hot-loads new versions)."""
    return (
        "model_config_list {\n"
        "  config {\n"
        f'    name: "{defaults.MODEL_NAME}"\n'
        f'    base_path: "{base_path}"\n'
        '    model_platform: "tensorflow"\n'
        "    model_version_policy { latest { num_versions: 1 } }\n"
        "  }\n"
        "}\n"
    )


def batching_config() -> str:
    """TF Serving's --batching_parameters_file (BatchingParameters text proto)."""
    fields = {
        "max_batch_size": defaults.MAX_BATCH_SIZE,
        "batch_timeout_micros": defaults.BATCH_TIMEOUT_MICROS,
        "max_enqueued_batches": defaults.MAX_ENQUEUED_BATCHES,
        "num_batch_threads": defaults.NUM_BATCH_THREADS,
    }
    return "".join(f"{name} {{ value: {value} }}\n" for name, value in fields.items())


def monitoring_config() -> str:
    """TF Serving's --monitoring_config_file: Prometheus metrics on the REST port."""
    return f'prometheus_config {{ enable: true, path: "{defaults.MONITORING_PATH}" }}\n'


# CPUs of a serving container (its limit): TF Serving sizes its thread pools by the node's cores,
# not the container's, so the flags below are derived from these.
SERVING_CPUS = 2
GPU_SERVING_CPUS = 4
# gRPC channels are long-lived and stick to one pod: a connection is closed after this age (its
# calls get the grace to finish; clients reconnect, through the Service, to any pod), so
# clients spread over pods added by the HPA. Clients that want every call spread use the
# headless Service with round_robin (docs/kubernetes.md).
MAX_CONNECTION_AGE_MS = 300_000
MAX_CONNECTION_AGE_GRACE_MS = 30_000
HEADLESS_SERVICE = f"{APP_NAME}-headless"


def thread_args(cpus: int) -> list[str]:
    """TensorFlow's and the REST server's pools sized for ``cpus`` (TF Serving's defaults: the node's
    cores, and 4 REST threads per core)."""
    return [
        f"--tensorflow_intra_op_parallelism={cpus}",
        f"--tensorflow_inter_op_parallelism={cpus}",
        f"--rest_api_num_threads={4 * cpus}",
    ]


def server_args(cpus: int = SERVING_CPUS) -> list[str]:
    """tensorflow_model_server flags; tests check each name against TF Serving's main.cc."""
    config = CONFIG_DIR_IN_CONTAINER
    return [
        f"--port={defaults.GRPC_PORT}",
        f"--rest_api_port={defaults.REST_PORT}",
        f"--model_config_file={config}/{MODELS_CONFIG}",
        "--enable_batching=true",
        f"--batching_parameters_file={config}/{BATCHING_CONFIG}",
        f"--file_system_poll_wait_seconds={defaults.FILE_SYSTEM_POLL_WAIT_SECONDS}",
        f"--monitoring_config_file={config}/{MONITORING_CONFIG}",
        "--enable_grpc_healthcheck_service=true",
        f"--grpc_channel_arguments=grpc.max_connection_age_ms={MAX_CONNECTION_AGE_MS},"
        f"grpc.max_connection_age_grace_ms={MAX_CONNECTION_AGE_GRACE_MS}",
        *thread_args(cpus),
    ]


def _grpc_probe(period: int, failures: int, timeout: int = 5) -> dict[str, Any]:
    # --enable_grpc_healthcheck_service answers grpc.health.v1; the port opens only after the
    # models in the config file have loaded, so a passing probe means the model is servable.
    return {
        "grpc": {"port": defaults.GRPC_PORT},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}


def _restricted_pod(containers: list, volumes: list, **security: Any) -> dict[str, Any]:
    """A pod spec under the restricted Pod Security Standard, as the project's user and group."""
    return {
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS_USER,
            "runAsGroup": RUN_AS_GROUP,
            **security,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationGracePeriodSeconds": 30,
        "containers": containers,
        "volumes": volumes,
    }


def _rolling_deployment(
    name: str,
    labels: dict,
    selector: dict,
    pod_labels: dict,
    metrics_port: int,
    metrics_path: str,
    pod_spec: dict,
) -> dict[str, Any]:
    """Two replicas, rolled one new pod at a time with none unavailable, scraped by Prometheus."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(metrics_port),
                        "prometheus.io/path": metrics_path,
                    },
                },
                "spec": pod_spec,
            },
        },
    }


def _cluster_service(name: str, labels: dict, selector: dict, ports: list) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "labels": labels},
        "spec": {"type": "ClusterIP", "selector": selector, "ports": ports},
    }


def deployment() -> dict[str, Any]:
    """The TF Serving Deployment, restricted Pod Security Standard, model store read-only."""
    container = {
        "name": "tensorflow-serving",
        "image": f"{TF_SERVING_IMAGE}:{TF_SERVING_VERSION}",
        "imagePullPolicy": "IfNotPresent",
        # The image's entrypoint script adds --model_name/--model_base_path; call the binary.
        "command": ["/usr/bin/tensorflow_model_server"],
        "args": server_args(),
        "ports": [
            {"name": "grpc", "containerPort": defaults.GRPC_PORT, "protocol": "TCP"},
            {"name": "http", "containerPort": defaults.REST_PORT, "protocol": "TCP"},
        ],
        "startupProbe": _grpc_probe(period=5, failures=60),  # up to 5 min for the first load
        "readinessProbe": _grpc_probe(period=10, failures=3),
        "livenessProbe": _grpc_probe(period=20, failures=3),
        "resources": {
            "requests": {"cpu": "1", "memory": "1Gi"},
            "limits": {"cpu": str(SERVING_CPUS), "memory": "2Gi"},
        },
        "securityContext": RESTRICTED_CONTAINER,
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR_IN_CONTAINER, "readOnly": True},
            {
                "name": "model-store",
                "mountPath": defaults.MODEL_BASE_PATH_IN_CONTAINER,
                "subPath": MODEL_STORE_SUBPATH,
                "readOnly": True,
            },
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    pod_spec = _restricted_pod(
        [container],
        [
            {"name": "config", "configMap": {"name": CONFIG_MAP}},
            {
                "name": "model-store",
                "persistentVolumeClaim": {"claimName": SHARED_CLAIM, "readOnly": True},
            },
            {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
        ],
        fsGroup=RUN_AS_GROUP,
        fsGroupChangePolicy="OnRootMismatch",
    )
    return _rolling_deployment(
        APP_NAME,
        COMMON_LABELS,
        SELECTOR_LABELS,
        COMMON_LABELS,
        defaults.REST_PORT,
        defaults.MONITORING_PATH,
        pod_spec,
    )


def _service_port(name: str, port: int) -> dict[str, Any]:
    """A Service port onto the container port of the same name (and protocol)."""
    return {"name": name, "port": port, "targetPort": name, "protocol": "TCP", "appProtocol": name}


def service() -> dict[str, Any]:
    """ClusterIP Service: gRPC for clients, HTTP for model status and metrics."""
    ports = [_service_port("grpc", defaults.GRPC_PORT), _service_port("http", defaults.REST_PORT)]
    return _cluster_service(APP_NAME, COMMON_LABELS, SELECTOR_LABELS, ports)


def headless_service() -> dict[str, Any]:
    """A headless Service: DNS answers every ready pod's address, for client-side load balancing
    (``dns:///charloom-serving-headless.charloom.svc.cluster.local:8500`` with round_robin)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": HEADLESS_SERVICE, "labels": COMMON_LABELS},
        "spec": {
            "clusterIP": "None",
            "selector": SELECTOR_LABELS,
            "ports": [_service_port("grpc", defaults.GRPC_PORT)],
        },
    }


def gpu_patch() -> dict[str, Any]:
    """The GPU overlay's Deployment patch: one GPU, more CPUs, and thread flags to match."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": APP_NAME},
        "spec": {
            "template": {
                "spec": {
                    "tolerations": [
                        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
                    ],
                    "containers": [
                        {
                            "name": "tensorflow-serving",
                            "args": server_args(GPU_SERVING_CPUS),
                            "resources": {
                                "requests": {
                                    "cpu": str(GPU_SERVING_CPUS // 2),
                                    "memory": "4Gi",
                                    "nvidia.com/gpu": "1",
                                },
                                "limits": {
                                    "cpu": str(GPU_SERVING_CPUS),
                                    "memory": "8Gi",
                                    "nvidia.com/gpu": "1",
                                },
                            },
                        }
                    ],
                }
            }
        },
    }


# The ephemeral RayJob: a bounded run that creates its own cluster and deletes it afterwards.
EPHEMERAL_JOB = "charloom-tune-once"
EPHEMERAL_TTL_SECONDS = 600  # how long the finished job (and its logs) stays before deletion
EPHEMERAL_DEADLINE_SECONDS = 24 * 3600  # the job fails if it runs longer


def ephemeral_rayjob(root: Path = K8S_DIR) -> dict[str, Any]:
    """overlays/tuning-ephemeral's RayJob: the long-lived RayCluster's spec as its rayClusterSpec and
    the long-lived RayJob's entrypoint and submitter, so the two variants cannot drift apart."""
    cluster = yaml.safe_load(
        (root / "base" / "tuning" / "raycluster.yaml").read_text(encoding="utf-8")
    )
    job = yaml.safe_load((root / "base" / "tuning" / "rayjob.yaml").read_text(encoding="utf-8"))
    submitter = job["spec"]["submitterPodTemplate"]
    for container in submitter["spec"]["containers"]:
        # KubeRay gives the submitter of a cluster it creates for the job that cluster's token.
        container["env"] = [
            e for e in container.get("env", []) if not e["name"].startswith("RAY_AUTH_")
        ]
        if not container["env"]:
            del container["env"]
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": EPHEMERAL_JOB, "labels": job["metadata"]["labels"]},
        "spec": {
            "entrypoint": job["spec"]["entrypoint"],
            "submissionMode": job["spec"]["submissionMode"],
            "shutdownAfterJobFinishes": True,
            "ttlSecondsAfterFinished": EPHEMERAL_TTL_SECONDS,
            "activeDeadlineSeconds": EPHEMERAL_DEADLINE_SECONDS,
            "backoffLimit": 0,
            "rayClusterSpec": cluster["spec"],
            "submitterPodTemplate": submitter,
        },
    }


def network_policy() -> dict[str, Any]:
    """Ingress only from labelled clients of this namespace or of labelled namespaces (both
    ports), and from Prometheus in the monitoring namespace (REST port only)."""
    both_ports = [
        {"protocol": "TCP", "port": defaults.GRPC_PORT},
        {"protocol": "TCP", "port": defaults.REST_PORT},
    ]
    clients = {"matchLabels": dict([CLIENT_LABEL])}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": APP_NAME, "labels": COMMON_LABELS},
        "spec": {
            "podSelector": {"matchLabels": SELECTOR_LABELS},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [
                        {"podSelector": clients},
                        {
                            "namespaceSelector": {"matchLabels": dict([CLIENT_NAMESPACE_LABEL])},
                            "podSelector": clients,
                        },
                    ],
                    "ports": both_ports,
                },
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}
                            },
                            "podSelector": {"matchLabels": dict([PROMETHEUS_LABEL])},
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": defaults.REST_PORT}],
                },
            ],
        },
    }


# -- the generation gateway (serving/gateway): applications -> gateway -> TF Serving -------------
GATEWAY_NAME = "charloom-gateway"
GATEWAY_SELECTOR = {"app.kubernetes.io/name": GATEWAY_NAME}
GATEWAY_LABELS = {**COMMON_LABELS, **GATEWAY_SELECTOR, "app.kubernetes.io/component": "gateway"}
GATEWAY_CLIENT_LABEL = ("charloom.dev/gateway-client", "true")  # applications allowed in
GATEWAY_IMAGE = "charloom-trainer:0.1.0-ray2.60.0"  # k8s/trainer/Dockerfile: charloom installed
GATEWAY_API_KEY_SECRET = "charloom-gateway-api-key"  # kubectl create secret generic ... key=
GATEWAY_CPUS = 2
GATEWAY_TARGET = f"dns:///{HEADLESS_SERVICE}.charloom.svc.cluster.local:{defaults.GRPC_PORT}"


def gateway_deployment() -> dict[str, Any]:
    """The gateway: round-robin over TF Serving's headless Service, HTTP probes, API key from a
    Secret (optional: without it the gateway serves everyone and says so), restricted PSS."""
    http_probe = {
        "httpGet": {"path": "/health", "port": "http"},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }
    container = {
        "name": "gateway",
        "image": GATEWAY_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "command": ["charloom", "gateway"],
        "args": [
            f"--target={GATEWAY_TARGET}",
            "--load-balancing=round_robin",
            f"--model={defaults.MODEL_NAME}",
            f"--port={defaults.GATEWAY_HTTP_PORT}",
            f"--grpc-port={defaults.GATEWAY_GRPC_PORT}",
            f"--max-rows-per-call={defaults.MAX_BATCH_SIZE}",
        ],
        "env": [
            {
                "name": "CHARLOOM_GATEWAY_API_KEY",
                "valueFrom": {
                    "secretKeyRef": {"name": GATEWAY_API_KEY_SECRET, "key": "key", "optional": True}
                },
            }
        ],
        "ports": [
            {"name": "http", "containerPort": defaults.GATEWAY_HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": defaults.GATEWAY_GRPC_PORT, "protocol": "TCP"},
        ],
        "livenessProbe": http_probe,
        "readinessProbe": {**http_probe, "httpGet": {"path": "/ready", "port": "http"}},
        "resources": {
            "requests": {"cpu": "1", "memory": "1Gi"},
            "limits": {"cpu": str(GATEWAY_CPUS), "memory": "2Gi"},
        },
        "securityContext": RESTRICTED_CONTAINER,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    pod_spec = _restricted_pod([container], [{"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}])
    # The serving-client label is what TF Serving's NetworkPolicy admits.
    pod_labels = {**GATEWAY_LABELS, CLIENT_LABEL[0]: CLIENT_LABEL[1]}
    return _rolling_deployment(
        GATEWAY_NAME,
        GATEWAY_LABELS,
        GATEWAY_SELECTOR,
        pod_labels,
        defaults.GATEWAY_HTTP_PORT,
        "/metrics",
        pod_spec,
    )


def gateway_service() -> dict[str, Any]:
    ports = [
        _service_port("http", defaults.GATEWAY_HTTP_PORT),
        _service_port("grpc", defaults.GATEWAY_GRPC_PORT),
    ]
    return _cluster_service(GATEWAY_NAME, GATEWAY_LABELS, GATEWAY_SELECTOR, ports)


def gateway_network_policy() -> dict[str, Any]:
    """In: labelled applications (this namespace or labelled namespaces) and Prometheus. Out:
    TF Serving's gRPC port and DNS only."""
    apps = {"matchLabels": dict([GATEWAY_CLIENT_LABEL])}
    dns = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": GATEWAY_NAME, "labels": GATEWAY_LABELS},
        "spec": {
            "podSelector": {"matchLabels": GATEWAY_SELECTOR},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [
                        {"podSelector": apps},
                        {
                            "namespaceSelector": {"matchLabels": dict([CLIENT_NAMESPACE_LABEL])},
                            "podSelector": apps,
                        },
                    ],
                    "ports": [
                        {"protocol": "TCP", "port": defaults.GATEWAY_HTTP_PORT},
                        {"protocol": "TCP", "port": defaults.GATEWAY_GRPC_PORT},
                    ],
                },
                {
                    "from": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": MONITORING_NAMESPACE}
                            },
                            "podSelector": {"matchLabels": dict([PROMETHEUS_LABEL])},
                        }
                    ],
                    "ports": [{"protocol": "TCP", "port": defaults.GATEWAY_HTTP_PORT}],
                },
            ],
            "egress": [
                {
                    "to": [{"podSelector": {"matchLabels": SELECTOR_LABELS}}],
                    "ports": [{"protocol": "TCP", "port": defaults.GRPC_PORT}],
                },
                {"to": [{"namespaceSelector": {}}], "ports": dns},
            ],
        },
    }


HEADER = (
    "# Generated by k8s/generate.py from serving/defaults.py (and base/tuning/*.yaml). "
    "Do not edit: run k8s/generate.py.\n"
)


class _NoAliasDumper(yaml.SafeDumper):
    """Writes shared dicts (the labels) out in full: anchors and aliases confuse readers."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _yaml(obj: dict[str, Any]) -> str:
    return HEADER + yaml.dump(
        obj, Dumper=_NoAliasDumper, sort_keys=False, default_flow_style=False, width=100
    )


def _text(body: str) -> str:
    return HEADER + body


def gpu_kustomization() -> dict[str, Any]:
    """The GPU overlay: the base with the `-gpu` image and the GPU patch."""
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "charloom",
        "resources": ["../../base/serving"],
        "images": [{"name": TF_SERVING_IMAGE, "newTag": TF_SERVING_GPU_TAG}],
        "patches": [{"path": "gpu.yaml"}],
    }


def outputs() -> dict[str, str]:
    """Every generated file, keyed by its path relative to k8s/."""
    config = "base/serving/config"
    return {
        f"{config}/{MODELS_CONFIG}": _text(models_config(defaults.MODEL_BASE_PATH_IN_CONTAINER)),
        f"{config}/{BATCHING_CONFIG}": _text(batching_config()),
        f"{config}/{MONITORING_CONFIG}": _text(monitoring_config()),
        "base/serving/deployment.yaml": _yaml(deployment()),
        "base/serving/service.yaml": _yaml(service()),
        "base/serving/service-headless.yaml": _yaml(headless_service()),
        "overlays/gpu/gpu.yaml": _yaml(gpu_patch()),
        "base/serving/networkpolicy.yaml": _yaml(network_policy()),
        f"overlays/bucket/{MODELS_CONFIG}": _text(models_config(BUCKET_MODEL_BASE_PATH)),
        "overlays/gpu/kustomization.yaml": _yaml(gpu_kustomization()),
        "base/tuning-ephemeral/rayjob.yaml": _yaml(ephemeral_rayjob()),
        "base/gateway/deployment.yaml": _yaml(gateway_deployment()),
        "base/gateway/service.yaml": _yaml(gateway_service()),
        "base/gateway/networkpolicy.yaml": _yaml(gateway_network_policy()),
    }


def stale(root: Path) -> list[str]:
    """Generated files under `root` that are missing or differ from what would be written."""
    return [
        rel
        for rel, body in outputs().items()
        if not (root / rel).is_file() or (root / rel).read_text(encoding="utf-8") != body
    ]


def write(root: Path) -> list[str]:
    """Write every generated file under `root`; return the ones that changed."""
    changed = stale(root)
    for rel, body in outputs().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=K8S_DIR, help="k8s directory to write into")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 when a generated file is stale"
    )
    args = parser.parse_args(argv)
    if args.check:
        out_of_date = stale(args.out)
        for rel in out_of_date:
            print(f"stale: k8s/{rel} (run .venv/bin/python k8s/generate.py)", file=sys.stderr)
        return 1 if out_of_date else 0
    for rel in write(args.out):
        print(f"wrote k8s/{rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
