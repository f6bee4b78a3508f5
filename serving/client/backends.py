"""The transport-independent interface the generation loop drives, on top of one call primitive.

Two implementations of `SignatureBackend._run` (one signature call, inputs and outputs by alias):
`serving.client.grpc_backend.GrpcBackend` (TF Serving's PredictionService over gRPC) and
`serving.client.local_backend.LocalBackend` (the SavedModel loaded in process the way TF Serving loads
it). Everything else (zero states, the sample inputs, trimming outputs) is written once here.
States are numpy arrays keyed by state name.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from serving.client.answers import AnswerCheck
from serving.client.errors import FeatureNotExportedError, IncompatibleModelError
from serving.client.logprobs import SampledLogprobs
from serving.client.model_signature import StepSignature
from serving.client.sampling import SamplingParams
from serving.client.vocabulary import TokenVocabulary
from serving.contract import (
    DETOKENIZE,
    INPUT_IDS,
    LENGTHS,
    NO_ID,
    PREFILL,
    SAMPLE,
    SAMPLED_IDS,
    SAMPLED_LOGPROBS,
    SCORE,
    STEP,
    TEXT,
    TOKEN_LOGPROBS,
    TOP_LOGPROB_IDS,
    TOP_LOGPROBS,
    UNIFORMS,
)

States = dict[str, np.ndarray]


class SignatureBackend:
    """One served model: its signature, and the calls the generation loop needs."""

    signature: StepSignature

    @property
    def description(self) -> str:
        """Where the model is, for error messages ("localhost:8500 (model 'charloom' version 3)")."""
        raise NotImplementedError

    def _run(
        self,
        signature_name: str,
        inputs: dict[str, np.ndarray],
        outputs: Sequence[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """Call one signature with inputs of equal dimension 0; its outputs by alias (only
        ``outputs`` when given: TF Serving's ``output_filter``)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the connection or the session."""

    @property
    def answers(self) -> AnswerCheck:
        """The checks every answer of this backend passes (serving/client/answers.py)."""
        return AnswerCheck(self.description, self.signature)

    def _logits_and_states(
        self, signature_name: str, inputs: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, States]:
        out = self._run(signature_name, inputs)
        check, rows = self.answers, len(inputs[INPUT_IDS])
        return check.logits(signature_name, out, rows), check.states(signature_name, out, rows)

    def detokenize(self, ids: np.ndarray) -> list[str]:
        """Strings of int32 ids [rows, length] (the model's ``detokenize`` signature)."""
        ids = np.asarray(ids, np.int32)
        width = self.signature.detokenize_width
        if width is not None:  # fixed-width exports: pad with NO_ID, in pieces of that width
            if ids.shape[1] > width:
                return [
                    "".join(parts)
                    for parts in zip(
                        *(
                            self.detokenize(ids[:, start : start + width])
                            for start in range(0, ids.shape[1], width)
                        )
                    )
                ]
            padded = np.full((len(ids), width), NO_ID, np.int32)
            padded[:, : ids.shape[1]] = ids
            ids = padded
        out = self._run(DETOKENIZE, {INPUT_IDS: ids})
        return self.answers.texts(DETOKENIZE, out, TEXT, len(ids))

    def prefill(
        self, ids: np.ndarray, lengths: np.ndarray, states: States | None = None
    ) -> tuple[np.ndarray, States]:
        """Feed right-padded prompt tokens [rows, width] (zero states unless given): logits [rows, V]
        after each row's last fed token, and the states."""
        states = self.signature.zero_states(len(ids)) if states is None else states
        return self._logits_and_states(
            PREFILL,
            {
                INPUT_IDS: np.asarray(ids, np.int32),
                LENGTHS: np.asarray(lengths, np.int32),
                **states,
            },
        )

    def score(
        self, ids: np.ndarray, lengths: np.ndarray, states: States | None = None
    ) -> tuple[np.ndarray, np.ndarray, States]:
        """Like `prefill`, and each row's token log-probabilities [rows, width] (entry t: of
        ``ids[t + 1]``; 0 from the row's last token on): the model's ``score`` signature."""
        if not self.signature.can_score:
            raise FeatureNotExportedError(
                f"{self.description} has no {SCORE!r} signature (exported before charloom could "
                "score text): export the model again to score text or return prompt logprobs"
            )
        states = self.signature.zero_states(len(ids)) if states is None else states
        out = self._run(
            SCORE,
            {
                INPUT_IDS: np.asarray(ids, np.int32),
                LENGTHS: np.asarray(lengths, np.int32),
                **states,
            },
        )
        rows, width = np.shape(ids)
        check = self.answers
        token_logprobs = check.floats(SCORE, out, TOKEN_LOGPROBS, (rows, width), finite=False)
        return token_logprobs, check.logits(SCORE, out, rows), check.states(SCORE, out, rows)

    def step(self, ids: np.ndarray, states: States) -> tuple[np.ndarray, States]:
        """Feed one id per row ([rows, 1]): logits [rows, V] and the new states."""
        return self._logits_and_states(STEP, {INPUT_IDS: np.asarray(ids, np.int32), **states})

    def sample(
        self,
        ids: np.ndarray,
        states: States,
        uniforms: np.ndarray,
        params: SamplingParams,
        extras: dict | None = None,
        logprobs: bool = False,
    ) -> tuple[np.ndarray, States, SampledLogprobs | None]:
        """Feed ids [rows, 1] and sample ``uniforms.shape[1]`` tokens in the model (its ``sample``
        signature): the sampled ids [rows, steps], the states before the last one is fed, and
        (from an export that returns them) the log-probabilities. ``extras``: the rows'
        `extra_sample_inputs` (neutral when None)."""
        inputs = {
            INPUT_IDS: np.asarray(ids, np.int32),
            **states,
            **self.signature.sample_inputs(params, uniforms, extras),
        }
        sampled, states, sampled_logprobs = self._sample_outputs(inputs, logprobs)
        steps = uniforms.shape[1]
        if sampled_logprobs is not None:
            sampled_logprobs = sampled_logprobs.first_steps(steps)
        return sampled[:, :steps], states, sampled_logprobs

    def sample_rows(
        self,
        ids: np.ndarray,
        states: States,
        uniforms: np.ndarray,
        steps: np.ndarray,
        sampling,
        extras: dict | None = None,
        logprobs: bool = False,
    ) -> tuple[np.ndarray, States, SampledLogprobs | None]:
        """Like `sample`, each row with its own ``steps`` (of its ``uniforms``' columns) and its own
        temperature, top-k and top-p (``sampling``'s fields as arrays): the sampled ids
        [rows, width] (NO_ID past a row's steps), the states and the log-probabilities. Needs an
        export whose ``sample`` takes ``steps``."""
        if not self.signature.sample_steps:
            raise IncompatibleModelError(
                f"{self.description}: its {SAMPLE} signature takes no per-row steps (an export "
                "from before charloom fixed the sample width); export the model again"
            )
        inputs = {
            INPUT_IDS: np.asarray(ids, np.int32),
            **states,
            **self.signature.sample_inputs(sampling, uniforms, extras, steps),
        }
        return self._sample_outputs(inputs, logprobs)

    def _sample_outputs(
        self, inputs: dict, logprobs: bool
    ) -> tuple[np.ndarray, States, SampledLogprobs | None]:
        """The ids and states, and the log-probabilities when asked (only what is used is
        fetched and sent: TF Serving's ``output_filter``)."""
        logprobs = logprobs and self.signature.sample_extras
        heads = (SAMPLED_IDS, SAMPLED_LOGPROBS, TOP_LOGPROB_IDS, TOP_LOGPROBS)
        wanted = (*(heads if logprobs else heads[:1]), *self.signature.state_names)
        out = self._run(SAMPLE, inputs, wanted)
        check, rows, width = self.answers, len(inputs[INPUT_IDS]), inputs[UNIFORMS].shape[1]
        ids = check.ids(SAMPLE, out, SAMPLED_IDS, rows, no_id=True)
        if ids.shape[1] < width:
            raise check.fail(SAMPLE, f"has {ids.shape[1]} {SAMPLED_IDS!r} per row, not {width}")
        sampled = None
        if logprobs:
            top_ids = check.ids(SAMPLE, out, TOP_LOGPROB_IDS, rows, no_id=True)
            sampled = SampledLogprobs(
                check.floats(SAMPLE, out, SAMPLED_LOGPROBS, ids.shape, finite=False),
                top_ids,
                check.floats(SAMPLE, out, TOP_LOGPROBS, top_ids.shape, finite=False),
            )
        return ids, check.states(SAMPLE, out, rows), sampled

    @staticmethod
    def select_rows(states: States, rows: np.ndarray) -> States:
        """States of the given rows, in that order (rows may repeat: one prompt, many samples)."""
        return {name: value[rows] for name, value in states.items()}


def learn_vocabulary(backend: SignatureBackend) -> TokenVocabulary:
    """Ids 0..V-1 through ``detokenize``, one id per row: id i -> the i-th token."""
    size = backend.signature.vocab_size
    ids = np.arange(size, dtype=np.int32).reshape(size, 1)
    return TokenVocabulary(backend.detokenize(ids))
