"""Certificate credentials, made locally: the private key never leaves this machine.

Only the public certificate goes to the app's keyCredentials (type AsymmetricX509Cert, usage
Verify); KODO signs client assertions with the private key.
https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials
https://learn.microsoft.com/en-us/graph/api/resources/keycredential

RSA 2048: Entra accepts RS256/PS256 client assertions (the simulator does the same), and
azure-identity's CertificateCredential signs with RSA keys only.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

RSA_KEY_SIZE = 2048


@dataclass(frozen=True)
class GeneratedCertificate:
    """A new key pair and its self-signed certificate. `private_pem` is secret: it goes only
    to a 0600 file (credentials.write_private_file), never to Graph, logs or output."""

    certificate_der: bytes
    certificate_pem: bytes
    private_pem: bytes = field(repr=False)
    sha1: bytes
    not_before: datetime
    not_after: datetime
    subject: str

    @property
    def thumbprint(self) -> str:
        """SHA-1 thumbprint in hex, as the Entra portal shows it."""
        return self.sha1.hex().upper()

    @property
    def custom_key_identifier(self) -> str:
        """keyCredential.customKeyIdentifier (Edm.Binary, base64): Graph sets it to the SHA-1
        thumbprint of an uploaded certificate; matching on it identifies our certificate."""
        return base64.b64encode(self.sha1).decode()

    @property
    def key_b64(self) -> str:
        """keyCredential.key: the public certificate (DER), base64."""
        return base64.b64encode(self.certificate_der).decode()

    def pem_bundle(self) -> bytes:
        """Private key + certificate in one PEM: what azure-identity's CertificateCredential reads."""
        return self.private_pem + self.certificate_pem

    def pfx(self, password: bytes) -> bytes:
        """PKCS#12 with the key and certificate, encrypted with `password`."""
        key = serialization.load_pem_private_key(self.private_pem, password=None)
        cert = x509.load_der_x509_certificate(self.certificate_der)
        assert isinstance(key, rsa.RSAPrivateKey)
        return pkcs12.serialize_key_and_certificates(
            self.subject.encode(), key, cert, None, serialization.BestAvailableEncryption(password))


def generate_certificate(common_name: str, *, now: datetime, lifetime: timedelta) -> GeneratedCertificate:
    """An RSA 2048 key pair and a self-signed certificate valid from `now` for `lifetime`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_SIZE)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    not_before = now.replace(microsecond=0)
    not_after = not_before + lifetime
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    # The x5t thumbprint is SHA-1 by definition (RFC 7515 §4.1.7), not a security choice.
    sha1 = cert.fingerprint(hashes.SHA1())  # noqa: S303  # nosec B303
    return GeneratedCertificate(cert.public_bytes(serialization.Encoding.DER),
                                cert.public_bytes(serialization.Encoding.PEM), private_pem, sha1,
                                not_before, not_after, f"CN={common_name}")
