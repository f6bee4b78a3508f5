"""tensorflow.serving.ModelService.GetModelStatus: the state of each version, as TF Serving reports it."""

from __future__ import annotations

import grpc
from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

from serving.server.metrics import ServerMetrics
from serving.server.servables import ServableManager
from serving.server.status import handle_rpc, invalid_argument, not_found

_UNKNOWN_ERROR_CODE = 2  # tensorflow.error.Code.UNKNOWN: a version whose load failed


class ModelService(model_service_pb2_grpc.ModelServiceServicer):
    """HandleReloadConfigRequest stays UNIMPLEMENTED: the model list is fixed at start-up."""

    def __init__(self, manager: ServableManager, metrics: ServerMetrics) -> None:
        self._manager = manager
        self._metrics = metrics

    def GetModelStatus(
        self, request: get_model_status_pb2.GetModelStatusRequest, context: grpc.ServicerContext
    ) -> get_model_status_pb2.GetModelStatusResponse:
        return handle_rpc(
            context,
            self._metrics,
            "GetModelStatus",
            request.model_spec.name,
            lambda: self.status(request),
        )

    def status(
        self, request: get_model_status_pb2.GetModelStatusRequest
    ) -> get_model_status_pb2.GetModelStatusResponse:
        """GetModelStatus, for gRPC and REST alike (raises ServingStatus)."""
        if not request.HasField("model_spec"):
            raise invalid_argument("Missing ModelSpec")
        spec = request.model_spec
        records = self._manager.version_states(spec.name)
        version = spec.version.value if spec.HasField("version") else None
        if spec.version_label:
            version = self._manager.version_of_label(spec.name, spec.version_label)
        if version is not None:
            if version not in records:
                raise not_found(f"Could not find version {version} of model {spec.name}")
            records = {version: records[version]}
        elif not records:
            raise not_found(f"Could not find any versions of model {spec.name}")
        response = get_model_status_pb2.GetModelStatusResponse()
        for version in sorted(records):
            record = records[version]
            status = response.model_version_status.add(version=version, state=record.state)
            status.status.SetInParent()  # error_code OK, as TF Serving reports a version without error
            if record.error:
                status.status.error_code = _UNKNOWN_ERROR_CODE
                status.status.error_message = record.error
        return response
