import pytest

from serving.client.errors import SamplingArgumentError, UnknownCharactersError
from serving.client.generator import TextGenerator
from serving.client.local_backend import LocalBackend
from serving.client.stop_strings import StopStringScanner, validate_stop_strings
from tests.helpers.recording_backend import RecordingBackend


def feed(scanner, text):
    return [scanner.push(c) for c in text]


def test_stop_string_ends_the_text_before_it():
    scanner = StopStringScanner(("\n\n",))
    emitted = feed(scanner, "ab\n\n")
    assert "".join(emitted) == "ab" and scanner.stopped and scanner.text == "ab"


def test_hold_back_releases_text_once_it_cannot_start_a_stop_string():
    scanner = StopStringScanner(("END",))
    assert feed(scanner, "xEN") == ["x", "", ""]
    assert scanner.push("Y") == "ENY"
    assert feed(scanner, "zE") == ["z", ""]
    assert scanner.flush() == "E" and not scanner.stopped


def test_overlapping_stop_strings():
    scanner = StopStringScanner(("abc", "bd"))
    assert feed(scanner, "xabd") == ["x", "", "", "a"]  # "xa" released when "bd" completes
    assert scanner.stopped and scanner.text == "xa"


def test_stop_string_validation():
    assert validate_stop_strings(None) == ()
    assert validate_stop_strings("\n") == ("\n",)
    with pytest.raises(SamplingArgumentError):
        validate_stop_strings(["ok", ""])


@pytest.fixture(scope="module")
def local(toy_gru_dir):
    return LocalBackend(toy_gru_dir)


@pytest.fixture
def recording(local):
    return RecordingBackend(local)


def test_one_prefill_then_one_step_per_character(recording):
    generator = TextGenerator(recording, steps_per_call=1)
    [result] = generator.generate("ROMEO:", max_new_tokens=30, seed=1)
    assert result.new_tokens == 30 and len(result.text) == 30 and result.finish_reason == "length"
    assert recording.calls == [("detokenize", 60, 0), ("prefill", 1, 0)] + [("step", 1, 1)] * 29


def test_same_seed_same_text_and_samples_independent_of_batching(local):
    generator = TextGenerator(local)
    options = dict(max_new_tokens=40, temperature=0.9, top_p=0.95, seed=11)
    batch = generator.generate(["ROMEO:", "JULIET:"], num_samples=3, **options)
    assert [(r.prompt_index, r.sample_index) for r in batch] == [
        (p, s) for p in (0, 1) for s in range(3)
    ]
    assert [r.text for r in batch] == [
        r.text for r in generator.generate(["ROMEO:", "JULIET:"], num_samples=3, **options)
    ]
    alone = generator.generate("JULIET:", num_samples=3, **options)
    assert [r.text for r in alone] == [r.text for r in batch[3:]]
    assert len({r.text for r in batch[:3]}) == 3  # samples differ from each other
    assert generator.generate("ROMEO:", **{**options, "seed": 12})[0].text != batch[0].text


def test_greedy_is_deterministic_without_seed(local):
    generator = TextGenerator(local)
    first = generator.generate("KING:", max_new_tokens=25, temperature=0)
    assert first[0].text == generator.generate("KING:", max_new_tokens=25, temperature=0)[0].text


def test_stop_strings_finish_rows_and_drop_them_from_the_batch(recording):
    generator = TextGenerator(recording, steps_per_call=1)
    options = dict(max_new_tokens=60, temperature=0.8, seed=5)
    free = generator.generate(
        "A", num_samples=2, **options
    )  # two rows with their own random streams
    # a stop string in row 0's text (from character 10 on) that row 1 never produces
    stop = next(
        free[0].text[i : i + 2]
        for i in range(10, 50)
        if free[0].text[i : i + 2] not in free[1].text
    )
    cut = free[0].text.index(stop)
    recording.calls.clear()
    stopped = generator.generate("A", num_samples=2, stop=[stop], **options)
    assert stopped[0].text == free[0].text[:cut] and stopped[0].finish_reason == "stop"
    assert stopped[0].new_tokens == cut + len(stop)
    assert stop not in free[1].text  # fixed seed: row 1 never produces it
    assert stopped[1].text == free[1].text and stopped[1].finish_reason == "length"
    sizes = [rows for name, rows, _ in recording.calls if name == "step"]
    assert sizes == [2] * (cut + len(stop) - 1) + [1] * (60 - cut - len(stop))


def test_stream_yields_text_as_it_is_produced_and_matches_generate(local):
    generator = TextGenerator(local, steps_per_call=1)
    options = dict(max_new_tokens=50, temperature=0.7, seed=2)
    reference = generator.generate("ROMEO:", **options)[0].text
    stop = reference[30:33]
    chunks = list(generator.stream("ROMEO:", stop=stop, **options))
    assert len(chunks) > 10
    assert "".join(c.text for c in chunks) == reference[: reference.index(stop)]
    assert [c.finish_reason for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1].finish_reason == "stop"
    partial = reference[: reference.index(stop)] + stop[:-1]
    emitted = ""
    for chunk in chunks:  # nothing from the stop string ever leaves the generator
        emitted += chunk.text
        assert partial.startswith(emitted) and stop not in emitted


def test_lstm_states_are_carried(toy_lstm_dir):
    generator = TextGenerator.from_saved_model(toy_lstm_dir)
    assert generator.backend.signature.state_names == ("layer_0_c", "layer_0_h")
    results = generator.generate(["Hi", "Hello there"], max_new_tokens=20, seed=0)
    assert all(len(r.text) == 20 for r in results)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperature": -1}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"num_samples": 0}, "num_samples"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"stop": [""]}, "stop"),
    ],
)
def test_bad_arguments_fail_before_any_call(recording, kwargs, match):
    with pytest.raises(SamplingArgumentError, match=match):
        TextGenerator(recording).generate("ROMEO:", **kwargs)
    assert recording.calls == []


def test_unknown_characters_named_before_any_prefill(recording):
    with pytest.raises(UnknownCharactersError) as info:
        TextGenerator(recording).stream(["ok", "café €"], max_new_tokens=5)
    message = str(info.value)
    assert "'é' (U+00E9 LATIN SMALL LETTER E WITH ACUTE)" in message and "U+20AC" in message
    assert [name for name, _, _ in recording.calls] == ["detokenize"]


def test_empty_prompt_refused(recording):
    with pytest.raises(SamplingArgumentError, match="non-empty"):
        TextGenerator(recording).generate([""])
