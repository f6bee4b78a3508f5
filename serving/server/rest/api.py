"""TF Serving's REST API as one function of (method, path, body): status, metadata and predict.

Paths and order of checks are tensorflow_serving/model_servers/http_rest_api_handler.cc's:
``GET /v1/models/NAME[/versions/V | /labels/L][/metadata]`` and
``POST /v1/models/NAME[/versions/V | /labels/L]:predict``; anything else under ``/v1/`` is
``Malformed request`` (400). Errors are ``{ "error": "..." }`` with TF Serving's HTTP status for
the gRPC code (400 for INVALID_ARGUMENT and FAILED_PRECONDITION, 404 NOT_FOUND, 429
RESOURCE_EXHAUSTED, 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED, 500 INTERNAL). Every request is
counted in the metrics with entrypoint REST.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

import grpc
from google.protobuf import json_format
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_pb2,
    predict_pb2,
)

from serving.server.metrics import REST, ServerMetrics
from serving.server.predict import DEFAULT_SIGNATURE
from serving.server.rest.json_body import parse_body
from serving.server.rest.json_tensors import (
    request_tensors,
    response_body,
    signature_name_of,
)
from serving.server.status import ServingStatus, invalid_argument, unimplemented
from serving.tensors import from_tensor_proto

logger = logging.getLogger(__name__)

_PREDICT_PATH = re.compile(
    r"(?i)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)"
)
_STATUS_PATH = re.compile(
    r"(?i)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?"
)
API_PATH = re.compile(r"(?i)/v1/.*")
_HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


@dataclass(frozen=True)
class Services:
    """What the REST API calls: the same code the gRPC services run."""

    status: Callable[
        [get_model_status_pb2.GetModelStatusRequest], get_model_status_pb2.GetModelStatusResponse
    ]
    metadata: Callable[
        [get_model_metadata_pb2.GetModelMetadataRequest],
        get_model_metadata_pb2.GetModelMetadataResponse,
    ]
    predict: Callable[[predict_pb2.PredictRequest, float | None], predict_pb2.PredictResponse]
    signature: Callable[[model_pb2.ModelSpec, str], object]  # the SignatureDef a request names


def http_status(code: grpc.StatusCode) -> int:
    return _HTTP_STATUS.get(code, 500)


def error_body(message: str) -> bytes:
    return b'{ "error": ' + json.dumps(message).encode("utf-8") + b" }"


class RestApi:
    """Answers one REST call: ``handle(method, path, body) -> (HTTP status, JSON body)``."""

    def __init__(
        self, services: Services, metrics: ServerMetrics, timeout_seconds: float | None
    ) -> None:
        self._services = services
        self._metrics = metrics
        self._timeout = timeout_seconds

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        started = time.monotonic()
        model_name, api, code = "", "", grpc.StatusCode.OK
        try:
            model_name, api, call = self._route(method, path, body)
            output = call()
            return 200, output
        except ServingStatus as exc:
            code = exc.code
            return http_status(code), error_body(exc.message)
        except Exception:  # a bug: INTERNAL, traceback in the log, not in the answer
            code = grpc.StatusCode.INTERNAL
            logger.exception("REST %s %s failed with a server error", method, path)
            return 500, error_body("internal server error; see the server log")
        finally:
            self._metrics.record_request(
                model_name, api, REST, code.name, time.monotonic() - started
            )

    def _route(self, method: str, path: str, body: bytes) -> tuple[str, str, Callable[[], bytes]]:
        """The model, the method and the call a path names (errors of the path itself raised now)."""
        if method == "POST":
            match = _PREDICT_PATH.fullmatch(path)
            if match:
                name, version, label, verb = match.groups()
                spec = _model_spec(name, version, label)
                if verb.lower() != "predict":
                    raise unimplemented(
                        f"{verb} is not supported: charloom models have predict signatures only"
                    )
                return spec.name, verb, lambda: self._predict(spec, body)
        elif method == "GET":
            match = _STATUS_PATH.fullmatch(path)
            if match:
                name, version, label, metadata = match.groups()
                if not name:
                    raise invalid_argument("Missing model name in request.")
                spec = _model_spec(name, version, label)
                return (
                    spec.name,
                    "",
                    (lambda: self._metadata(spec)) if metadata else (lambda: self._status(spec)),
                )
        raise invalid_argument(f"Malformed request: {method} {path}")

    def _status(self, spec: model_pb2.ModelSpec) -> bytes:
        response = self._services.status(
            get_model_status_pb2.GetModelStatusRequest(model_spec=spec)
        )
        return _json(json_format.MessageToDict(response, always_print_fields_with_no_presence=True))

    def _metadata(self, spec: model_pb2.ModelSpec) -> bytes:
        response = self._services.metadata(
            get_model_metadata_pb2.GetModelMetadataRequest(
                model_spec=spec, metadata_field=["signature_def"]
            )
        )
        signatures = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(signatures)
        options = dict(always_print_fields_with_no_presence=True, preserving_proto_field_name=True)
        return _json(
            {
                "model_spec": json_format.MessageToDict(response.model_spec, **options),
                "metadata": {"signature_def": json_format.MessageToDict(signatures, **options)},
            }
        )

    def _predict(self, spec: model_pb2.ModelSpec, body: bytes) -> bytes:
        document = parse_body(body)
        spec.signature_name = signature_name_of(document)
        signature = self._services.signature(spec, spec.signature_name or DEFAULT_SIGNATURE)
        inputs, form = request_tensors(document, signature)
        request = predict_pb2.PredictRequest(model_spec=spec)
        for name, proto in inputs.items():
            request.inputs[name].CopyFrom(proto)
        deadline = None if self._timeout is None else time.monotonic() + self._timeout
        response = self._services.predict(request, deadline)
        return response_body(
            {name: from_tensor_proto(proto) for name, proto in response.outputs.items()}, form
        )


def _model_spec(name: str, version: str | None, label: str | None) -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=unquote(name))
    if version:
        try:
            spec.version.value = int(version)
        except ValueError:
            raise invalid_argument(f"Failed to convert version: {version} to numeric.") from None
    if label:
        spec.version_label = unquote(label)
    return spec


def _json(document: dict) -> bytes:
    return json.dumps(document, indent=1).encode("utf-8")
