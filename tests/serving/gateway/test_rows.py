"""A request for what the served export predates is refused before anything runs, naming the
feature and the export, as a 400 / FAILED_PRECONDITION (the request's choice, not a fault)."""

from __future__ import annotations

import dataclasses

import grpc
import pytest

from serving.client.errors import FeatureNotExportedError
from serving.client.generator import TextGenerator
from serving.client.sampling import SamplingParams
from serving.contract import SCORE
from serving.gateway.errors import classify
from serving.gateway.jobs import JobSpec
from serving.gateway.rows import check_features


@pytest.fixture(scope="module")
def old_export(toy_gru_dir):
    """A real export's backend, its signature as an export from before score and the
    log-probabilities declares it."""
    with TextGenerator.from_saved_model(toy_gru_dir) as generator:
        backend = generator.backend
        backend.signature = dataclasses.replace(
            backend.signature,
            sample_extras=False,
            signature_names=backend.signature.signature_names - {SCORE},
        )
        yield backend, generator.vocabulary


def spec(**changes) -> JobSpec:
    return dataclasses.replace(JobSpec(("A",), 1, 5, SamplingParams(), 1, ()), **changes)


@pytest.mark.parametrize(
    "changes, feature",
    [
        ({"logprobs": 0}, "logprobs"),
        ({"sampling": SamplingParams(frequency_penalty=0.5)}, "penalties, min_p and logit_bias"),
        ({"sampling": SamplingParams(min_p=0.1)}, "penalties, min_p and logit_bias"),
        ({"sampling": SamplingParams(logit_bias={"a": 1.0})}, "penalties, min_p and logit_bias"),
    ],
)
def test_features_an_export_predates_are_refused(old_export, changes, feature):
    backend, vocabulary = old_export
    with pytest.raises(FeatureNotExportedError) as caught:
        check_features(spec(**changes), backend, vocabulary)
    assert feature in str(caught.value) and backend.description in str(caught.value)
    failure = classify(caught.value)
    assert failure.http_status == 400 and failure.grpc_code == grpc.StatusCode.FAILED_PRECONDITION


def test_echo_with_logprobs_needs_score(old_export):
    backend, vocabulary = old_export
    old = backend.signature
    backend.signature = dataclasses.replace(old, sample_extras=True)
    try:
        with pytest.raises(FeatureNotExportedError, match="has no `score` signature"):
            check_features(spec(echo=True, logprobs=1), backend, vocabulary)
        check_features(spec(echo=True), backend, vocabulary)  # echo alone needs nothing new
    finally:
        backend.signature = old
