"""A server whose answers break the signature contract: `charloom generate` says which call broke
it how, in one line, never a traceback, and never turns NaN logits into text."""

from __future__ import annotations

import numpy as np
import pytest

from charloom.cli import main
from serving.contract import DETOKENIZE, LOGITS, PREFILL, SAMPLE, SAMPLED_IDS, STEP, TEXT


def corrupt(signature, name, change):
    def rewrite(called, outputs):
        if called == signature:
            outputs = dict(outputs)
            outputs[name] = change(np.asarray(outputs[name]))
        return outputs

    return rewrite


def all_rows(change):
    """Every output of a prefill answer changed the same way (its rows, for instance)."""

    def rewrite(called, outputs):
        return (
            {k: change(np.asarray(v)) for k, v in outputs.items()} if called == PREFILL else outputs
        )

    return rewrite


CASES = {
    "invalid UTF-8 text": (
        corrupt(DETOKENIZE, TEXT, lambda t: np.full(t.shape, b"\xff\xfe", dtype=object)),
        f"its {DETOKENIZE} answer has row 0 of 'text' that is not UTF-8",
    ),
    "ids outside the vocabulary": (
        corrupt(SAMPLE, SAMPLED_IDS, lambda ids: ids + 1000),
        f"its {SAMPLE} answer has id ",
    ),
    "ids of a float dtype": (
        corrupt(SAMPLE, SAMPLED_IDS, lambda ids: ids.astype(np.float32)),
        f"its {SAMPLE} answer has 'sampled_ids' of dtype float32, not integer ids",
    ),
    "zero rows from prefill": (
        all_rows(lambda a: a[:0]),
        f"its {PREFILL} answer has 'logits' of shape [0, ",
    ),
    "logits wider than the vocabulary": (
        corrupt(PREFILL, LOGITS, lambda x: np.pad(x, ((0, 0), (0, 3)))),
        f"its {PREFILL} answer has 'logits' of shape",
    ),
    "NaN logits": (
        corrupt(PREFILL, LOGITS, lambda x: np.full_like(x, np.nan)),
        f"its {PREFILL} answer has NaN or infinite values in 'logits'",
    ),
}


def generate(capsys, target, *flags):
    code = main(
        [
            "generate",
            "--target",
            target,
            "--model",
            "toy",
            "--prompt",
            "ROMEO:",
            "--seed",
            "1",
            "--max-new-tokens",
            "20",
            *flags,
        ]
    )
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", list(CASES))
def test_an_answer_that_breaks_the_contract_is_named_in_one_line(case, capsys, fake_server):
    target, servicer = fake_server
    servicer.corrupt_outputs, expected = CASES[case]
    code, out, err = generate(capsys, target)
    assert code == 2
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert f"{target}" in err and "broke the signature contract" in err, err
    assert expected in err, err
    assert "ROMEO:" not in out  # no text from a broken answer


def test_the_step_path_checks_its_answers_too(capsys, fake_server):
    target, servicer = fake_server
    servicer.corrupt_outputs = corrupt(STEP, LOGITS, lambda x: np.full_like(x, np.inf))
    code, _, err = generate(capsys, target, "--steps-per-call", "1")
    assert code == 2 and f"its {STEP} answer has NaN or infinite values in 'logits'" in err, err


def test_metadata_claiming_a_huge_vocabulary_is_refused(capsys, fake_server):
    target, servicer = fake_server

    def huge_vocabulary(defs):
        defs.signature_def[STEP].outputs[LOGITS].tensor_shape.dim[1].size = 2**40

    servicer.corrupt_signatures = huge_vocabulary
    code, _, err = generate(capsys, target)
    assert code == 2 and err.count("\n") == 1, err
    assert f"claims a vocabulary of {2**40} tokens, more than the contract's 16777216" in err
