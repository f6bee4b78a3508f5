"""TLS: the client verifies the server against --tls-ca, optionally under another name."""

import datetime

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from serving.client.errors import GenerationError, ServerUnavailableError
from serving.client.generator import GenerationClient, TextGenerator
from serving.client.grpc_backend import RetryPolicy

pytestmark = pytest.mark.slow


def _pem(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_ca(name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def make_server_cert(ca_key, ca_cert, dns_name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, _pem(cert)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = make_ca("charloom test CA")
    (directory / "ca.pem").write_bytes(_pem(ca_cert))
    _, other_ca = make_ca("someone else")
    (directory / "other-ca.pem").write_bytes(_pem(other_ca))
    localhost, named = (
        make_server_cert(ca_key, ca_cert, "localhost"),
        make_server_cert(ca_key, ca_cert, "charloom.test"),
    )
    (directory / "server.key").write_bytes(localhost[0])
    (directory / "server.pem").write_bytes(localhost[1])
    return directory, localhost, named


def secure(start_fake_server, server_cert) -> int:
    key_pem, cert_pem = server_cert
    port, _ = start_fake_server(grpc.ssl_server_credentials([(key_pem, cert_pem)]))
    return port


def test_generation_over_tls_equals_in_process(pki, start_fake_server, toy_gru_dir):
    directory, localhost_cert, _ = pki
    port = secure(start_fake_server, localhost_cert)
    with GenerationClient(f"localhost:{port}", "toy", tls_ca=directory / "ca.pem") as client:
        [remote] = client.generate("ROMEO:", max_new_tokens=20, seed=3)
    [local] = TextGenerator.from_saved_model(toy_gru_dir).generate(
        "ROMEO:", max_new_tokens=20, seed=3
    )
    assert remote.text == local.text


def test_server_name_override(pki, start_fake_server):
    directory, _, named_cert = pki
    port = secure(start_fake_server, named_cert)
    with GenerationClient(
        f"127.0.0.1:{port}", "toy", tls_ca=directory / "ca.pem", tls_server_name="charloom.test"
    ) as client:
        assert len(client.generate("KING:", max_new_tokens=5)[0].text) == 5


def test_untrusted_server_is_refused(pki, start_fake_server):
    directory, localhost_cert, _ = pki
    port = secure(start_fake_server, localhost_cert)
    fast = RetryPolicy(max_attempts=2, initial_backoff=0.01, max_backoff=0.01)
    with (
        GenerationClient(
            f"localhost:{port}", "toy", tls_ca=directory / "other-ca.pem", retry=fast, timeout=5
        ) as client,
        pytest.raises(ServerUnavailableError),
    ):
        client.generate("KING:", max_new_tokens=5)


def test_missing_ca_file_is_a_clear_error(tmp_path):
    with (
        GenerationClient("localhost:1", "toy", tls_ca=tmp_path / "nope.pem") as client,
        pytest.raises(GenerationError, match="cannot read TLS CA file"),
    ):
        client.generate("KING:")


def test_against_the_local_server_with_tls(pki, start_server, model_base):
    """`charloom serve --tls-cert/--tls-key` (in process) with the server tests' toy model."""
    from serving.server.config import single_model

    directory, _, _ = pki
    handle = start_server(
        models=(single_model("toy", model_base(1)),),
        tls_cert=directory / "server.pem",
        tls_key=directory / "server.key",
    )
    with GenerationClient(f"localhost:{handle.port}", "toy", tls_ca=directory / "ca.pem") as client:
        client.wait_until_ready(30)
        assert client.vocabulary.size == 5
        [result] = client.generate("bc", max_new_tokens=4, temperature=0)
    assert result.text == "a" * 4  # the toy's logits are equal within a row: argmax is id 0
