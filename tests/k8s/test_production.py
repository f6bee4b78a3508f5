"""Production properties of the manifests: thread pools sized from the CPU limit, gRPC load
balancing (a maximum connection age and a headless Service), KubeRay's autoscaler v2 and the
ephemeral RayJob's lifecycle."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from serving import defaults
from tests.k8s.test_policy import SERVING_OVERLAYS, flags, serving_container

Docs = dict[str, list[dict[str, Any]]]
Find = Callable[..., dict[str, Any]]


def cpu_limit(container: dict[str, Any]) -> int:
    value = container["resources"]["limits"]["cpu"]
    assert not value.endswith("m"), "a fractional CPU limit gives TensorFlow no whole pool size"
    return int(value)


@pytest.mark.parametrize("overlay", SERVING_OVERLAYS)
def test_thread_pools_match_the_cpu_limit(overlay: str, rendered: Docs, find: Find) -> None:
    container = serving_container(rendered[overlay], find)
    cpus, args = cpu_limit(container), flags(container)
    assert int(args["tensorflow_intra_op_parallelism"]) == cpus
    assert int(args["tensorflow_inter_op_parallelism"]) == cpus
    assert int(args["rest_api_num_threads"]) == 4 * cpus  # TF Serving's default ratio, per core
    assert defaults.NUM_BATCH_THREADS <= cpus, "more batch threads than cores only contend"


def test_gpu_overlay_has_more_cpus_and_threads_to_match(rendered: Docs, find: Find) -> None:
    cpu = serving_container(rendered["cpu"], find)
    gpu = serving_container(rendered["gpu"], find)
    assert cpu_limit(gpu) > cpu_limit(cpu)
    assert (
        flags(gpu)["tensorflow_intra_op_parallelism"]
        != flags(cpu)["tensorflow_intra_op_parallelism"]
    )


def test_thread_check_catches_a_stale_flag(rendered: Docs, find: Find) -> None:
    container = serving_container(rendered["cpu"], find)
    stale = {
        **container,
        "resources": {**container["resources"], "limits": {"cpu": "8", "memory": "2Gi"}},
    }
    with pytest.raises(AssertionError):
        assert int(flags(stale)["tensorflow_intra_op_parallelism"]) == cpu_limit(stale)


@pytest.mark.parametrize("overlay", SERVING_OVERLAYS)
def test_connections_are_recycled_so_clients_spread_over_new_pods(
    overlay: str, rendered: Docs, find: Find, generator: ModuleType
) -> None:
    arguments = dict(
        pair.split("=", 1)
        for pair in flags(serving_container(rendered[overlay], find))[
            "grpc_channel_arguments"
        ].split(",")
    )
    age, grace = (
        int(arguments["grpc.max_connection_age_ms"]),
        int(arguments["grpc.max_connection_age_grace_ms"]),
    )
    assert 60_000 <= age <= 3_600_000, (
        "minutes: long enough to amortise the handshake, short enough to rebalance"
    )
    assert grace >= 10_000, "a generation in flight finishes before the connection closes"


@pytest.mark.parametrize("overlay", SERVING_OVERLAYS)
def test_headless_service_lists_every_serving_pod(
    overlay: str, rendered: Docs, find: Find, generator: ModuleType
) -> None:
    docs = rendered[overlay]
    headless = find(docs, "Service", generator.HEADLESS_SERVICE)["spec"]
    regular = find(docs, "Service", generator.APP_NAME)["spec"]
    assert headless["clusterIP"] == "None", (
        "DNS must answer the pods' addresses, not one virtual IP"
    )
    assert headless["selector"] == regular["selector"]
    [port] = headless["ports"]
    assert port["port"] == defaults.GRPC_PORT and port["appProtocol"] == "grpc"
    pod = find(docs, "Deployment", generator.APP_NAME)["spec"]["template"]
    assert headless["selector"].items() <= pod["metadata"]["labels"].items()
    named_ports = {p["name"]: p["containerPort"] for p in pod["spec"]["containers"][0]["ports"]}
    assert named_ports[port["targetPort"]] == defaults.GRPC_PORT


def test_ray_cluster_uses_autoscaler_v2(rendered: Docs, find: Find) -> None:
    for overlay, kind in (("tuning", "RayCluster"), ("tuning-ephemeral", "RayJob")):
        spec = find(rendered[overlay], kind)["spec"]
        spec = spec.get("rayClusterSpec", spec)
        assert spec["enableInTreeAutoscaling"] is True
        assert spec["autoscalerOptions"]["version"] == "v2"
        for group in spec[
            "workerGroupSpecs"
        ]:  # v2 requires workers that are not restarted in place
            assert group["template"]["spec"]["restartPolicy"] == "Never", group["groupName"]


def test_ephemeral_job_cleans_up_after_itself(
    rendered: Docs, find: Find, generator: ModuleType
) -> None:
    spec = find(rendered["tuning-ephemeral"], "RayJob")["spec"]
    assert "clusterSelector" not in spec, "the ephemeral job brings its own cluster"
    assert spec["shutdownAfterJobFinishes"] is True
    assert 0 < spec["ttlSecondsAfterFinished"] <= 3600, "keep the logs a while, not forever"
    assert spec["activeDeadlineSeconds"] == generator.EPHEMERAL_DEADLINE_SECONDS > 3600
    assert spec["backoffLimit"] == 0, "a retry would start the whole search again"


def test_both_tuning_variants_run_the_same_cluster_and_job(rendered: Docs, find: Find) -> None:
    long_lived, ephemeral = rendered["tuning"], rendered["tuning-ephemeral"]
    cluster = find(long_lived, "RayCluster")["spec"]
    job, once = find(long_lived, "RayJob")["spec"], find(ephemeral, "RayJob")["spec"]
    assert once["rayClusterSpec"] == cluster
    assert once["entrypoint"] == job["entrypoint"]
    assert (
        once["submitterPodTemplate"]["spec"]["containers"][0]["image"]
        == job["submitterPodTemplate"]["spec"]["containers"][0]["image"]
    )
    assert not [kind for kind in (d["kind"] for d in ephemeral) if kind == "RayCluster"], (
        "the ephemeral variant must not also deploy the long-lived cluster"
    )
