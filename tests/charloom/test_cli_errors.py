"""Every user mistake the audit found is one line on stderr and exit code 2, never a traceback."""

from __future__ import annotations

import pytest

from charloom.cli import main


def one_line_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--rest-api-port", "70000"], "--rest-api-port 70000 is not a TCP port"),
        (
            ["--file-system-poll-wait-seconds", "nan"],
            "--file-system-poll-wait-seconds must be a number >= 0, got nan",
        ),
        (
            ["--file-system-poll-wait-seconds", "-1"],
            "--file-system-poll-wait-seconds must be a number >= 0",
        ),
        (["--grace-seconds", "inf"], "--grace-seconds must be a number >= 0, got inf"),
        (["--max-concurrent-requests", "0"], "--max-concurrent-requests must be positive"),
        (
            ["--max-message-bytes", "99999999999999999999"],
            "--max-message-bytes must be positive and at most 2147483647",
        ),
        (["--rest-api-num-threads", "99999999999"], "--rest-api-num-threads must be positive"),
        (["--rest-api-timeout-in-ms", "99999999999999"], "--rest-api-timeout-in-ms must be in"),
        (["--tensorflow-intra-op-parallelism", "99999999999"], "must be in [0, 4096]"),
        (
            ["--enable-batching", "--batch-timeout-micros", "99999999999999999999"],
            "batch_timeout_micros must be at most 86400000000",
        ),
        (
            ["--enable-batching", "--num-batch-threads", "99999"],
            "num_batch_threads must be at most",
        ),
        (["--grpc-channel-arguments", "grpc.x=99999999999999999999"], "does not fit in a 32-bit"),
        (["--model-load-timeout-seconds", "inf"], "--model-load-timeout-seconds must be in"),
        (["--model-load-timeout-seconds", "0"], "--model-load-timeout-seconds must be in"),
    ],
)
def test_serve_flags(flags, message, tmp_path, capsys):
    assert message in one_line_error(["serve", "--model-base-path", str(tmp_path), *flags], capsys)


def test_export_to_a_url_or_an_unwritable_path(tmp_path, capsys):
    from tests.helpers.export_models import VOCAB
    from trainer.checkpoints import write_checkpoint
    from trainer.config import TrainingConfig
    from trainer.model import build_model

    config = TrainingConfig(units=(4,), embedding_dim=2)
    checkpoint = write_checkpoint(
        tmp_path / "ckpt", build_model(config, VOCAB.size), config, VOCAB, epoch=1
    )
    err = one_line_error(
        ["export", "--checkpoint", str(checkpoint), "--model-base-path", "gs://bucket/m"], capsys
    )
    assert "gs://bucket/m is a URL" in err
    assert not (tmp_path / "gs:").exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    err = one_line_error(
        ["export", "--checkpoint", str(checkpoint), "--model-base-path", str(blocker / "m")], capsys
    )
    assert "cannot create model base path" in err


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "is corrupted (not valid JSON"),
        ("[1, 2]", "is corrupted: not the options of a charloom tune experiment"),
        ('{"corpus": "x", "surprise": 1}', "unknown fields: surprise"),
        ('{"num_samples": "many"}', "is corrupted"),
    ],
)
def test_tune_resume_of_a_corrupt_options_file(content, message, tmp_path, capsys):
    (tmp_path / "charloom-tune.json").write_text(content)
    assert message in one_line_error(["tune", "--resume", str(tmp_path)], capsys)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--top-k", "3000000000"], "top_k must be an integer in [0, 2147483647]"),
        (
            ["--version", "99999999999999999999"],
            "version must be an integer in [0, 9223372036854775807]",
        ),
        (["--num-samples", "100000000000"], "num_samples must be an integer in [1, 10000]"),
        (
            ["--max-new-tokens", "99999999999999999999"],
            "max_new_tokens must be an integer in [1, 10000000]",
        ),
        (
            ["--max-rows-per-call", "99999999999"],
            "max_rows_per_call must be an integer in [1, 65536]",
        ),
        (["--timeout", "inf"], "timeout must be in (0, 86400] seconds, got inf"),
        (["--resume-seconds", "inf"], "resume_seconds must be in [0, 86400] seconds"),
        (["--wait-ready", "nan"], "wait_seconds must be in [0, 86400] seconds, got nan"),
        (
            ["--prompt", "b", "--num-samples", "6000"],
            "2 prompts x 6000 samples are more than 10000",
        ),
    ],
)
def test_generate_numbers_out_of_range(flags, message, capsys):
    """Refused before any connection (the target has no server)."""
    argv = ["generate", "--target", "127.0.0.1:1", "--prompt", "a", *flags]
    assert message in one_line_error(argv, capsys)
