"""What the generation loop carries per output row besides its states: the counts of the tokens
it has generated and the mask of its prompt's tokens (what the penalties need; the server stays
stateless, so the client carries them as it carries the states), its logit bias, and the queue
of its log-probabilities waiting for their text."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from serving.client.logprobs import LogprobQueue, SampledLogprobs, row_entries, step_logprobs
from serving.client.sampling import row_penalties
from serving.client.vocabulary import TokenVocabulary
from serving.sampling_rule import Penalties
from serving.signature_inputs import extra_sample_inputs


class RowTracker:
    """Rows are numbered as the request's output rows (prompt x n + sample)."""

    def __init__(self, request, vocabulary: TokenVocabulary, encoded: Sequence[np.ndarray]):
        rows, size = request.rows, vocabulary.size
        self.sampling = request.sampling
        self.alternatives = request.logprobs  # None: no log-probabilities wanted
        self.tokens = vocabulary.tokens
        self.counts = np.zeros((rows, size), np.int32)
        self.prompt_mask = np.zeros((rows, size), np.int32)
        for row in range(rows):
            self.prompt_mask[row, encoded[row // request.num_samples]] = 1
        self.bias = (
            self.sampling.bias_vector(vocabulary.token_ids, size)
            if self.sampling.logit_bias
            else None
        )
        self.queues = [LogprobQueue() for _ in range(rows)] if self.wants_logprobs else None

    @property
    def wants_logprobs(self) -> bool:
        return self.alternatives is not None

    @property
    def needs_extras(self) -> bool:
        """Whether the request uses an input only newer ``sample`` signatures take."""
        return self.sampling.penalized or self.sampling.min_p > 0 or self.wants_logprobs

    def count(self, active: np.ndarray, block: np.ndarray) -> None:
        """Rows ``active`` generated ``block`` [len(active), steps]."""
        np.add.at(self.counts, (np.repeat(active, block.shape[1]), block.ravel()), 1)

    def penalties(self, active: np.ndarray) -> Penalties | None:
        """The active rows' penalties for the client's rule (None: the request has none)."""
        return row_penalties(
            self.sampling, self.bias, self.counts[active], self.prompt_mask[active]
        )

    def extras(self, active: np.ndarray) -> dict[str, np.ndarray]:
        """The active rows' inputs of a ``sample`` signature that takes them."""
        s = self.sampling
        return extra_sample_inputs(
            len(active),
            self.counts.shape[1],
            min_p=s.min_p,
            repetition_penalty=s.repetition_penalty,
            frequency_penalty=s.frequency_penalty,
            presence_penalty=s.presence_penalty,
            logprobs=self.alternatives or 0,
            logit_bias=self.bias,
            output_counts=self.counts[active],
            prompt_mask=self.prompt_mask[active],
        )

    def step_logprobs(self, logits: np.ndarray, chosen: np.ndarray) -> SampledLogprobs | None:
        if not self.wants_logprobs:
            return None
        return step_logprobs(logits, chosen, self.alternatives)

    def queue(
        self, row: int, ids: np.ndarray, sampled: SampledLogprobs | None, position: int
    ) -> LogprobQueue | None:
        """Row ``row``'s queue with the entries of its new ``ids`` (at ``position`` in the call)."""
        if not self.wants_logprobs or sampled is None:
            return None
        queue = self.queues[row]
        queue.push(row_entries(self.tokens, ids, sampled, position, self.alternatives))
        return queue
