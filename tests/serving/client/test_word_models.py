"""Word models through the client: prompts encoded by the contract's greedy longest match, text
decoded by joining tokens, max_new_tokens counting tokens, stop strings acting on text."""

from __future__ import annotations

import pytest

from serving.client import GenerationClient, TextGenerator
from serving.client.errors import IncompatibleModelError, UnknownCharactersError
from serving.client.vocabulary import TokenVocabulary
from serving.server.config import ServerConfig, single_model
from serving.server.model_server import start_server

TEXT = (
    "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。\n"
    "ROMEO: But soft, what light through yonder window breaks?\n"
) * 4


@pytest.fixture(scope="module")
def word_model(tmp_path_factory):
    from tests.helpers.toy_models import export_toy_model

    return export_toy_model(
        tmp_path_factory.mktemp("word") / "charloom", words_from=TEXT, units=(16,)
    )


def test_token_vocabulary_encodes_by_longest_match():
    vocabulary = TokenVocabulary(["a", "ab", "abc", "b", "c", "春", "春风"])
    assert vocabulary.encode("abcab春风春").tolist() == [2, 1, 6, 5]
    assert vocabulary.decode([2, 1, 6, 5]) == "abcab春风春"
    with pytest.raises(UnknownCharactersError, match=r"'z' \(U\+007A"):
        vocabulary.encode("abz")
    with pytest.raises(IncompatibleModelError, match="duplicate"):
        TokenVocabulary(["a", "a"])
    with pytest.raises(IncompatibleModelError, match="every id must stand for 1 to 16 characters"):
        TokenVocabulary(["a", ""])


def test_word_generation_over_grpc_equals_in_process(word_model):
    local = TextGenerator.from_saved_model(word_model)
    assert not local.vocabulary.is_character_level
    [expected] = local.generate("春眠", max_new_tokens=25, seed=5, temperature=0.9)
    assert (
        expected.new_tokens == 25 and len(expected.text) >= 25
    )  # tokens, each one or more characters
    config = ServerConfig(
        models=(single_model("charloom", word_model.parent),), port=0, host="127.0.0.1"
    )
    with start_server(config) as handle, GenerationClient(f"127.0.0.1:{handle.port}") as client:
        [remote] = client.generate("春眠", max_new_tokens=25, seed=5, temperature=0.9)
        assert remote.text == expected.text
        streamed = "".join(
            c.text for c in client.stream("春眠", max_new_tokens=25, seed=5, temperature=0.9)
        )
        assert streamed == expected.text


def test_a_stop_string_inside_a_word_token_cuts_the_text_there(word_model):
    local = TextGenerator.from_saved_model(word_model)
    [free] = local.generate("ROMEO", max_new_tokens=40, seed=2, temperature=1.0)
    multi = [t for t in local.vocabulary.tokens if len(t) > 1]
    assert multi
    # A stop string that starts inside the text: the first character of a multi-character token seen
    for token in multi:
        where = free.text.find(token)
        if where >= 0:
            stop = token[1:] if len(token) > 2 else token
            break
    else:
        pytest.skip("no multi-character token sampled with this seed")
    [cut] = local.generate("ROMEO", max_new_tokens=40, seed=2, temperature=1.0, stop=stop)
    assert cut.finish_reason == "stop" and cut.text == free.text[: free.text.find(stop)]
