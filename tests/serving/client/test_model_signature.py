import re

import pytest

from serving.client.errors import IncompatibleModelError
from serving.client.model_signature import StepSignature

F, I, D = "float", "int32", "double"  # noqa: E741
SAMPLE_IN = {
    "input_ids": ((-1, 1), I),
    "uniforms": ((-1, -1), D),
    "temperature": ((-1,), D),
    "top_k": ((-1,), I),
    "top_p": ((-1,), D),
    "layer_0_h": ((-1, 8), F),
    "layer_1_h": ((-1, 4), F),
}
SAMPLE_OUT = {"sampled_ids": ((-1, -1), I), "layer_0_h": ((-1, 8), F), "layer_1_h": ((-1, 4), F)}


def layouts(changes=None, sample=False):
    inputs = {
        "serving_default": {
            "input_ids": ((-1, 1), I),
            "layer_0_h": ((-1, 8), F),
            "layer_1_h": ((-1, 4), F),
        },
        "prefill": {
            "input_ids": ((-1, -1), I),
            "lengths": ((-1,), I),
            "layer_0_h": ((-1, 8), F),
            "layer_1_h": ((-1, 4), F),
        },
        "detokenize": {"input_ids": ((-1, -1), I)},
    }
    outputs = {
        "serving_default": {
            "logits": ((-1, 65), F),
            "layer_0_h": ((-1, 8), F),
            "layer_1_h": ((-1, 4), F),
        },
        "prefill": {"logits": ((-1, 65), F), "layer_0_h": ((-1, 8), F), "layer_1_h": ((-1, 4), F)},
        "detokenize": {"text": ((-1,), "string")},
    }
    if sample:
        inputs["sample"], outputs["sample"] = dict(SAMPLE_IN), dict(SAMPLE_OUT)
    for (kind, sig, name), value in (changes or {}).items():
        table = (inputs if kind == "in" else outputs)[sig]
        if value is None:
            table.pop(name)
        else:
            table[name] = value
    return inputs, outputs


def test_states_vocabulary_and_zero_states():
    signature = StepSignature.from_layouts(*layouts())
    assert signature.vocab_size == 65
    assert signature.state_names == ("layer_0_h", "layer_1_h")
    zeros = signature.zero_states(3)
    assert {k: v.shape for k, v in zeros.items()} == {"layer_0_h": (3, 8), "layer_1_h": (3, 4)}
    assert all(v.dtype == "float32" and not v.any() for v in zeros.values())


@pytest.mark.parametrize(
    "change, message",
    [
        ({("in", "prefill", "layer_1_h"): None}, "state 'layer_1_h' is missing from 'prefill'"),
        ({("out", "serving_default", "logits"): ((-1, -1), F)}, "static vocabulary dimension"),
        ({("in", "serving_default", "layer_0_h"): ((-1, 8), "double")}, "'layer_0_h' is double"),
        ({("in", "serving_default", "input_ids"): ((-1, 1), "int64")}, "'input_ids' is int64"),
        ({("in", "prefill", "lengths"): None}, "no tensor 'lengths'"),
    ],
)
def test_contract_violations_are_named(change, message):
    with pytest.raises(IncompatibleModelError, match=message):
        StepSignature.from_layouts(*layouts(change))


def test_sample_signature_is_optional_and_checked_when_present():
    assert not StepSignature.from_layouts(*layouts()).can_sample
    assert StepSignature.from_layouts(*layouts(sample=True)).can_sample


@pytest.mark.parametrize(
    "change, message",
    [
        ({("in", "sample", "uniforms"): ((-1, -1), F)}, "'sample' tensor 'uniforms' is float"),
        ({("in", "sample", "top_k"): None}, "no tensor 'top_k'"),
        ({("out", "sample", "sampled_ids"): None}, "no tensor 'sampled_ids'"),
        ({("out", "sample", "layer_1_h"): None}, "state 'layer_1_h' is missing from 'sample'"),
    ],
)
def test_sample_contract_violations_are_named(change, message):
    with pytest.raises(IncompatibleModelError, match=message):
        StepSignature.from_layouts(*layouts(change, sample=True))


def test_missing_signature():
    inputs, outputs = layouts()
    del inputs["prefill"]
    with pytest.raises(IncompatibleModelError, match="no 'prefill' signature"):
        StepSignature.from_layouts(inputs, outputs)


EXTRAS_IN = {
    "min_p": ((-1,), D),
    "repetition_penalty": ((-1,), D),
    "frequency_penalty": ((-1,), D),
    "presence_penalty": ((-1,), D),
    "logprobs": ((-1,), I),
    "logit_bias": ((-1, 65), F),
    "output_token_counts": ((-1, 65), I),
    "prompt_token_mask": ((-1, 65), I),
}
EXTRAS_OUT = {
    "sampled_logprobs": ((-1, 64), F),
    "top_logprob_ids": ((-1, 64, -1), I),
    "top_logprobs": ((-1, 64, -1), F),
}


def with_extras(changes=None):
    inputs, outputs = layouts(sample=True)
    inputs["sample"].update(EXTRAS_IN)
    outputs["sample"].update(EXTRAS_OUT)
    for (kind, name), value in (changes or {}).items():
        table = (inputs if kind == "in" else outputs)["sample"]
        if value is None:
            table.pop(name)
        else:
            table[name] = value
    return inputs, outputs


def test_the_sample_extras_are_learned_all_or_none():
    assert StepSignature.from_layouts(*with_extras()).sample_extras
    assert not StepSignature.from_layouts(*layouts(sample=True)).sample_extras
    for changes, message in [
        ({("in", "min_p"): None}, "lacks min_p of its new inputs"),
        ({("in", "logit_bias"): ((-1, 64), F)}, "expected [-1, 65]"),
        ({("in", "logprobs"): ((-1,), D)}, "'logprobs' is double"),
        ({("out", "top_logprobs"): None}, "no tensor 'top_logprobs'"),
    ]:
        with pytest.raises(IncompatibleModelError, match=re.escape(message)):
            StepSignature.from_layouts(*with_extras(changes))
