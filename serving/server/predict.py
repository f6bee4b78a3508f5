"""tensorflow.serving.PredictionService: Predict and GetModelMetadata over the loaded versions.

`Predictor.predict` is TF Serving's RunPredict on one loaded version: the signature by name, its
input aliases checked and parsed, the inputs fed to the version's session by tensor name (through
the batch scheduler when batching is on), the outputs fetched by tensor name. Warmup replays run
through it too.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    model_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from serving.server.batching import BatchScheduler
from serving.server.config import ServerLimits
from serving.server.loading import Servable
from serving.server.metrics import ServerMetrics
from serving.server.requests import (
    PlanCache,
    SignaturePlan,
    check_input_keys,
    check_limits,
    check_output_filter,
    decode_inputs,
)
from serving.server.servables import ServableManager
from serving.server.status import (
    deadline_of,
    failed_precondition,
    from_tf_error,
    handle_rpc,
    invalid_argument,
    resource_exhausted,
)
from serving.tensors import fill_tensor_proto

DEFAULT_SIGNATURE = "serving_default"
SIGNATURE_DEF_FIELD = "signature_def"


class Predictor:
    """Runs PredictRequests on loaded versions, with or without a batch scheduler."""

    def __init__(
        self,
        limits: ServerLimits,
        scheduler: BatchScheduler | None = None,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self._limits = limits
        self._scheduler = scheduler
        self._metrics = metrics
        self._plans = PlanCache()

    def predict(
        self, servable: Servable, request: predict_pb2.PredictRequest, deadline: float | None
    ) -> predict_pb2.PredictResponse:
        signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
        plan = self._plans.get(servable, signature_name)
        if plan is None:
            raise failed_precondition(f'Serving signature key "{signature_name}" not found.')
        check_input_keys(plan, request.inputs)
        output_names = check_output_filter(plan, request.output_filter)
        check_limits(request.inputs, self._limits)
        inputs = decode_inputs(plan, request.inputs)
        started = time.monotonic()
        outputs = self._run(servable, plan, inputs, output_names, deadline)
        if self._metrics is not None:
            self._metrics.record_runtime(servable.name, "Predict", time.monotonic() - started)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.model_spec.signature_name = signature_name
        for name in output_names:
            fill_tensor_proto(response.outputs[name], outputs[plan.output_tensors[name]])
        return response

    def _run(
        self,
        servable: Servable,
        plan: SignaturePlan,
        inputs: Mapping[str, np.ndarray],
        output_names: tuple[str, ...],
        deadline: float | None,
    ) -> dict[str, np.ndarray]:
        fetches = tuple(plan.output_tensors[name] for name in output_names)
        run = _session_runner(servable)
        if self._scheduler is None:
            return dict(zip(fetches, run(inputs, fetches, deadline)))
        # TF Serving queues by the request's feed and fetch tensor names; a batch fetches them all.
        key = (servable.name, servable.version, id(servable), frozenset(inputs), frozenset(fetches))
        return self._scheduler.run(key, run, inputs, tuple(sorted(fetches)), fetches, deadline)


def _session_runner(servable: Servable):
    def run(inputs: Mapping[str, np.ndarray], fetches, deadline: float | None) -> list[np.ndarray]:
        timeout = None if deadline is None else max(0.001, deadline - time.monotonic())
        try:
            return servable.bundle.run(inputs, fetches, timeout)
        except tf.errors.OpError as exc:
            raise from_tf_error(exc) from exc
        except (TypeError, ValueError) as exc:  # an input numpy cannot hand to the runtime
            raise invalid_argument(f"the model rejected the inputs: {exc}") from exc

    return run


def too_many_calls(limit: int) -> str:
    return (
        f"the server is already handling {limit} Predict/GetModelMetadata calls "
        "(--max-concurrent-requests); retry later"
    )


class Admission:
    """At most `limit` calls at once; one more is refused at once with RESOURCE_EXHAUSTED (it
    would otherwise queue for a handler thread, and health checks behind it)."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._slots = threading.BoundedSemaphore(limit)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        if not self._slots.acquire(blocking=False):
            raise resource_exhausted(too_many_calls(self._limit))
        try:
            yield
        finally:
            self._slots.release()


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Classify, Regress and MultiInference stay UNIMPLEMENTED: charloom models only predict."""

    def __init__(
        self,
        manager: ServableManager,
        predictor: Predictor,
        metrics: ServerMetrics,
        admission: Admission,
    ) -> None:
        self._manager = manager
        self._predictor = predictor
        self._metrics = metrics
        self._admission = admission

    def Predict(
        self, request: predict_pb2.PredictRequest, context: grpc.ServicerContext
    ) -> predict_pb2.PredictResponse:
        return handle_rpc(
            context,
            self._metrics,
            "Predict",
            request.model_spec.name,
            lambda: self.predict(request, deadline_of(context)),
            recorded=True,
        )

    def GetModelMetadata(
        self, request: get_model_metadata_pb2.GetModelMetadataRequest, context: grpc.ServicerContext
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        return handle_rpc(
            context,
            self._metrics,
            "GetModelMetadata",
            request.model_spec.name,
            lambda: self.metadata(request),
        )

    def predict(
        self, request: predict_pb2.PredictRequest, deadline: float | None
    ) -> predict_pb2.PredictResponse:
        """Predict, for gRPC and REST alike (raises ServingStatus)."""
        with self._admission.slot():
            if not request.HasField("model_spec"):
                raise invalid_argument("Missing ModelSpec")
            with self._manager.acquire(request.model_spec) as servable:
                return self._predictor.predict(servable, request, deadline)

    def signature(self, spec: model_pb2.ModelSpec, name: str) -> meta_graph_pb2.SignatureDef:
        """The signature a REST predict names (its inputs' dtypes type the JSON values)."""
        with self._manager.acquire(spec) as servable:
            found = servable.signature_defs.get(name)
            if found is None:
                raise invalid_argument(
                    f'Serving signature name: "{name}" not found in signature def'
                )
            return found

    def metadata(
        self, request: get_model_metadata_pb2.GetModelMetadataRequest
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        with self._admission.slot():
            return self._metadata(request)

    def _metadata(
        self, request: get_model_metadata_pb2.GetModelMetadataRequest
    ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        if not request.metadata_field:
            raise invalid_argument(
                "GetModelMetadataRequest must specify at least one metadata_field"
            )
        for field in request.metadata_field:
            if field != SIGNATURE_DEF_FIELD:
                raise invalid_argument(f"Metadata field {field} is not supported")
        with self._manager.acquire(request.model_spec) as servable:
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            signature_map = get_model_metadata_pb2.SignatureDefMap()
            for key, signature in servable.signature_defs.items():
                signature_map.signature_def[key].CopyFrom(signature)
                signature_map.signature_def[key].ClearField("defaults")  # as TF Serving 2.20 does
            response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
            return response
