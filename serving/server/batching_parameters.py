"""TF Serving's `--batching_parameters_file` format, read without TF Serving's Python package.

The pip package `tensorflow-serving-api` does not ship `session_bundle_config_pb2`, so the
`BatchingParameters` message is declared here from its field numbers and types and parsed with
protobuf's text format: a file written for the real server works unchanged with ours. The
values are checked by `BatchingOptions.problems` with TF Serving's rules.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,
)

from serving.errors import ServingError

logger = logging.getLogger(__name__)

_INT64_WRAPPER = ".google.protobuf.Int64Value"
# (name, number, label, type, type_name) of tensorflow.serving.BatchingParameters.
_FIELDS: tuple[tuple[str, int, int, int, str], ...] = (
    ("max_batch_size", 1, 1, 11, _INT64_WRAPPER),
    ("batch_timeout_micros", 2, 1, 11, _INT64_WRAPPER),
    ("max_enqueued_batches", 3, 1, 11, _INT64_WRAPPER),
    ("num_batch_threads", 4, 1, 11, _INT64_WRAPPER),
    ("thread_pool_name", 5, 1, 11, ".google.protobuf.StringValue"),
    ("allowed_batch_sizes", 6, 3, 3, ""),  # repeated int64
    ("pad_variable_length_inputs", 7, 1, 8, ""),  # bool
    ("enable_large_batch_splitting", 8, 1, 11, ".google.protobuf.BoolValue"),
    ("max_execution_batch_size", 9, 1, 11, _INT64_WRAPPER),
)
_INT_FIELDS = (
    "max_batch_size",
    "batch_timeout_micros",
    "max_enqueued_batches",
    "num_batch_threads",
    "max_execution_batch_size",
)


def batching_parameters_class() -> type:
    """Build the BatchingParameters message class in a private descriptor pool."""
    pool = descriptor_pool.DescriptorPool()
    wrappers = descriptor_pb2.FileDescriptorProto()
    wrappers_pb2.DESCRIPTOR.CopyToProto(wrappers)
    pool.Add(wrappers)
    file_proto = descriptor_pb2.FileDescriptorProto(
        name="charloom/session_bundle_config.proto",
        package="tensorflow.serving",
        dependency=[wrappers.name],
        syntax="proto3",
    )
    message = file_proto.message_type.add(name="BatchingParameters")
    for name, number, label, field_type, type_name in _FIELDS:
        field = message.field.add(name=name, number=number, label=label, type=field_type)
        if type_name:
            field.type_name = type_name
    pool.Add(file_proto)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.serving.BatchingParameters")
    )


def parse_batching_parameters(text: str, source: str = "<text>") -> dict[str, Any]:
    """The fields set in a BatchingParameters text proto, as BatchingOptions keyword arguments.

    Every field TF Serving reads is honoured; ``thread_pool_name`` only names TF Serving's
    threads and is accepted and ignored.
    """
    message = batching_parameters_class()()
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as exc:
        raise ServingError(f"cannot parse batching parameters {source}: {exc}") from exc
    values: dict[str, Any] = {}
    for field, value in message.ListFields():
        if field.name in _INT_FIELDS:
            values[field.name] = int(value.value)
        elif field.name == "allowed_batch_sizes":
            values[field.name] = tuple(int(v) for v in value)
        elif field.name == "pad_variable_length_inputs":
            values[field.name] = bool(value)
        elif field.name == "enable_large_batch_splitting":
            values[field.name] = bool(value.value)
        else:
            logger.info(
                "batching parameter %s in %s only names TF Serving's threads; ignored",
                field.name,
                source,
            )
    return values


def read_batching_parameters_file(path: Path) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ServingError(f"cannot read batching parameters file {path}: {exc}") from exc
    return parse_batching_parameters(text, str(path))
