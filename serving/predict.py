"""tensorflow.serving.PredictionService: Predict and GetModelMetadata over the loaded versions."""

from __future__ import annotations

import functools
from typing import Mapping

import grpc
import numpy as np
from tensorflow_serving.apis import (get_model_metadata_pb2, predict_pb2,
                                     prediction_service_pb2_grpc)

from serving.batching import BatchScheduler
from serving.execution import run_signature
from serving.model_config import ServerLimits
from serving.request_validation import (batch_rows, check_input_keys, check_limits,
                                        check_output_filter, decode_inputs)
from serving.rpc import deadline_of, handle_rpc
from serving.saved_model import Servable
from serving.server_metrics import ServerMetrics
from serving.servables import ServableManager
from serving.status import failed_precondition, invalid_argument
from serving.signature_plan import PlanCache, SignaturePlan
from serving.tensors import fill_tensor_proto

DEFAULT_SIGNATURE = "serving_default"
SIGNATURE_DEF_FIELD = "signature_def"


class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Classify, Regress and MultiInference stay UNIMPLEMENTED: charloom models only predict."""

    def __init__(self, manager: ServableManager, limits: ServerLimits, metrics: ServerMetrics,
                 scheduler: BatchScheduler | None = None) -> None:
        self._manager = manager
        self._limits = limits
        self._metrics = metrics
        self._scheduler = scheduler
        self._plans = PlanCache()

    def Predict(self, request: predict_pb2.PredictRequest,
                context: grpc.ServicerContext) -> predict_pb2.PredictResponse:
        return handle_rpc(context, self._metrics, "predict", request.model_spec.name,
                          lambda: self._predict(request, context))

    def GetModelMetadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest,
                         context: grpc.ServicerContext) -> get_model_metadata_pb2.GetModelMetadataResponse:
        return handle_rpc(context, self._metrics, "get_model_metadata", request.model_spec.name,
                          lambda: self._metadata(request))

    def _predict(self, request: predict_pb2.PredictRequest,
                 context: grpc.ServicerContext) -> predict_pb2.PredictResponse:
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        with self._manager.acquire(request.model_spec) as servable:
            signature_name = request.model_spec.signature_name or DEFAULT_SIGNATURE
            plan = self._plans.get(servable, signature_name)
            if plan is None:
                raise failed_precondition(f'Serving signature key "{signature_name}" not found.')
            check_input_keys(plan, request.inputs)
            output_names = check_output_filter(plan, request.output_filter)
            check_limits(request.inputs, self._limits)
            inputs = decode_inputs(plan, request.inputs)
            outputs = self._run(servable, plan, inputs, output_names, deadline_of(context))
            response = predict_pb2.PredictResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            response.model_spec.signature_name = signature_name
            for name in output_names:
                fill_tensor_proto(response.outputs[name], outputs[name])
            return response

    def _run(self, servable: Servable, plan: SignaturePlan, inputs: Mapping[str, np.ndarray],
             output_names: tuple[str, ...], deadline: float | None) -> dict[str, np.ndarray]:
        runner = functools.partial(run_signature, plan, output_names=output_names)
        rows = batch_rows(inputs)
        if self._scheduler is None or rows is None:
            return runner(inputs)
        key = (servable.name, servable.version, plan.signature_name, output_names,
               tuple((name, array.dtype.str, array.shape[1:]) for name, array in sorted(inputs.items())))
        return self._scheduler.run(key, runner, inputs, rows, deadline)

    def _metadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest
                  ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        if not request.metadata_field:
            raise invalid_argument("GetModelMetadataRequest must specify at least one metadata_field")
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
            response.metadata[SIGNATURE_DEF_FIELD].Pack(signature_map)
            return response
