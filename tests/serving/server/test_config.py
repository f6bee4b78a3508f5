"""Config parsing: TF Serving's model_config_list and BatchingParameters formats, and their mistakes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from serving.errors import ServingError
from serving.server.batching_parameters import parse_batching_parameters
from serving.server.config import (
    BatchingOptions,
    RuntimeOptions,
    ServerConfig,
    ServerLimits,
    VersionPolicy,
    parse_model_config_list,
    single_model,
)


def test_model_config_list_fields():
    models = parse_model_config_list("""
        model_config_list {
          config { name: "a" base_path: "/m/a" model_platform: "tensorflow"
                   model_version_policy { latest { num_versions: 2 } }
                   version_labels { key: "stable" value: 3 } }
          config { name: "b" base_path: "/m/b" model_version_policy { specific { versions: 4 versions: 2 } } }
        }""")
    assert [(m.name, m.base_path) for m in models] == [("a", Path("/m/a")), ("b", Path("/m/b"))]
    assert models[0].version_policy == VersionPolicy("latest", num_versions=2)
    assert dict(models[0].version_labels) == {"stable": 3}
    assert models[1].version_policy.select([1, 2, 3, 4]) == [2, 4]
    assert models[0].version_policy.select([3, 1, 2]) == [2, 3]


@pytest.mark.parametrize(
    "text, message",
    [
        ("model_config_list { config { name: 'a' } }", "every model needs a name and a base_path"),
        ("model_config_list { }", "has no model_config_list entries"),
        (
            "model_config_list { config { name: 'a' base_path: '/a' model_platform: 'pytorch' } }",
            "model_platform 'pytorch' is not supported",
        ),
        ("model_config_list { config { nme: 'a' } }", "cannot parse model config"),
        (
            "model_config_list { config { name: 'a' base_path: '/a' model_version_policy { specific { } } } }",
            "specific version policy lists no versions",
        ),
    ],
)
def test_model_config_mistakes(text, message):
    with pytest.raises(ServingError, match=message):
        parse_model_config_list(text)


def test_server_config_mistakes():
    model = single_model("m", "/m")
    with pytest.raises(ServingError, match="model names must be unique; repeated: m"):
        ServerConfig(models=(model, model))
    with pytest.raises(ServingError, match="--max-prompt-length must be positive"):
        ServerConfig(models=(model,), limits=ServerLimits(max_prompt_length=0))
    with pytest.raises(ServingError, match="no model configured"):
        ServerConfig(models=())


@pytest.mark.parametrize(
    "text, message",
    [
        ("max_batch_size: 8", "cannot parse batching parameters"),
        ("batch_size { value: 8 }", "cannot parse batching parameters"),
    ],
)
def test_batching_parameters_mistakes(text, message):
    with pytest.raises(ServingError, match=message):
        parse_batching_parameters(text)


@pytest.mark.parametrize(
    "text, message",
    [
        ("max_batch_size { value: 0 }", "input_batch_size_limit must be positive; was 0"),
        ("num_batch_threads { value: 0 }", "num_batch_threads must be positive; was 0"),
        ("max_enqueued_batches { value: 0 }", "max_enqueued_batches must be positive; was 0"),
        (
            "max_batch_size { value: 64 } allowed_batch_sizes: 8 allowed_batch_sizes: 32",
            "Last entry in allowed_batch_sizes must match max_batch_size; last entry was 32; expected 64",
        ),
        (
            "max_batch_size { value: 64 } allowed_batch_sizes: 32 allowed_batch_sizes: 8 allowed_batch_sizes: 64",
            "allowed_batch_sizes entries must be monotonically increasing",
        ),
        (
            "max_batch_size { value: 16 } enable_large_batch_splitting { value: true } "
            "max_execution_batch_size { value: 32 }",
            "When enable_large_batch_splitting is true, input_batch_size_limit must be greater than or equal to "
            "max_execution_batch_size.",
        ),
    ],
)
def test_batching_values_tf_serving_refuses(text, message):
    model = single_model("m", "/m")
    with pytest.raises(ServingError, match=re.escape(message)):
        ServerConfig(
            models=(model,),
            batching=BatchingOptions(enabled=True, **parse_batching_parameters(text)),
        )


def test_serve_flags_build_the_config(tmp_path):
    from charloom.cli import build_parser
    from charloom.commands.serve import config_from_args
    from serving import defaults

    parameters = tmp_path / "batching.config"
    parameters.write_text(
        "max_batch_size { value: 32 }\nbatch_timeout_micros { value: 500 }\n"
        "num_batch_threads { value: 4 }\n"
    )
    parser, _ = build_parser()
    argv = [
        "serve",
        "--model-base-path",
        str(tmp_path),
        "--batching-parameters-file",
        str(parameters),
        "--num-batch-threads",
        "1",
        "--max-prompt-length",
        "100",
    ]
    with pytest.raises(
        ServingError, match="--batching-parameters-file is set without --enable-batching"
    ):
        config_from_args(parser.parse_args(argv))
    config = config_from_args(
        parser.parse_args(
            argv
            + [
                "--enable-batching",
                "--tensorflow-intra-op-parallelism",
                "2",
                "--enable-model-warmup",
                "false",
            ]
        )
    )
    assert config.models[0].name == defaults.MODEL_NAME and config.port == defaults.GRPC_PORT
    assert config.batching.enabled
    assert (
        config.batching.max_batch_size,
        config.batching.batch_timeout_micros,
        config.batching.num_batch_threads,
        config.batching.max_enqueued_batches,
    ) == (32, 500, 1, 10)  # the flag overrides the file; TF Serving's default for what neither sets
    assert config.runtime == RuntimeOptions(intra_op_parallelism=2, enable_model_warmup=False)
    tf_serving_defaults = config_from_args(
        parser.parse_args(["serve", "--model-base-path", str(tmp_path), "--enable-batching"])
    ).batching
    assert (
        tf_serving_defaults.max_batch_size,
        tf_serving_defaults.batch_timeout_micros,
        tf_serving_defaults.max_enqueued_batches,
    ) == (1000, 0, 10)
    assert config.limits == ServerLimits(max_prompt_length=100)
    assert config.poll_wait_seconds == defaults.FILE_SYSTEM_POLL_WAIT_SECONDS
