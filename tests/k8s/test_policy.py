"""Policy checks on the rendered manifests.

Probes, resources, the restricted Pod Security Standard and pinned images on every pod; real TF
Serving flags; and the same ports, model name and paths as the client and the local server.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import re
import shlex
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from packaging.requirements import Requirement

from charloom.cli import build_parser
from charloom.commands.serve import config_from_args
from serving import defaults
from serving.client.generator import DEFAULT_TARGET, GenerationClient

REPO_ROOT = Path(__file__).resolve().parents[2]
SERVING_OVERLAYS = ("cpu", "gpu", "bucket")
ALL_OVERLAYS = (*SERVING_OVERLAYS, "tuning", "tuning-ephemeral", "gateway")
Docs = dict[str, list[dict[str, Any]]]
Find = Callable[..., dict[str, Any]]

# Every flag tensorflow_model_server defines (tensorflow_serving/model_servers/main.cc, the
# tensorflow::Flag list, TF Serving 2.19-2.20). A misspelt flag makes the server exit at start.
TF_SERVING_FLAGS = frozenset(
    {
        "allow_version_labels_for_unavailable_models",
        "batching_parameters_file",
        "enable_batching",
        "enable_grpc_healthcheck_service",
        "enable_model_warmup",
        "enable_per_model_batching_parameters",
        "enable_profiler",
        "enable_serialization_as_tensor_content",
        "enable_signature_method_name_check",
        "file_system_poll_wait_seconds",
        "flush_filesystem_caches",
        "grpc_channel_arguments",
        "grpc_max_threads",
        "grpc_socket_path",
        "load_retry_interval_micros",
        "max_num_load_retries",
        "mixed_precision",
        "model_base_path",
        "model_config_file",
        "model_config_file_poll_wait_seconds",
        "model_name",
        "monitoring_config_file",
        "num_load_threads",
        "num_request_iterations_for_warmup",
        "num_tflite_interpreters_per_pool",
        "num_tflite_pools",
        "num_unload_threads",
        "per_process_gpu_memory_fraction",
        "platform_config_file",
        "port",
        "prefer_tflite_model",
        "remove_unused_fields_from_bundle_metagraph",
        "rest_api_enable_cors_support",
        "rest_api_num_threads",
        "rest_api_port",
        "rest_api_timeout_in_ms",
        "saved_model_tags",
        "skip_initialize_tpu",
        "ssl_config_file",
        "tensorflow_inter_op_parallelism",
        "tensorflow_intra_op_parallelism",
        "tensorflow_session_config_file",
        "tensorflow_session_parallelism",
        "thread_pool_factory_config_file",
        "use_alts_credentials",
        "version",
        "xla_cpu_compilation_enabled",
        "xla_gpu_compilation_enabled",
    }
)
BOOL_FLAGS = frozenset({"enable_batching", "enable_grpc_healthcheck_service"})
REQUIRED_FLAGS = frozenset(
    {
        "port",
        "rest_api_port",
        "model_config_file",
        "enable_batching",
        "batching_parameters_file",
        "file_system_poll_wait_seconds",
        "monitoring_config_file",
        "enable_grpc_healthcheck_service",
    }
)


# --- helpers -------------------------------------------------------------------------------------
def pod_templates(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, pod template) for every pod any rendered object will create."""
    for doc in docs:
        kind, spec = doc["kind"], doc.get("spec", {})
        where = f"{kind}/{doc['metadata']['name']}"
        if kind == "Deployment":
            yield where, spec["template"]
        elif kind == "RayCluster":
            yield f"{where}/head", spec["headGroupSpec"]["template"]
            for group in spec.get("workerGroupSpecs", []):
                yield f"{where}/{group['groupName']}", group["template"]
        elif kind == "RayJob":
            cluster = spec.get("rayClusterSpec")
            if cluster:
                yield f"{where}/head", cluster["headGroupSpec"]["template"]
                for group in cluster.get("workerGroupSpecs", []):
                    yield f"{where}/{group['groupName']}", group["template"]
            if "submitterPodTemplate" in spec:
                yield f"{where}/submitter", spec["submitterPodTemplate"]


def flags(container: dict[str, Any]) -> dict[str, str]:
    """`--name=value` args as {name: value}; asserts the form TF Serving parses."""
    parsed = {}
    for arg in container["args"]:
        match = re.fullmatch(r"--([a-z0-9_]+)=(.+)", arg)
        assert match, f"{arg!r} is not --flag=value"
        parsed[match[1]] = match[2]
    return parsed


def serving_container(docs: list[dict[str, Any]], find: Find) -> dict[str, Any]:
    return find(docs, "Deployment", "charloom-serving")["spec"]["template"]["spec"]["containers"][0]


def tf_serving_args_as_local_flags(container: dict[str, Any], config_dir: Path) -> list[str]:
    """The Deployment's TF Serving flags, spelled as `charloom serve` flags, files from config_dir."""
    local: list[str] = ["serve"]
    for name, value in flags(container).items():
        if name in ("model_config_file", "batching_parameters_file"):
            local += [f"--{name.replace('_', '-')}", str(config_dir / Path(value).name)]
        elif name in ("port", "file_system_poll_wait_seconds"):
            local += [f"--{name.replace('_', '-')}", value]
        elif name == "enable_batching" and value == "true":
            local.append("--enable-batching")
        elif name in (
            "rest_api_port",
            "rest_api_num_threads",
            "grpc_channel_arguments",
            "tensorflow_intra_op_parallelism",
            "tensorflow_inter_op_parallelism",
        ):
            local += [f"--{name.replace('_', '-')}", value]
    return local


# --- pod security, resources, probes, images: every pod -------------------------------------------
@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_every_pod_meets_the_restricted_standard(overlay: str, rendered: Docs) -> None:
    templates = list(pod_templates(rendered[overlay]))
    assert templates
    for where, template in templates:
        pod = template["spec"]
        ctx = pod.get("securityContext", {})
        assert ctx.get("runAsNonRoot") is True, where
        assert ctx.get("runAsUser", 0) != 0 and ctx.get("runAsGroup", 0) != 0, where
        assert ctx.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC"), (
            where
        )
        assert not any("hostPath" in v for v in pod.get("volumes", [])), where
        for container in pod["containers"] + pod.get("initContainers", []):
            c_ctx = container.get("securityContext", {})
            assert c_ctx.get("allowPrivilegeEscalation") is False, (where, container["name"])
            assert c_ctx.get("privileged") is not True, (where, container["name"])
            assert c_ctx.get("capabilities", {}).get("drop") == ["ALL"], (where, container["name"])
            assert not c_ctx.get("capabilities", {}).get("add"), (where, container["name"])
            assert c_ctx.get("runAsUser", 1) != 0, (where, container["name"])


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_every_container_sets_requests_and_limits(overlay: str, rendered: Docs) -> None:
    for where, template in pod_templates(rendered[overlay]):
        for container in template["spec"]["containers"]:
            resources = container.get("resources", {})
            for section in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(section, {})), (
                    where,
                    container["name"],
                    section,
                )
            gpus = [resources[s].get("nvidia.com/gpu") for s in ("requests", "limits")]
            assert gpus[0] in (None, gpus[1]), "extended resources need requests == limits"


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_images_are_pinned(overlay: str, rendered: Docs) -> None:
    for where, template in pod_templates(rendered[overlay]):
        for container in template["spec"]["containers"]:
            image = container["image"]
            name, _, tag = image.rpartition(":")
            assert name and "/" not in tag and tag, f"{where}: {image} has no tag"
            assert tag != "latest" and not tag.startswith("latest-"), f"{where}: {image}"
            assert container.get("imagePullPolicy") in ("IfNotPresent", None), where


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_volume_mounts_name_declared_volumes(overlay: str, rendered: Docs) -> None:
    for where, template in pod_templates(rendered[overlay]):
        declared = {v["name"] for v in template["spec"].get("volumes", [])}
        for container in template["spec"]["containers"]:
            for mount in container.get("volumeMounts", []):
                assert mount["name"] in declared, (where, mount["name"])


@pytest.mark.parametrize("overlay", SERVING_OVERLAYS)
def test_serving_probes_check_the_grpc_port(overlay: str, rendered: Docs, find: Find) -> None:
    container = serving_container(rendered[overlay], find)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == defaults.GRPC_PORT, probe
    assert flags(container)["enable_grpc_healthcheck_service"] == "true", (
        "a gRPC probe needs TF Serving's health service"
    )


@pytest.mark.parametrize("overlay", SERVING_OVERLAYS)
def test_serving_root_filesystem_is_read_only_with_a_writable_tmp(
    overlay: str, rendered: Docs, find: Find
) -> None:
    container = serving_container(rendered[overlay], find)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}


# --- TF Serving flags and the shared values ------------------------------------------------------
@pytest.mark.parametrize("overlay", SERVING_OVERLAYS)
def test_tf_serving_flags_are_real(overlay: str, rendered: Docs, find: Find) -> None:
    container = serving_container(rendered[overlay], find)
    assert container["command"] == ["/usr/bin/tensorflow_model_server"]
    parsed = flags(container)
    assert set(parsed) <= TF_SERVING_FLAGS, set(parsed) - TF_SERVING_FLAGS
    assert REQUIRED_FLAGS <= set(parsed), REQUIRED_FLAGS - set(parsed)
    for name in BOOL_FLAGS:
        assert parsed[name] in ("true", "false"), name


def test_flag_check_catches_a_typo() -> None:
    assert "enable_grpc_health_check_service" not in TF_SERVING_FLAGS
    assert "rest_port" not in TF_SERVING_FLAGS


@pytest.mark.parametrize("overlay", SERVING_OVERLAYS)
def test_ports_match_the_client_and_the_local_server(
    overlay: str, rendered: Docs, find: Find
) -> None:
    docs = rendered[overlay]
    container = serving_container(docs, find)
    parsed = flags(container)
    assert int(parsed["port"]) == defaults.GRPC_PORT
    assert int(parsed["rest_api_port"]) == defaults.REST_PORT
    assert float(parsed["file_system_poll_wait_seconds"]) == defaults.FILE_SYSTEM_POLL_WAIT_SECONDS
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert container_ports == {"grpc": defaults.GRPC_PORT, "http": defaults.REST_PORT}
    service = find(docs, "Service", "charloom-serving")
    assert service["spec"]["type"] == "ClusterIP"
    service_ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
    assert service_ports == {
        "grpc": (defaults.GRPC_PORT, "grpc"),
        "http": (defaults.REST_PORT, "http"),
    }
    # The client's default target and the local server's default port are the same port.
    assert DEFAULT_TARGET.rsplit(":", 1)[1] == str(defaults.GRPC_PORT)
    parser, _ = build_parser()
    assert parser.parse_args(["serve"]).port == int(parsed["port"])


@pytest.mark.parametrize("overlay", SERVING_OVERLAYS)
def test_model_name_matches_the_client_and_the_local_server(
    overlay: str, rendered: Docs, find: Find, tmp_path: Path
) -> None:
    data = find(rendered[overlay], "ConfigMap")["data"]
    (tmp_path / "models.config").write_text(data["models.config"])
    from serving.server.config import read_model_config_file

    names = [m.name for m in read_model_config_file(tmp_path / "models.config")]
    client_default = inspect.signature(GenerationClient.__init__).parameters["model_name"].default
    parser, _ = build_parser()
    assert (
        names
        == [defaults.MODEL_NAME]
        == [client_default]
        == [parser.parse_args(["serve"]).model_name]
    )


@pytest.mark.parametrize("overlay", SERVING_OVERLAYS)
def test_local_server_accepts_the_deployment_flags(
    overlay: str, rendered: Docs, find: Find, tmp_path: Path
) -> None:
    """`charloom serve`, given the Deployment's flags and the ConfigMap's files, builds the same server."""
    docs = rendered[overlay]
    for key, value in find(docs, "ConfigMap")["data"].items():
        (tmp_path / key).write_text(value)
    parser, _ = build_parser()
    args = parser.parse_args(
        tf_serving_args_as_local_flags(serving_container(docs, find), tmp_path)
    )
    config = config_from_args(args)
    assert config.port == defaults.GRPC_PORT and config.rest.port == defaults.REST_PORT
    assert [m.name for m in config.models] == [defaults.MODEL_NAME]
    assert config.batching.enabled
    assert (
        config.batching.max_batch_size,
        config.batching.batch_timeout_micros,
        config.batching.num_batch_threads,
        config.batching.max_enqueued_batches,
    ) == (
        defaults.MAX_BATCH_SIZE,
        defaults.BATCH_TIMEOUT_MICROS,
        defaults.NUM_BATCH_THREADS,
        defaults.MAX_ENQUEUED_BATCHES,
    )


@pytest.mark.parametrize("overlay", SERVING_OVERLAYS)
def test_config_files_come_from_the_configmap(overlay: str, rendered: Docs, find: Find) -> None:
    docs = rendered[overlay]
    deployment = find(docs, "Deployment", "charloom-serving")
    pod = deployment["spec"]["template"]["spec"]
    configmap = find(docs, "ConfigMap")
    config_volumes = {
        v["name"]
        for v in pod["volumes"]
        if v.get("configMap", {}).get("name") == configmap["metadata"]["name"]
    }
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    for name in ("model_config_file", "batching_parameters_file", "monitoring_config_file"):
        path = Path(flags(pod["containers"][0])[name])
        mount = mounts.get(str(path.parent))
        assert mount and mount["name"] in config_volumes and mount.get("readOnly"), name
        assert path.name in configmap["data"], name
    monitoring = deployment["spec"]["template"]["metadata"]["annotations"]
    assert monitoring["prometheus.io/port"] == str(defaults.REST_PORT)
    assert monitoring["prometheus.io/path"] == defaults.MONITORING_PATH
    assert f'path: "{defaults.MONITORING_PATH}"' in configmap["data"]["monitoring.config"]


@pytest.mark.parametrize("overlay", ("cpu", "gpu"))
def test_model_store_is_the_shared_claim(
    overlay: str, rendered: Docs, find: Find, generator: ModuleType
) -> None:
    docs = rendered[overlay]
    pod = find(docs, "Deployment", "charloom-serving")["spec"]["template"]["spec"]
    claim = next(v for v in pod["volumes"] if "persistentVolumeClaim" in v)
    assert claim["persistentVolumeClaim"] == {"claimName": generator.SHARED_CLAIM, "readOnly": True}
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == claim["name"])
    assert mount["mountPath"] == defaults.MODEL_BASE_PATH_IN_CONTAINER
    assert mount["subPath"] == generator.MODEL_STORE_SUBPATH and mount["readOnly"] is True
    assert (
        f'base_path: "{defaults.MODEL_BASE_PATH_IN_CONTAINER}"'
        in find(docs, "ConfigMap")["data"]["models.config"]
    )
    find(rendered["shared"], "PersistentVolumeClaim", generator.SHARED_CLAIM)


def test_bucket_overlay_reads_the_bucket_only(
    rendered: Docs, find: Find, generator: ModuleType
) -> None:
    docs = rendered["bucket"]
    pod = find(docs, "Deployment", "charloom-serving")["spec"]["template"]["spec"]
    assert not any("persistentVolumeClaim" in v for v in pod["volumes"])
    assert {v["name"] for v in pod["volumes"]} == {"config", "tmp"}
    assert {m["mountPath"] for m in pod["containers"][0]["volumeMounts"]} == {
        generator.CONFIG_DIR_IN_CONTAINER,
        "/tmp",
    }
    assert (
        f'base_path: "{generator.BUCKET_MODEL_BASE_PATH}"'
        in find(docs, "ConfigMap")["data"]["models.config"]
    )
    assert pod["serviceAccountName"] == find(docs, "ServiceAccount")["metadata"]["name"]


def test_cpu_and_gpu_overlays_run_the_pinned_tf_serving_images(
    rendered: Docs, find: Find, generator: ModuleType
) -> None:
    from serving import defaults

    cpu = serving_container(rendered["cpu"], find)
    gpu_docs = rendered["gpu"]
    gpu = serving_container(gpu_docs, find)
    assert cpu["image"] == f"tensorflow/serving:{defaults.TF_SERVING_CPU_VERSION}"
    assert gpu["image"] == f"tensorflow/serving:{defaults.TF_SERVING_GPU_VERSION}-gpu"
    # every image's TensorFlow is one the Session-path test loads the exports in
    assert {defaults.TF_SERVING_CPU_VERSION, defaults.TF_SERVING_GPU_VERSION} == set(
        defaults.TF_SERVING_RUNTIME_VERSIONS
    )
    assert "nvidia.com/gpu" not in cpu["resources"]["limits"]
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == "1"
    pod = find(gpu_docs, "Deployment", "charloom-serving")["spec"]["template"]["spec"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    threads = {
        "tensorflow_intra_op_parallelism",
        "tensorflow_inter_op_parallelism",
        "rest_api_num_threads",
    }
    assert {k: v for k, v in flags(cpu).items() if k not in threads} == {
        k: v for k, v in flags(gpu).items() if k not in threads
    }  # only the CPU-sized pools differ


# --- Service, HPA, PDB, NetworkPolicy wiring ----------------------------------------------------------
def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("overlay", SERVING_OVERLAYS)
def test_service_hpa_pdb_and_policy_select_the_serving_pods(
    overlay: str, rendered: Docs, find: Find, generator: ModuleType
) -> None:
    docs = rendered[overlay]
    deployment = find(docs, "Deployment", "charloom-serving")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert _selects(deployment["spec"]["selector"]["matchLabels"], labels)
    for service in ("charloom-serving", "charloom-serving-headless"):
        assert _selects(find(docs, "Service", service)["spec"]["selector"], labels)
    pdb = find(docs, "PodDisruptionBudget")
    assert _selects(pdb["spec"]["selector"]["matchLabels"], labels)
    hpa = find(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "charloom-serving",
    }
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"], (
        "a PDB as large as the minimum replica count would block every node drain"
    )
    policy = find(docs, "NetworkPolicy")
    assert _selects(policy["spec"]["podSelector"]["matchLabels"], labels)
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    client_key, client_value = generator.CLIENT_LABEL
    admitted_ports = set()
    for rule in policy["spec"]["ingress"]:
        assert rule["from"], "an empty `from` admits everyone"
        for peer in rule["from"]:
            assert peer["podSelector"]["matchLabels"], "every peer must be selected by labels"
        ports = {p["port"] for p in rule["ports"]}
        assert ports <= {defaults.GRPC_PORT, defaults.REST_PORT}
        if any(
            peer["podSelector"]["matchLabels"] == {client_key: client_value}
            for peer in rule["from"]
        ):
            admitted_ports |= ports
    assert admitted_ports == {defaults.GRPC_PORT, defaults.REST_PORT}


# --- tuning ----------------------------------------------------------------------------------------
def _pinned_ray() -> str:
    version = importlib.metadata.version("ray")
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    ray_req = next(
        Requirement(r) for r in pyproject["project"]["dependencies"] if Requirement(r).name == "ray"
    )
    assert ray_req.specifier.contains(version), f"installed ray {version} violates {ray_req}"
    return version


def test_trainer_dockerfile_pins_the_project_ray() -> None:
    dockerfile = (REPO_ROOT / "k8s" / "trainer" / "Dockerfile").read_text()
    froms = re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE)
    ray = _pinned_ray()
    assert froms == [f"rayproject/ray:{ray}-py311"]
    assert f"ray.__version__ != '{ray}'" in dockerfile, (
        "the build-time check names the same version"
    )


def test_ray_cluster_runs_the_pinned_ray(rendered: Docs, find: Find) -> None:
    """rayVersion and the trainer image tag (`<package version>-ray<ray version>`) agree."""
    ray = _pinned_ray()
    package = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    docs = rendered["tuning"]
    assert find(docs, "RayCluster")["spec"]["rayVersion"] == ray
    for where, template in pod_templates(docs):
        for container in template["spec"]["containers"]:
            assert container["image"] == f"charloom-trainer:{package}-ray{ray}", where


def test_ray_cluster_shape(rendered: Docs, find: Find) -> None:
    spec = find(rendered["tuning"], "RayCluster")["spec"]
    head = spec["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0", "trials must not land on the head"
    assert "nvidia.com/gpu" not in head["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert spec["enableInTreeAutoscaling"] is True
    [gpu] = spec["workerGroupSpecs"]
    assert gpu["minReplicas"] == 0 < gpu["maxReplicas"]
    assert (
        int(gpu["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    )


def test_ray_job_tunes_into_the_model_store_serving_reads(
    rendered: Docs, find: Find, generator: ModuleType
) -> None:
    docs = rendered["tuning"]
    job, cluster = find(docs, "RayJob"), find(docs, "RayCluster")
    assert job["spec"]["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[0] == "charloom"
    parser, _ = build_parser()
    args = parser.parse_args(argv[1:])  # the real `charloom tune` parser; exits on unknown flags
    assert args.command == "tune"
    shared = generator.SHARED_MOUNT
    assert args.model_base_path == f"{shared}/{generator.MODEL_STORE_SUBPATH}"
    assert args.storage_path == f"{shared}/{generator.RAY_RESULTS_SUBPATH}"
    worker = cluster["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    assert float(args.gpus_per_trial) <= float(worker["resources"]["limits"]["nvidia.com/gpu"])
    assert float(args.cpus_per_trial) <= float(worker["resources"]["limits"]["cpu"])
    # Every Ray pod that runs trials or the driver mounts the same claim at the same place.
    for where, template in pod_templates([cluster]):
        pod = template["spec"]
        claim = next(v for v in pod["volumes"] if "persistentVolumeClaim" in v)
        assert claim["persistentVolumeClaim"]["claimName"] == generator.SHARED_CLAIM, where
        mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == claim["name"])
        assert mount["mountPath"] == shared and "subPath" not in mount, where


def test_shared_claim_is_read_write_many(rendered: Docs, find: Find, generator: ModuleType) -> None:
    """Ray workers write and serving pods read it from different nodes at once."""
    claim = find(rendered["shared"], "PersistentVolumeClaim", generator.SHARED_CLAIM)
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_namespace_enforces_the_restricted_standard(rendered: Docs, find: Find) -> None:
    namespace = find(rendered["shared"], "Namespace")
    assert namespace["metadata"]["name"] == "charloom"
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
