"""Certificate sign-in: client assertions signed with a PEM file's RSA key, the key parsed once.

Entra's certificate credential is a JWT the app signs: header PS256 with `x5t#S256` (the SHA-256
thumbprint of the certificate's DER), claims aud (the tenant's token endpoint), exp, iss and sub (the
client ID), jti, nbf. https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials

azure-identity's CertificateCredential reads and checks the PEM file each time it is built, and MSAL parses
the key again for every assertion it signs (~40 ms each, profiled in issue 17): a verification that polls
the token service while a new certificate replicates paid that on every poll, and a bulk run on every
tenant. Here the file is read once per version (device, inode, size, mtime, ctime) and each assertion costs one
signature. ClientAssertionCredential sends it as azure-identity's own AAD client does
(client_assertion_type jwt-bearer to {authority}/{tenant}/oauth2/v2.0/token).
"""

from __future__ import annotations

import base64
import functools
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from azure.identity import ClientAssertionCredential
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

# Entra: "keep it short - 5-10 minutes after nbf at most" (certificate-credentials, the exp claim).
ASSERTION_LIFETIME_S = 600


@dataclass(frozen=True)
class SigningCertificate:
    """A certificate file's RSA private key and the SHA-256 thumbprint of its certificate."""

    key: rsa.RSAPrivateKey = field(repr=False)
    sha256_thumbprint: str  # base64url, unpadded: the x5t#S256 header


def signing_certificate(path: str) -> SigningCertificate:
    """The key and certificate of the PEM file at `path` (private key + certificate, as the tool writes
    them); parsed again only when the file changes. ValueError for a file that holds no unencrypted RSA
    key or no certificate; OSError for one that cannot be read."""
    status = os.stat(path)
    version = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)
    return _parsed(os.path.realpath(path), version)


@functools.lru_cache(maxsize=64)
def _parsed(path: str, version: tuple[int, ...]) -> SigningCertificate:
    """One parse per version of a file (`version`: its device, inode, size, mtime and ctime)."""
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError as exc:  # cryptography's answer to an encrypted key without a password
        raise ValueError("the private key is encrypted: export it without a password (PEM)") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the private key is not an RSA key (Entra's PS256 client assertions need one)")
    certificate = x509.load_pem_x509_certificate(data)
    thumbprint = base64.urlsafe_b64encode(certificate.fingerprint(hashes.SHA256())).decode().rstrip("=")
    return SigningCertificate(key, thumbprint)


def client_assertion(certificate: SigningCertificate, client_id: str, token_endpoint: str) -> str:
    """A fresh client assertion for one token request (its own jti, valid from now)."""
    now = int(time.time())
    claims = {"aud": token_endpoint, "iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()),
              "nbf": now, "iat": now, "exp": now + ASSERTION_LIFETIME_S}
    return jwt.encode(claims, certificate.key, algorithm="PS256",
                      headers={"typ": "JWT", "x5t#S256": certificate.sha256_thumbprint})


def token_endpoint(authority: str, tenant: str) -> str:
    """The v2 token endpoint the assertion is sent to, as azure-identity's AAD client builds it."""
    base = authority if "://" in authority else f"https://{authority}"
    return f"{base.rstrip('/')}/{tenant}/oauth2/v2.0/token"


def certificate_credential(tenant: str, client_id: str, certificate_path: str, *, authority: str,
                           connection_verify: str | None = None) -> ClientAssertionCredential:
    """A credential that signs in as `client_id` with the certificate file (parsed now: a bad file fails
    here, before any request)."""
    certificate = signing_certificate(certificate_path)
    endpoint = token_endpoint(authority, tenant)
    kwargs: dict[str, Any] = {"authority": authority}
    if connection_verify:
        kwargs["connection_verify"] = connection_verify
    return ClientAssertionCredential(tenant, client_id, lambda: client_assertion(certificate, client_id, endpoint),
                                     **kwargs)
