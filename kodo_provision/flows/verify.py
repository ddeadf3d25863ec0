"""`verify`: a read-only health check of an onboarded tenant, one named check per line.

Consent is judged by what the tenant actually holds (app role assignments, the AllPrincipals
grant) and, with a credentials file, by an app-only token's `roles` claim: requiredResourceAccess
alone only says what was *requested* (CIPP#650).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ..apply.probe import BLOCKED, ERROR, MISSING, OK, ProbeResult, probe_data_access
from ..apply.secret import is_tool_secret
from ..apply.verify import check_app_token
from ..credentials.store import check_owner, held_secret, read_credentials
from ..graph.lifecycle_ops import applications_named
from ..manifest.identity import TOOL_TAG, is_tool_app
from ..plan.diff import ALL_PRINCIPALS, extra_permissions
from ..state.model import Application, KeyCredentialInfo, PasswordCredentialInfo
from .common import AppIdentity, TenantView, read_view
from .options import OnboardOptions
from .session import TenantSession

PASS, WARN, FAIL = "pass", "warn", "fail"
EXPIRY_WARNING = timedelta(days=30)


@dataclass(frozen=True)
class Check:
    """One line of the report. `name` is stable (for scripts); `message` says what was found."""

    name: str
    status: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "message": self.message}


@dataclass
class HealthReport:
    tenant_id: str
    tenant_name: str
    app: AppIdentity
    credentials_path: Path | None
    checks: list[Check] = field(default_factory=list)
    probes: list[ProbeResult] = field(default_factory=list)  # --probe: one read per API
    credential_expires_at: datetime | None = None  # the held (or newest) secret's or certificate's end

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def ok(self) -> bool:
        return not self.failed

    def add(self, name: str, ok: bool, message: str, *, warn: bool = False) -> None:
        self.checks.append(Check(name, PASS if ok else (WARN if warn else FAIL), message))

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "ok": self.ok,
            "tenant_id": self.tenant_id,
            "tenant_name": self.tenant_name,
            "app": self.app.to_dict(),
            "credentials_file": str(self.credentials_path) if self.credentials_path else None,
            "checks": [c.to_dict() for c in self.checks],
            "failed": [c.name for c in self.failed],
            "probes": [p.to_dict() for p in self.probes],
            "credential_expires_at": self.credential_expires_at.isoformat() if self.credential_expires_at else None,
        }

    def add_probes(self, results: list[ProbeResult]) -> None:
        """Each read as a check `probe_<name>`: ok passes, blocked / missing / error fail, not probed warns."""
        self.probes = results
        for r in results:
            message = f"{r.api}: {r.detail}" + (f" -> {r.action}" if r.action else "")
            self.add(f"probe_{r.name}", r.state == OK, message,
                     warn=r.state not in (BLOCKED, MISSING, ERROR))


def _expiry_check(report: HealthReport, what: str, end: datetime | None, now: datetime) -> None:
    report.credential_expires_at = end
    if end is None:
        report.add("secret_expiry", True, f"{what} has no expiry date")
    elif end <= now:
        report.add("secret_expiry", False, f"{what} expired {end:%Y-%m-%d %H:%M} UTC "
                   "(kodo-provision rotate-secret adds a new one)")
    elif end - now <= EXPIRY_WARNING:
        report.add("secret_expiry", False, f"{what} expires {end:%Y-%m-%d} (in {(end - now).days} days; "
                   "run kodo-provision rotate-secret)", warn=True)
    else:
        report.add("secret_expiry", True, f"{what} expires {end:%Y-%m-%d}")


def _secret_checks(report: HealthReport, app: Application, creds: dict[str, Any] | None, now: datetime) -> None:
    held = held_secret(creds)
    secrets = app.password_credentials
    if held is not None:
        on_app: PasswordCredentialInfo | None = next((c for c in secrets if c.key_id == held.key_id), None)
        if held.client_id and held.client_id != app.app_id:
            report.add("secret_held", False, f"the credentials file holds a secret of another app ({held.client_id})")
        elif on_app is None:
            report.add("secret_held", False, f"the credentials file's secret {held.key_id} is no longer on the app")
        else:
            report.add("secret_held", True, f"the credentials file's secret {held.key_id} is on the app")
            _expiry_check(report, f"secret {held.key_id}", on_app.end_date_time or held.expires_at, now)
    elif not secrets:
        report.add("secret_expiry", False, "the app has no client secret (kodo-provision onboard adds one)")
    else:
        latest = max(secrets, key=lambda c: c.end_date_time or datetime.max.replace(tzinfo=now.tzinfo))
        _expiry_check(report, f"newest secret {latest.key_id}", latest.end_date_time, now)
    for cred in secrets:
        if held is not None and cred.key_id == held.key_id:
            continue
        if cred.end_date_time is not None and cred.end_date_time <= now:
            owner = "" if is_tool_secret(cred.display_name) else " (not created by kodo-provision)"
            report.add("old_secret", False, f"expired secret {cred.key_id}{owner} is still on the app; remove it "
                       f"with: kodo-provision rotate-secret --remove-key {cred.key_id}", warn=True)


def _certificate_key_matches(pem_path: str, thumbprint: str) -> str | None:
    """None when the PEM holds the certificate with this thumbprint and its private key; else why not."""
    try:
        data = Path(pem_path).read_bytes()
        cert = x509.load_pem_x509_certificate(data)
        key = serialization.load_pem_private_key(data, password=None)
    except (OSError, ValueError, TypeError) as exc:
        return f"{pem_path} is not a PEM with a private key and a certificate ({exc})"
    # The thumbprint is SHA-1 by definition (keyCredential.customKeyIdentifier), not a security choice.
    if cert.fingerprint(hashes.SHA1()).hex().upper() != thumbprint.upper():  # noqa: S303  # nosec B303
        return f"{pem_path} holds another certificate than {thumbprint}"
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(serialization.Encoding.DER, public) != \
            cert.public_key().public_bytes(serialization.Encoding.DER, public):
        return f"the private key in {pem_path} does not belong to certificate {thumbprint}"
    return None


def _certificate_checks(report: HealthReport, app: Application, creds: dict[str, Any], now: datetime) -> None:
    """A certificate credentials file (issue 8): the certificate is on the app, its key file holds the
    matching private key, and its expiry is judged like a secret's."""
    key_id = str(creds.get("key_id") or "").lower()
    thumbprint = str(creds.get("certificate_thumbprint") or "").upper()
    client_id = str(creds.get("client_id") or "").lower()
    on_app: KeyCredentialInfo | None = next((c for c in app.key_credentials if c.key_id == key_id), None)
    if client_id and client_id != app.app_id:
        report.add("certificate_held", False, f"the credentials file holds a certificate of another app ({client_id})")
        return
    if on_app is None:
        report.add("certificate_held", False, f"the credentials file's certificate {key_id} is no longer on the app")
        return
    report.add("certificate_held", True, f"the credentials file's certificate {key_id} ({thumbprint}) is on the app")
    pem = str(creds.get("certificate_path") or "")
    problem = _certificate_key_matches(pem, thumbprint) if pem else "the credentials file names no key file"
    report.add("certificate_key", problem is None, problem or f"{pem} holds the certificate's private key")
    expires = creds.get("certificate_expires_at")
    _expiry_check(report, f"certificate {key_id}",
                  on_app.end_date_time or (datetime.fromisoformat(expires) if expires else None), now)


def _permission_checks(report: HealthReport, view: TenantView) -> None:
    desired, actual = view.desired, view.actual
    app = actual.application
    assert app is not None
    missing = desired.required_resource_access - app.required_resource_access
    extra = app.required_resource_access - desired.required_resource_access
    report.add("required_resource_access", not missing and not extra,
               "requiredResourceAccess matches the manifest" if not missing and not extra else
               f"requiredResourceAccess differs from the manifest: {len(missing)} missing, {len(extra)} extra "
               "(kodo-provision onboard repairs it)")
    sp = actual.service_principal
    report.add("service_principal", sp is not None,
               f"service principal {sp.id}" if sp else "the app has no service principal (onboard creates it)")
    assigned = {(a.resource_id, a.app_role_id) for a in actual.app_role_assignments}
    grants = {g.resource_id: g for g in actual.grants if g.consent_type == ALL_PRINCIPALS}
    for resource in desired.resources:
        if resource.sp is None:
            report.add("resource_service_principal", False,
                       f"{resource.name} ({resource.app_id}) has no service principal in the tenant")
            continue
        for perm in resource.application:
            ok = (resource.sp.id, perm.id) in assigned
            report.add("application_permission", ok,
                       f"{resource.name} / {perm.name} " + ("is granted (app role assignment)" if ok else
                                                           "is NOT granted: no app role assignment"))
        grant = grants.get(resource.sp.id)
        for perm in resource.delegated:
            ok = grant is not None and perm.name in grant.scopes
            report.add("delegated_scope", ok,
                       f"{resource.name} / {perm.name} " + ("is in the AllPrincipals grant" if ok else
                                                           "is NOT in the AllPrincipals grant"))
    roles, scopes = extra_permissions(desired, actual)
    for r in roles:
        report.add("extra_permission", False, f"application permission {r.resource_name} / {r.permission_name} "
                   "is not in the manifest (kodo-provision onboard --prune revokes it)", warn=True)
    for g in scopes:
        report.add("extra_permission", False, f"delegated {g.resource_name} / {' '.join(g.removed)} is not in "
                   "the manifest (kodo-provision onboard --prune revokes it)", warn=True)


async def verify_tenant(session: TenantSession, options: OnboardOptions, *, credentials_path: Path | None,
                        token_budget_s: float, now: datetime, probe: bool = False,
                        probe_mailbox: str | None = None) -> HealthReport:
    """Run every check; never changes the tenant. The report says pass/warn/fail per check. With `probe`, the
    app also reads one thing per API it is granted (apply/probe.py)."""
    creds = read_credentials(credentials_path) if credentials_path else None
    view = await read_view(session, options)
    if credentials_path is not None:
        check_owner(credentials_path, creds, {view.org.id})
    report = HealthReport(view.org.id, view.org.display_name, view.identity,
                          credentials_path if creds is not None else None)
    app = view.actual.application
    if app is None:
        report.add("app", False, f"no app registration with uniqueName {view.desired.unique_name} "
                   "(not onboarded: run kodo-provision onboard)")
        return report
    look_alikes = [a for a in await applications_named(gateway=session.gateway, display_name=app.display_name)
                   if a.id != app.id]
    message = f"exactly one app with uniqueName {view.desired.unique_name}: client ID {app.app_id}, object {app.id}"
    if look_alikes:
        message += f"; {len(look_alikes)} other app(s) named {app.display_name!r} are not KODO's and are ignored"
    report.add("app", True, message)
    report.add("app_tag", is_tool_app(app.tags),
               f"tagged {TOOL_TAG}" if is_tool_app(app.tags) else
               f"not tagged {TOOL_TAG} (kodo-provision onboard adds the tag)", warn=True)
    _permission_checks(report, view)
    certificate = creds is not None and creds.get("credential_type") == "certificate"
    if creds is not None and certificate:
        _certificate_checks(report, app, creds, now)
    else:
        _secret_checks(report, app, creds, now)
    cert_path = str(creds.get("certificate_path") or "") if creds and certificate else ""
    if creds and (creds.get("client_secret") or cert_path):
        if str(creds.get("client_id", "")).lower() != app.app_id:
            report.add("app_token", False, "the credentials file is for another app; no token check")
            return report
        what = "certificate" if cert_path else "secret"
        try:
            checks, errors = await check_app_token(session.cloud, view.org.id, app.app_id,
                                                   str(creds.get("client_secret") or ""), view.desired,
                                                   ca_bundle=session.ca_bundle, budget_s=token_budget_s,
                                                   certificate_path=cert_path or None)
        except (OSError, ValueError) as exc:  # the key file is missing or unreadable
            checks, errors = [], [str(exc)]
        for error in errors:
            report.add("app_token", False, f"no app-only token with the credentials file's {what}: {error}")
        for check in checks:
            if not any(e.startswith(f"{check.resource}: ") for e in errors):
                report.add("app_token", check.granted,
                               f"{check.resource} / {check.permission} "
                               + ("is in the app-only token's roles" if check.granted else
                                  "is MISSING from the app-only token's roles"))
        if probe:
            report.add_probes(await probe_data_access(
                session.cloud, view.org.id, app.app_id, str(creds.get("client_secret") or ""), view.desired,
                ca_bundle=session.ca_bundle, certificate_path=cert_path or None, mailbox=probe_mailbox))
    return report
