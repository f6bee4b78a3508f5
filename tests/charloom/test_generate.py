import pytest

from charloom.cli import main
from serving.client.generator import TextGenerator


def run(capsys, *argv):
    code = main(["generate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_generate_prints_prompt_and_text(capsys, fake_server, toy_gru_dir):
    target, _ = fake_server
    code, out, err = run(
        capsys,
        "--target",
        target,
        "--model",
        "toy",
        "--prompt",
        "ROMEO:",
        "--max-new-tokens",
        "30",
        "--temperature",
        "0.8",
        "--seed",
        "4",
        "--wait-ready",
        "5",
    )
    [expected] = TextGenerator.from_saved_model(toy_gru_dir).generate(
        "ROMEO:", max_new_tokens=30, temperature=0.8, seed=4
    )
    assert code == 0 and out == "ROMEO:" + expected.text + "\n"


def test_generate_streams(capsys, fake_server):
    target, _ = fake_server
    argv = [
        "--target",
        target,
        "--model",
        "toy",
        "--prompt",
        "KING:",
        "--max-new-tokens",
        "25",
        "--seed",
        "1",
    ]
    streamed = run(capsys, *argv, "--stream")
    plain = run(capsys, *argv)
    assert streamed[0] == 0 and streamed[1] == plain[1]


def test_several_prompts_and_samples_get_headers(capsys, fake_server):
    target, _ = fake_server
    code, out, _ = run(
        capsys,
        "--target",
        target,
        "--model",
        "toy",
        "--prompt",
        "A",
        "--prompt",
        "B",
        "--num-samples",
        "2",
        "--max-new-tokens",
        "5",
        "--seed",
        "3",
    )
    assert code == 0
    assert out.count("--- prompt ") == 4 and "--- prompt 2, sample 2 (length, seed 3) ---" in out


def test_user_errors_are_one_line_with_exit_code_2(capsys, fake_server):
    target, servicer = fake_server
    for argv, fragment in [
        (["--temperature", "-1"], "temperature must be"),
        (["--top-p", "0"], "top_p must be a finite number in (0, 1]"),
        (["--prompt", "B", "--stream"], "--stream"),
        (["--steps-per-call", "0"], "steps_per_call must be an integer in [1, 64]"),
        (["--prompt", "naïve"], "'ï' (U+00EF LATIN SMALL LETTER I WITH DIAERESIS)"),
        (["--logprobs", "21"], "logprobs must be an integer in [0, 20]"),
        (["--repetition-penalty", "0"], "repetition_penalty must be a finite number in (0, 100]"),
        (["--frequency-penalty", "nan"], "frequency_penalty must be a finite number in [-2, 2]"),
        (["--min-p", "2"], "min_p must be a finite number in [0, 1]"),
        (["--logit-bias", "e"], "--logit-bias takes TOKEN=BIAS"),
        (["--logit-bias", "é=1"], "logit_bias key 'é' is not a token"),
    ]:
        code, out, err = run(capsys, "--target", target, "--model", "toy", "--prompt", "A", *argv)
        assert code == 2 and out == "" and fragment in err and err.count("\n") == 1, (argv, err)
    assert [c for c in servicer.predict_calls if c != "detokenize"] == []


def test_wait_ready_times_out_cleanly(capsys, unused_tcp_port):
    code, _, err = run(
        capsys, "--target", f"127.0.0.1:{unused_tcp_port}", "--prompt", "A", "--wait-ready", "0.5"
    )
    assert code == 2 and "not ready within 0.5s" in err


@pytest.mark.slow  # seconds of waiting (or an export of its own): not the inner loop
def test_a_chinese_vocabulary_generates_under_the_servers_default_limits(capsys, tmp_path):
    """2,600 characters (zh-tang300.txt has 2,579): the vocabulary is learned in calls of at most
    --max-rows-per-call rows, under the default --max-request-batch of 256."""
    from serving.server.config import ServerConfig, single_model
    from serving.server.model_server import start_server
    from tests.helpers.toy_models import export_toy_model

    chars = "".join(chr(0x4E00 + i) for i in range(2600))
    export_toy_model(tmp_path / "zh", units=(8,), chars=chars)
    config = ServerConfig(
        models=(single_model("charloom", tmp_path / "zh"),), port=0, host="127.0.0.1"
    )
    with start_server(config) as handle:
        code, out, err = run(
            capsys,
            "--target",
            f"127.0.0.1:{handle.port}",
            "--prompt",
            "一丁",
            "--max-new-tokens",
            "20",
            "--seed",
            "1",
        )
    assert code == 0, err
    text = out.rstrip("\n")
    assert text.startswith("一丁") and len(text) == 22 and set(text) <= set(chars)


def test_logprobs_and_penalties_from_the_command_line(capsys, fake_server, toy_gru_dir):
    target, _ = fake_server
    argv = ["--target", target, "--model", "toy", "--prompt", "ROMEO:", "--seed", "4"]
    options = ["--max-new-tokens", "12", "--logprobs", "2", "--frequency-penalty", "1.5"]
    code, out, _ = run(capsys, *argv, *options, "--logit-bias", "e=-100", "--min-p", "0.01")
    [expected] = TextGenerator.from_saved_model(toy_gru_dir).generate(
        "ROMEO:",
        max_new_tokens=12,
        seed=4,
        logprobs=2,
        frequency_penalty=1.5,
        logit_bias={"e": -100.0},
        min_p=0.01,
    )
    lines = out.splitlines()
    assert code == 0 and lines[0] == "ROMEO:" + expected.text and len(lines) == 13
    first = expected.logprobs[0]
    assert lines[1].split()[:2] == [repr(first.token), f"{first.logprob:.4f}"]
    assert f"| {first.top[0][0]!r} {first.top[0][1]:.4f}" in lines[1]
