"""Several characters per call through the model's ``sample`` signature: same text, fewer calls.

Uses a model exported by trainer/ (random weights, sharpened logits); tests may import trainer/.
"""

import dataclasses
import math

import pytest

from serving.client.errors import SamplingArgumentError
from serving.client.generator import TextGenerator
from serving.client.local_backend import LocalBackend
from tests.helpers.recording_backend import RecordingBackend

TEXT = "ROMEO:\nBut soft, what light through yonder window breaks?\nJULIET:\nAy me!\n"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from trainer.config import TrainingConfig
    from trainer.export import export_saved_model
    from trainer.model import build_model
    from trainer.vocabulary import Vocabulary

    vocabulary = Vocabulary.from_text(TEXT)
    config = TrainingConfig(cell="gru", num_layers=2, units=(32, 24), embedding_dim=8)
    model = build_model(config, vocabulary.size)
    kernel, bias = model.get_layer("logits").get_weights()
    model.get_layer("logits").set_weights(
        [kernel * 6.0, bias]
    )  # peaked enough for top-k/top-p to bite
    return export_saved_model(model, config, vocabulary, tmp_path_factory.mktemp("models"), {})


@pytest.fixture(scope="module")
def backend(exported):
    return LocalBackend(exported)


OPTIONS = [
    dict(temperature=0.9, seed=3),
    dict(temperature=0.7, top_k=4, seed=4),
    dict(temperature=1.2, top_p=0.8, seed=5),
    dict(temperature=0),
    dict(temperature=1.0, top_k=6, top_p=0.9, seed=6),
]


@pytest.mark.parametrize(
    "options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items())
)
def test_in_model_sampling_gives_the_client_sampled_text(backend, options):
    prompts = ["ROMEO:", "But s"]
    texts = {}
    for steps in (1, 7, 16, 64):
        results = TextGenerator(backend, steps_per_call=steps).generate(
            prompts, num_samples=2, max_new_tokens=45, **options
        )
        texts[steps] = [(r.text, r.finish_reason, r.new_tokens) for r in results]
    assert texts[7] == texts[1] and texts[16] == texts[1] and texts[64] == texts[1]
    assert all(t[2] == 45 and len(t[0]) == 45 for t in texts[1])


def test_calls_carry_steps_per_call_characters(backend):
    counting = RecordingBackend(backend)
    [result] = TextGenerator(counting, steps_per_call=16).generate(
        "ROMEO:", max_new_tokens=50, seed=1
    )
    assert len(result.text) == 50
    # the first character comes from prefill's logits; the other 49 in calls of 16, 16, 16, 1
    vocab = backend.signature.vocab_size
    assert counting.calls == [
        ("detokenize", vocab, 0),
        ("prefill", 1, 0),
        ("sample", 1, 16),
        ("sample", 1, 16),
        ("sample", 1, 16),
        ("sample", 1, 1),
    ]
    model_calls = counting.calls[1:]
    assert sum(c.characters for c in model_calls) == 49 and len(model_calls) == 1 + math.ceil(
        49 / 16
    )


def test_stop_strings_and_streaming_are_unchanged_by_blocks(backend):
    options = dict(max_new_tokens=80, temperature=0.9, seed=8)
    per_step = TextGenerator(backend, steps_per_call=1)
    free = per_step.generate("ROMEO:", num_samples=2, **options)  # two rows, two random streams
    # a stop string in row 0's text (from character 20 on) that row 1 never produces
    stop = next(
        free[0].text[i : i + 3]
        for i in range(20, 70)
        if free[0].text[i : i + 3] not in free[1].text
    )
    counting = RecordingBackend(backend)
    blocked = TextGenerator(counting, steps_per_call=16)
    stopped = blocked.generate("ROMEO:", num_samples=2, stop=[stop], **options)
    reference = per_step.generate("ROMEO:", num_samples=2, stop=[stop], **options)
    assert [(r.text, r.finish_reason, r.new_tokens) for r in stopped] == [
        (r.text, r.finish_reason, r.new_tokens) for r in reference
    ]
    assert (
        stopped[0].finish_reason == "stop"
        and stopped[0].text == free[0].text[: free[0].text.index(stop)]
    )
    assert stopped[1].finish_reason == "length" and stopped[1].new_tokens == 80
    sample_rows = [rows for name, rows, _ in counting.calls if name == "sample"]
    assert sample_rows[0] == 2 and sample_rows[-1] == 1  # the stopped row left the batch
    chunks = list(blocked.stream("ROMEO:", stop=[stop], **options))
    assert "".join(c.text for c in chunks) == stopped[0].text
    assert chunks[-1].finish_reason == "stop" and all(c.finish_reason is None for c in chunks[:-1])
    assert all(stop not in c.text for c in chunks)


def test_a_model_without_sample_is_driven_one_step_per_call(toy_gru_dir):
    class WithoutSample(RecordingBackend):  # a model whose signatures lack `sample`
        signature = property(
            lambda self: dataclasses.replace(
                self.inner.signature,
                signature_names=self.inner.signature.signature_names - {"sample"},
            )
        )

    generator = TextGenerator(WithoutSample(LocalBackend(toy_gru_dir)), steps_per_call=16)
    assert not generator.backend.signature.can_sample
    generator.generate("ROMEO:", max_new_tokens=10, seed=1)
    assert [name for name, _, _ in generator.backend.calls] == ["detokenize", "prefill"] + [
        "step"
    ] * 9


@pytest.mark.parametrize("steps", [0, -1, 65, 2.0, True])
def test_bad_steps_per_call(backend, steps):
    with pytest.raises(SamplingArgumentError, match="steps_per_call"):
        TextGenerator(backend, steps_per_call=steps)


def test_batched_sample_calls_keep_each_streams_text(start_server, exported):
    """Streams with different options share `sample` calls on a batching server; each still gets
    exactly its own text (per-row options and uniforms survive the concatenation)."""
    from concurrent.futures import ThreadPoolExecutor

    from serving.client.generator import GenerationClient
    from serving.server.config import BatchingOptions, single_model

    options = BatchingOptions(
        enabled=True, max_batch_size=8, batch_timeout_micros=100_000, num_batch_threads=1
    )
    handle = start_server(models=(single_model("charloom", exported.parent),), batching=options)
    jobs = [("ROMEO:", {**o, "seed": o.get("seed", 0) + 100}) for o in OPTIONS] + [
        ("JULIET:", OPTIONS[0])
    ]
    reference = TextGenerator(LocalBackend(exported), steps_per_call=1)
    expected = [reference.generate(prompt, max_new_tokens=48, **o)[0].text for prompt, o in jobs]
    registry = handle.metrics.registry
    counts = lambda: (  # noqa: E731
        registry.get_sample_value(
            ":tensorflow:serving:batching_session:processed_batch_size_count"
        ),
        registry.get_sample_value(
            ":tensorflow:serving:request_count", {"model_name": "charloom", "status": "OK"}
        )
        or 0,
    )
    with GenerationClient(f"127.0.0.1:{handle.port}", "charloom", timeout=30) as client:
        client.generate("A", max_new_tokens=2, seed=0)  # learn the model before the streams start
        calls_before, requests_before = counts()
        with ThreadPoolExecutor(len(jobs)) as pool:
            texts = list(
                pool.map(
                    lambda job: client.generate(job[0], max_new_tokens=48, **job[1])[0].text, jobs
                )
            )
    assert texts == expected
    calls, requests = (
        after - before for after, before in zip(counts(), (calls_before, requests_before))
    )
    # Each stream: one prefill and 3 `sample` calls (16 + 16 + 15 characters). Prefills can save at
    # most 4 calls (the five "ROMEO:" prompts), so 6 or more saved means `sample` calls were batched.
    assert requests - calls >= 6, f"{requests} requests took {calls} model calls"
