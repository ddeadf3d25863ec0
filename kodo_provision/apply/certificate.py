"""Adding KODO's certificate exactly once.

An app's first certificate goes in with an application update (PATCH keyCredentials);
addKey needs a proof-of-possession token signed by an existing key, which a new app lacks.
https://learn.microsoft.com/en-us/graph/api/application-update
https://learn.microsoft.com/en-us/graph/api/application-addkey
PATCH replaces the whole collection, so it is a read-modify-write: every certificate the app
already holds is sent back with the new one (https://learn.microsoft.com/en-us/graph/api/resources/keycredential).

A lost response after Graph committed must not leave two certificates: before every attempt
the collection is re-read and, if our certificate (same keyId, or same thumbprint in
customKeyIdentifier) is already there, the add is done.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..credentials.certificate import GeneratedCertificate
from ..graph.errors import TransientNetworkError
from ..graph.gateway import GraphGateway
from ..manifest.identity import SECRET_MARKER_PREFIX
from ..output.logging import get_logger

log = get_logger("kodo_provision.apply")
MAX_ADD_ATTEMPTS = 3


@dataclass(frozen=True)
class AddedCertificate:
    """The certificate now on the app; the private key is only in the local PEM/PFX files."""

    key_id: str
    thumbprint: str
    not_after: datetime


def _is_ours(cred: dict[str, Any], certificate: GeneratedCertificate, key_id: str) -> bool:
    if str(cred.get("keyId") or "").lower() == key_id:
        return True
    identifier = cred.get("customKeyIdentifier")
    try:
        return bool(identifier) and base64.b64decode(str(identifier)) == certificate.sha1
    except ValueError:
        return False


async def add_certificate_exactly_once(gateway: GraphGateway, app_object_id: str,
                                       certificate: GeneratedCertificate, *, display_name: str) -> AddedCertificate:
    """Upload the public certificate (type AsymmetricX509Cert, usage Verify), keeping the others."""
    key_id = str(uuid.uuid4())
    new = {
        "keyId": key_id,
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
        "key": certificate.key_b64,  # the public certificate (DER, base64) - never the private key
        "displayName": display_name,
        "customKeyIdentifier": certificate.custom_key_identifier,
    }
    for attempt in range(1, MAX_ADD_ATTEMPTS + 1):
        existing = await gateway.key_credentials_for_update(app_object_id)
        match = next((c for c in existing if _is_ours(c, certificate, key_id)), None)
        if match is not None:  # committed before the response was lost
            key_id = str(match.get("keyId") or key_id).lower()
            log.info("certificate.already_added", key_id=key_id, thumbprint=certificate.thumbprint)
            break
        try:
            await gateway.replace_key_credentials(app_object_id, [*existing, new])
        except TransientNetworkError:
            if attempt == MAX_ADD_ATTEMPTS:
                raise
            log.warning("certificate.response_lost", key_id=key_id, attempt=attempt)
            continue
        log.info("certificate.added", key_id=key_id, thumbprint=certificate.thumbprint,
                 expires=certificate.not_after.isoformat())
        break
    return AddedCertificate(key_id, certificate.thumbprint, certificate.not_after)


def is_tool_certificate(display_name: str | None, base_name: str) -> bool:
    """True for certificates this tool put on the app: onboard names them after the manifest's
    secret display name, rotate-secret adds the run marker too (apply/secret.py)."""
    return bool(display_name) and (display_name == base_name or SECRET_MARKER_PREFIX in str(display_name))


async def remove_certificate(gateway: GraphGateway, app_object_id: str, key_id: str) -> bool:
    """Remove one certificate by key ID with the same read-modify-write as the add (PATCH
    replaces the collection; every other certificate is sent back). False if it was not there."""
    key_id = key_id.strip().lower()
    existing = await gateway.key_credentials_for_update(app_object_id)
    kept = [c for c in existing if str(c.get("keyId") or "").lower() != key_id]
    if len(kept) == len(existing):
        return False
    await gateway.replace_key_credentials(app_object_id, kept)
    log.info("certificate.removed", key_id=key_id)
    return True
