"""TLS: with --tls-cert/--tls-key the server only speaks TLS, with the given certificate."""

from __future__ import annotations

import shutil
import subprocess

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from serving.errors import ServingError
from serving.server.config import ModelConfig


@pytest.fixture
def self_signed(tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls_server_accepts_tls_clients_only(
    start_server, model_base, self_signed, wait_for_health
):
    cert, key = self_signed
    handle = start_server(models=(ModelConfig("toy", model_base(1)),), tls_cert=cert, tls_key=key)
    credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())
    wait_for_health(handle.port, timeout=20, credentials=credentials, target_host="localhost")
    with (
        grpc.insecure_channel(f"127.0.0.1:{handle.port}") as channel,
        pytest.raises(grpc.RpcError) as caught,
    ):
        health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
    assert caught.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def test_unreadable_tls_files_are_a_user_error(start_server, model_base, tmp_path):
    with pytest.raises(ServingError, match="cannot read TLS key/certificate"):
        start_server(
            models=(ModelConfig("toy", model_base(1)),),
            tls_cert=tmp_path / "no.pem",
            tls_key=tmp_path / "no.key",
        )


def test_a_pem_that_is_not_a_certificate_and_key_is_named(
    start_server, model_base, self_signed, tmp_path
):
    cert, key = self_signed
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    models = (ModelConfig("toy", model_base(1)),)
    for bad_cert, bad_key in ((garbage, key), (cert, garbage), (key, cert)):
        with pytest.raises(
            ServingError, match="not a usable PEM certificate chain and matching private key"
        ):
            start_server(models=models, tls_cert=bad_cert, tls_key=bad_key)
