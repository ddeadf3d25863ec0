"""Handing the credential over: what the credentials file says, and the commands the notes give."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..apply.executor import ApplyOutcome
from ..graph.gateway import Organization
from ..state.model import Application, HeldSecret
from .options import OnboardOptions


def app_record(org: Organization, options: OnboardOptions, outcome: ApplyOutcome) -> dict[str, Any]:
    """What every credentials file says about the tenant and the app (no credential)."""
    assert outcome.application
    return {
        "tenant_id": org.id,
        "tenant": options.tenant,
        "tenant_domain": org.default_domain,
        "client_id": outcome.application.app_id,
        "app_object_id": outcome.application.id,
        "service_principal_id": outcome.service_principal.id if outcome.service_principal else None,
        "created_at": datetime.now(UTC).isoformat(),
    }


def credentials_record(org: Organization, options: OnboardOptions, outcome: ApplyOutcome) -> dict[str, Any]:
    secret = outcome.new_secret
    assert secret is not None
    return {
        **app_record(org, options, outcome),
        "client_secret": secret.secret_text,
        "secret_key_id": secret.key_id,
        "secret_expires_at": secret.end_date_time.isoformat() if secret.end_date_time else None,
    }


def certificate_record(org: Organization, options: OnboardOptions, outcome: ApplyOutcome,
                        files: dict[str, Path]) -> dict[str, Any]:
    """The credentials file for a certificate: where the key is, never the key itself."""
    cert = outcome.new_certificate
    assert cert is not None
    return {
        **app_record(org, options, outcome),
        "credential_type": "certificate",
        "certificate_path": str(files["pem"]),
        "certificate_pfx_path": str(files["pfx"]) if "pfx" in files else None,
        "certificate_thumbprint": cert.thumbprint,
        "key_id": cert.key_id,
        "certificate_expires_at": cert.not_after.isoformat(),
    }


def switched_secret(held: HeldSecret | None, app: Application | None) -> str | None:
    """The key ID of the secret the credentials file held when a certificate replaces it
    (`app` as read before the apply: it lists the app's secrets)."""
    if held is None or app is None or held.client_id not in ("", app.app_id):
        return None
    return held.key_id if any(c.key_id == held.key_id for c in app.password_credentials) else None


def remove_key_command(options: OnboardOptions, credentials_path: Path, key_id: str) -> str:
    """The exact command that removes one key of the app later (rotate-secret --remove-key)."""
    parts = ["kodo-provision", "rotate-secret", "--tenant", options.tenant]
    if options.app_name:
        parts += ["--app-name", options.app_name]
    parts += ["--credentials", str(credentials_path), "--remove-key", key_id]
    return shlex.join(parts)
