"""What an onboarding run is asked to do (OnboardOptions), how it talks to the person (OnboardUI), and
what it reports (OnboardResult); shared by every flow and by bulk."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..manifest.model import Manifest

if TYPE_CHECKING:  # annotations only: the CLI builds options before the sign-in prompt (start-up, issue 17)
    from ..apply.verify import VerificationReport
    from ..graph.gateway import Organization
    from ..plan.model import Plan, Step


@dataclass(frozen=True)
class OnboardOptions:
    """Everything the operator chose for one tenant."""

    tenant: str
    manifest: Manifest
    credentials_path: Path
    app_name: str | None = None
    secret_lifetime: timedelta | None = None
    verify_budget_s: float = 180.0
    plan_only: bool = False
    # Revoke permissions the tenant holds beyond the manifest (otherwise they are only reported).
    prune: bool = False
    # Names this run's secret (apply/secret.py marker). bulk passes one it journaled first, so after a
    # crash it can find and remove a secret that run added but never handed off. None: a fresh one.
    run_id: str | None = None
    # "secret" or "certificate" (issue 8): which credential KODO gets.
    credential_type: str = "secret"
    # With a certificate: also write a PFX encrypted with this password.
    pfx_password: str | None = field(default=None, repr=False)
    # After verification, read one thing per granted API as the app (apply/probe.py); the mailbox to read.
    probe: bool = False
    probe_mailbox: str | None = None


@dataclass
class OnboardUI:
    """Callbacks into the presentation layer; the defaults are silent and say yes."""

    show_plan: Callable[[Plan, Organization], None] = lambda plan, org: None
    confirm: Callable[[Plan, Organization], bool] = lambda plan, org: True
    on_step: Callable[[Step, str], None] = lambda step, status: None
    on_phase: Callable[[str], None] = lambda phase: None


@dataclass
class OnboardResult:
    """What happened, for rendering and reports. Holds no secret."""

    tenant_id: str
    tenant_name: str
    signed_in_as: str
    plan: Plan
    client_id: str | None = None
    app_object_id: str | None = None
    service_principal_id: str | None = None
    credentials_path: Path | None = None
    secret_created: bool = False
    secret_key_id: str | None = None
    secret_expires_at: str | None = None
    verification: VerificationReport | None = None
    applied: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    status: str = "planned"
    audit_path: Path | None = None
    credential_type: str = "secret"
    certificate_thumbprint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "status": self.status,
            "tenant_id": self.tenant_id,
            "tenant_name": self.tenant_name,
            "signed_in_as": self.signed_in_as,
            "client_id": self.client_id,
            "app_object_id": self.app_object_id,
            "service_principal_id": self.service_principal_id,
            "credentials_file": str(self.credentials_path) if self.credentials_path else None,
            "secret_created": self.secret_created,
            "secret_key_id": self.secret_key_id,
            "secret_expires_at": self.secret_expires_at,
            "plan": self.plan.to_dict(),
            "applied": self.applied,
            "already_present": self.already_present,
            "verification": self.verification.to_dict() if self.verification else None,
            "notes": self.notes,
            "audit_file": str(self.audit_path) if self.audit_path else None,
            "credential_type": self.credential_type,
            "certificate_thumbprint": self.certificate_thumbprint,
        }
