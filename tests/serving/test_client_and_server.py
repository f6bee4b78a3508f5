"""The client against `charloom serve` in process (the server tests' toy model): limits and status."""

import pytest

from serving.client.generator import GenerationClient
from serving.server.config import single_model


@pytest.fixture
def target(start_server, model_base):
    handle = start_server(models=(single_model("toy", model_base(1)),))
    return f"127.0.0.1:{handle.port}"


def test_requests_stay_within_the_servers_limits(target):
    """A prompt longer than --max-prompt-length (4096) reaches the model in 128-token prefill calls,
    and 257 rows (more than --max-request-batch) in calls of at most 64."""
    with GenerationClient(target, "toy") as client:
        client.wait_until_ready(30)
        assert len(client.generate("b" * 4097, max_new_tokens=2)[0].text) == 2
        assert (
            len(client.generate("b" * 4096, num_samples=257, max_new_tokens=2)) == 257
        )  # in 5 calls


def test_the_client_learns_a_smaller_row_limit_and_splits_its_calls(target):
    """Asked to send 300 rows per call, the client is refused by the server's 256-row limit,
    learns it, and sends the rows in calls the server takes."""
    with GenerationClient(target, "toy", max_rows_per_call=300) as client:
        results = client.generate("b", num_samples=300, max_new_tokens=3, seed=2)
        assert len(results) == 300 and client.backend.max_rows == 256


def test_version_is_pinned_from_metadata(target):
    with GenerationClient(target, "toy") as client:
        client.generate("b", max_new_tokens=1)
        assert client.backend.version == 1
        assert "version 1" in client.backend.description
