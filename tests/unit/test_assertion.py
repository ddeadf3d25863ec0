"""Certificate client assertions (auth/assertion.py): the documented header and claims, one parse per
version of a certificate file, and a one-line refusal of a file that cannot sign."""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kodo_provision.auth.assertion import client_assertion, signing_certificate, token_endpoint
from kodo_provision.credentials.certificate import generate_certificate

CLIENT = "11111111-2222-3333-4444-555555555555"


def write_certificate(path, name: str = "kodo") -> bytes:
    """A new key + certificate PEM at `path` (replaced atomically, as the tool writes it); its DER."""
    made = generate_certificate(name, now=datetime.now(UTC), lifetime=timedelta(days=30))
    temp = path.with_suffix(".tmp")
    temp.write_bytes(made.pem_bundle())
    os.replace(temp, path)
    return made.certificate_der


def test_the_assertion_has_the_documented_header_and_claims(tmp_path):
    der = write_certificate(tmp_path / "c.pem")
    certificate = signing_certificate(str(tmp_path / "c.pem"))
    endpoint = token_endpoint("https://login.microsoftonline.com", "contoso.onmicrosoft.com")
    assert endpoint == "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
    assertion = client_assertion(certificate, CLIENT, endpoint)
    header = jwt.get_unverified_header(assertion)
    thumbprint = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")
    assert header == {"alg": "PS256", "typ": "JWT", "x5t#S256": thumbprint}
    public_key = x509.load_der_x509_certificate(der).public_key()
    claims = jwt.decode(assertion, public_key, algorithms=["PS256"], audience=endpoint)
    assert claims["iss"] == claims["sub"] == CLIENT
    assert 0 < claims["exp"] - claims["nbf"] <= 600 and claims["jti"]
    assert client_assertion(certificate, CLIENT, endpoint) != assertion, "each request gets its own jti"


def test_a_file_is_parsed_once_per_version(tmp_path):
    path = tmp_path / "c.pem"
    write_certificate(path)
    first = signing_certificate(str(path))
    assert signing_certificate(str(path)) is first, "the same file: the parsed key is reused"
    write_certificate(path, "rotated")
    rotated = signing_certificate(str(path))
    assert rotated is not first and rotated.sha256_thumbprint != first.sha256_thumbprint


def test_a_file_that_cannot_sign_is_refused(tmp_path):
    ec_key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "ec.pem"
    path.write_bytes(ec_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    with pytest.raises(ValueError, match="not an RSA key"):
        signing_certificate(str(path))
    with pytest.raises(OSError):
        signing_certificate(str(tmp_path / "missing.pem"))


def test_an_encrypted_key_is_refused_with_a_hint(tmp_path):
    made = generate_certificate("kodo", now=datetime.now(UTC), lifetime=timedelta(days=30))
    key = serialization.load_pem_private_key(made.private_pem, password=None)
    path = tmp_path / "encrypted.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.BestAvailableEncryption(b"pw")) + made.certificate_pem)
    with pytest.raises(ValueError, match="encrypted"):
        signing_certificate(str(path))
