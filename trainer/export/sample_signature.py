"""The ``sample`` signature: several tokens sampled in the graph per call, with the sampling
rule of serving/sampling_rule.py, each token's log-probability and its top alternatives.

Feed ``input_ids``, sample, feed that, ...: row r samples ``steps[r]`` tokens, one column of
``uniforms`` each. Returns the sampled ids (``NO_ID`` past each row's steps), their
log-probabilities, the top alternatives (as many as the call's largest ``logprobs``) and each
row's states after feeding all but the last of its sampled ids (the last is the next call's
``input_ids``), as that many step calls would. The loop runs as long as the longest row; the
rows' output token counts are carried through it, so a penalty sees each token as it is
sampled (the client carries them from call to call, as it carries the states).
"""

from __future__ import annotations

import tensorflow as tf

from serving import contract
from serving.sampling_rule import Penalties, RowSampling
from trainer.export.sampling import log_probabilities, sample_ids, top_alternatives
from trainer.model import step

PER_ROW_FLOATS = (
    contract.TEMPERATURE,
    contract.TOP_P,
    contract.MIN_P,
    contract.REPETITION_PENALTY,
    contract.FREQUENCY_PENALTY,
    contract.PRESENCE_PENALTY,
)
RANGED = (*PER_ROW_FLOATS, contract.TOP_K, contract.LOGPROBS, contract.LOGIT_BIAS)


def range_checks(values: tf.Tensor, rule: contract.ParameterRange) -> list:
    """Assertions that every value is in the contract's range ``rule`` (its message on failure)."""
    low = tf.constant(rule.low, values.dtype)
    checks = [
        (tf.debugging.assert_greater if rule.low_open else tf.debugging.assert_greater_equal)(
            values, low, message=rule.message
        )
    ]
    if rule.high is not None and not (values.dtype.is_integer and rule.high >= values.dtype.max):
        checks.append(
            tf.debugging.assert_less_equal(
                values, tf.constant(rule.high, values.dtype), message=rule.message
            )
        )
    if values.dtype.is_floating:
        checks.append(tf.debugging.assert_all_finite(values, message=rule.message))
    return checks


def sample_input_spec(step_spec: dict, vocab_size: int) -> dict:
    """``sample``'s inputs: the step's, the uniforms and steps, and every sampling parameter."""

    def spec(name: str, shape: list, dtype) -> tf.TensorSpec:
        return tf.TensorSpec(shape, dtype, name=name)

    return {
        **step_spec,
        contract.UNIFORMS: spec(contract.UNIFORMS, [None, contract.SAMPLE_WIDTH], tf.float64),
        contract.STEPS: spec(contract.STEPS, [None], tf.int32),
        contract.TOP_K: spec(contract.TOP_K, [None], tf.int32),
        contract.LOGPROBS: spec(contract.LOGPROBS, [None], tf.int32),
        **{name: spec(name, [None], tf.float64) for name in PER_ROW_FLOATS},
        contract.LOGIT_BIAS: spec(contract.LOGIT_BIAS, [None, vocab_size], tf.float32),
        contract.OUTPUT_COUNTS: spec(contract.OUTPUT_COUNTS, [None, vocab_size], tf.int32),
        contract.PROMPT_MASK: spec(contract.PROMPT_MASK, [None, vocab_size], tf.int32),
    }


def _checks(module, inputs: dict, batch: tf.Tensor, states_checks: list) -> list:
    steps, width = inputs[contract.STEPS], tf.shape(inputs[contract.UNIFORMS])[1]
    steps_message = f"steps must be in [1, {contract.SAMPLE_WIDTH}] (the uniforms' columns)"
    counts_message = f"{contract.OUTPUT_COUNTS} must be >= 0"
    mask_message = f"{contract.PROMPT_MASK} must be 0 or 1"
    per_row = [n for n in inputs if n != contract.INPUT_IDS and n not in module.state_units]
    checks = (
        module.check_ids(inputs[contract.INPUT_IDS])
        + states_checks
        + module.check_rows(inputs, per_row, batch)
        + [
            tf.debugging.assert_greater_equal(steps, 1, message=steps_message),
            tf.debugging.assert_less_equal(steps, width, message=steps_message),
            tf.debugging.assert_non_negative(
                inputs[contract.OUTPUT_COUNTS], message=counts_message
            ),
            tf.debugging.assert_non_negative(inputs[contract.PROMPT_MASK], message=mask_message),
            tf.debugging.assert_less_equal(inputs[contract.PROMPT_MASK], 1, message=mask_message),
        ]
        + range_checks(inputs[contract.UNIFORMS], contract.UNIFORMS_RANGE)
    )
    for name in RANGED:
        checks += range_checks(inputs[name], contract.SAMPLING_RANGES[name])
    return checks


def sample(module, inputs: dict) -> dict:
    """The signature function of ``module`` (a CharModelSignatures) on checked-shape inputs."""
    ids, uniforms, steps = (
        inputs[contract.INPUT_IDS],
        inputs[contract.UNIFORMS],
        inputs[contract.STEPS],
    )
    batch, width = tf.shape(ids)[0], tf.shape(uniforms)[1]
    state_checks, states = module.check_states(inputs, batch)
    with tf.control_dependencies(_checks(module, inputs, batch, state_checks)):
        ids, steps = tf.identity(ids[:, 0]), tf.identity(steps)
    longest = tf.reduce_max(tf.concat([steps, tf.zeros([1], tf.int32)], axis=0))
    vocab_size = inputs[contract.OUTPUT_COUNTS].shape[-1]
    alternatives = tf.minimum(
        tf.reduce_max(tf.concat([inputs[contract.LOGPROBS], [0]], axis=0)), vocab_size
    )

    def loop(masked: bool):
        return _sample_loop(module, inputs, ids, states, longest, alternatives, masked)

    # Rows asking for the same number of tokens (one client's call, usually) skip the masking.
    outputs = tf.cond(
        tf.reduce_all(tf.equal(steps, longest)), lambda: loop(False), lambda: loop(True)
    )
    sampled, logprobs, top_ids, top_values, states = outputs
    pad = width - longest
    out = {
        contract.SAMPLED_IDS: tf.pad(sampled, [[0, 0], [0, pad]], constant_values=contract.NO_ID),
        contract.SAMPLED_LOGPROBS: tf.pad(logprobs, [[0, 0], [0, pad]]),
        contract.TOP_LOGPROB_IDS: tf.pad(
            top_ids, [[0, 0], [0, pad], [0, 0]], constant_values=contract.NO_ID
        ),
        contract.TOP_LOGPROBS: tf.pad(top_values, [[0, 0], [0, pad], [0, 0]]),
    }
    shapes = {
        contract.SAMPLED_IDS: [None, contract.SAMPLE_WIDTH],
        contract.SAMPLED_LOGPROBS: [None, contract.SAMPLE_WIDTH],
        contract.TOP_LOGPROB_IDS: [None, contract.SAMPLE_WIDTH, None],
        contract.TOP_LOGPROBS: [None, contract.SAMPLE_WIDTH, None],
    }
    out = {name: tf.ensure_shape(value, shapes[name]) for name, value in out.items()}
    return module.with_states(out, states)


def _sample_loop(module, inputs, ids, states, longest, alternatives, masked: bool):
    """``longest`` steps of feed-and-sample: ids, log-probabilities [B, longest], alternatives
    [B, longest, alternatives] and the states. Masked, a row past its own ``steps`` keeps its
    states and counts and samples ``NO_ID``."""
    batch = tf.shape(ids)[0]
    steps, uniforms = inputs[contract.STEPS], inputs[contract.UNIFORMS]
    counts = inputs[contract.OUTPUT_COUNTS]
    vocab_size = counts.shape[-1]

    # A call whose rows set no penalty, bias or min-p (most calls) runs the rule without those
    # steps, and one asking no alternatives sorts nothing: the same ids, fewer ops per token.
    penalized = tf.reduce_any(
        [
            tf.reduce_any(inputs[contract.REPETITION_PENALTY] != 1.0),
            tf.reduce_any(inputs[contract.FREQUENCY_PENALTY] != 0.0),
            tf.reduce_any(inputs[contract.PRESENCE_PENALTY] != 0.0),
            tf.reduce_any(inputs[contract.LOGIT_BIAS] != 0.0),
            tf.reduce_any(inputs[contract.MIN_P] != 0.0),
        ]
    )
    plain = RowSampling(
        temperature=inputs[contract.TEMPERATURE],
        top_k=inputs[contract.TOP_K],
        top_p=inputs[contract.TOP_P],
    )

    def rows(counts: tf.Tensor) -> RowSampling:
        return RowSampling(
            temperature=inputs[contract.TEMPERATURE],
            top_k=inputs[contract.TOP_K],
            top_p=inputs[contract.TOP_P],
            min_p=inputs[contract.MIN_P],
            penalties=Penalties(
                repetition=inputs[contract.REPETITION_PENALTY],
                frequency=inputs[contract.FREQUENCY_PENALTY],
                presence=inputs[contract.PRESENCE_PENALTY],
                logit_bias=inputs[contract.LOGIT_BIAS],
                output_counts=counts,
                prompt_mask=inputs[contract.PROMPT_MASK],
            ),
        )

    def array(dtype, shape):
        return tf.TensorArray(dtype, size=longest, element_shape=tf.TensorShape(shape))

    sampled, logprobs = array(tf.int32, [None]), array(tf.float32, [None])
    top_ids, top_values = array(tf.int32, [None, None]), array(tf.float32, [None, None])
    for i in tf.range(longest):
        tf.autograph.experimental.set_loop_options(
            shape_invariants=[(s, tf.TensorShape([None, s.shape[-1]])) for s in states]
        )
        logits, new_states = step(module.model, module.config, ids[:, None], states)
        chosen = tf.cond(
            penalized,
            lambda: sample_ids(logits, uniforms[:, i], rows(counts)),  # noqa: B023 - this step's
            lambda: sample_ids(logits, uniforms[:, i], plain),  # noqa: B023
        )
        log_p = log_probabilities(logits)
        chosen_lp = tf.cast(tf.gather(log_p, chosen, batch_dims=1), tf.float32)
        alt_ids, alt_values = tf.cond(
            alternatives > 0,
            lambda: top_alternatives(log_p, alternatives),  # noqa: B023 - this step's
            lambda: (tf.zeros([batch, 0], tf.int32), tf.zeros([batch, 0], tf.float64)),
        )
        alt_values = tf.cast(alt_values, tf.float32)
        if masked:
            live = i < steps
            new_states = [tf.where(live[:, None], new, old) for new, old in zip(new_states, states)]
            chosen = tf.where(live, chosen, contract.NO_ID)
            chosen_lp = tf.where(live, chosen_lp, 0.0)
            alt_ids = tf.where(live[:, None], alt_ids, contract.NO_ID)
            alt_values = tf.where(live[:, None], alt_values, 0.0)
            ids = tf.where(live, chosen, ids)
        else:
            ids = chosen
        counts += tf.one_hot(chosen, vocab_size, dtype=tf.int32)  # NO_ID: a row of zeros
        states = new_states
        sampled, logprobs = sampled.write(i, chosen), logprobs.write(i, chosen_lp)
        top_ids, top_values = top_ids.write(i, alt_ids), top_values.write(i, alt_values)
    columns = [tf.transpose(sampled.stack()), tf.transpose(logprobs.stack())]
    alts = [tf.transpose(a.stack(), [1, 0, 2]) for a in (top_ids, top_values)]
    return (
        tf.reshape(columns[0], [batch, longest]),
        tf.reshape(columns[1], [batch, longest]),
        tf.reshape(alts[0], [batch, longest, alternatives]),
        tf.reshape(alts[1], [batch, longest, alternatives]),
        states,
    )
