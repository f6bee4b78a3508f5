"""Config parsing: TF Serving's model_config_list and BatchingParameters formats, and their mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.batching_parameters import parse_batching_parameters
from serving.errors import ServingError
from serving.model_config import (ServerConfig, ServerLimits, VersionPolicy, parse_model_config_list,
                                  single_model)


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


@pytest.mark.parametrize("text, message", [
    ("model_config_list { config { name: 'a' } }", "every model needs a name and a base_path"),
    ("model_config_list { }", "has no model_config_list entries"),
    ("model_config_list { config { name: 'a' base_path: '/a' model_platform: 'pytorch' } }",
     "model_platform 'pytorch' is not supported"),
    ("model_config_list { config { nme: 'a' } }", "cannot parse model config"),
    ("model_config_list { config { name: 'a' base_path: '/a' model_version_policy { specific { } } } }",
     "specific version policy lists no versions"),
])
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


@pytest.mark.parametrize("text, message", [
    ("max_batch_size { value: 0 }", "max_batch_size .* must be positive"),
    ("max_batch_size: 8", "cannot parse batching parameters"),
    ("batch_size { value: 8 }", "cannot parse batching parameters"),
])
def test_batching_parameters_mistakes(text, message):
    with pytest.raises(ServingError, match=message):
        parse_batching_parameters(text)


def test_serve_flags_build_the_config(tmp_path):
    from charloom.cli import build_parser
    from serving import defaults
    from serving.serve_command import config_from_args

    parameters = tmp_path / "batching.config"
    parameters.write_text("max_batch_size { value: 32 }\nbatch_timeout_micros { value: 500 }\n"
                          "num_batch_threads { value: 4 }\n")
    parser, _ = build_parser()
    args = parser.parse_args(["serve", "--model-base-path", str(tmp_path), "--batching-parameters-file",
                              str(parameters), "--num-batch-threads", "1", "--max-prompt-length", "100"])
    config = config_from_args(args)
    assert config.models[0].name == defaults.MODEL_NAME and config.port == defaults.GRPC_PORT
    assert config.batching.enabled
    assert (config.batching.max_batch_size, config.batching.batch_timeout_micros,
            config.batching.num_batch_threads, config.batching.max_enqueued_batches) == (
        32, 500, 1, defaults.MAX_ENQUEUED_BATCHES)  # the flag overrides the file
    assert config.limits == ServerLimits(max_prompt_length=100)
    assert config.poll_wait_seconds == defaults.FILE_SYSTEM_POLL_WAIT_SECONDS
