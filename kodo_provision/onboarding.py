"""The onboarding flow for one tenant: desired -> actual -> plan -> apply -> verify -> hand-off.

The CLI (and later bulk) calls `onboard_tenant`; interaction (showing the plan, asking for
confirmation, progress) comes in through `OnboardUI` so this module neither prints nor reads.
"""

from __future__ import annotations

import asyncio
import secrets as pysecrets
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from .apply.executor import ApplyOutcome, apply_plan
from .apply.revoke import apply_revocations
from .apply.secret import remove_unhanded_secrets
from .apply.secret_policy import blocked_note, clamp_to_policy, refuse_if_blocked
from .apply.verify import VerificationReport, check_app_token, poll_until_empty
from .audit import AuditTrail, audit_path, begin_journal, record_failed_run, record_run, recording
from .auth import AUTOMATION_APP_ROLES, AppCaller
from .certificate import GeneratedCertificate, generate_certificate
from .cloud import Cloud
from .credentials import (
    certificate_file_paths,
    check_owner,
    clear_pending_runs,
    held_certificate,
    held_secret,
    mark_pending_runs,
    read_credentials,
    read_pending_runs,
    write_credentials,
    write_private_file,
)
from .errors import (
    InsufficientPrivilegesError,
    Interrupted,
    KodoError,
    UsageError,
    VerificationError,
    note_interruption,
)
from .graph.batched import BatchedReads
from .graph.gateway import GraphGateway, Organization
from .graph.request_ids import start_collecting
from .identity import app_unique_name
from .manifest.model import Manifest
from .manifest.resolve import DesiredState, resolve
from .output.logging import register_secret
from .plan.diff import diff
from .plan.model import AddCertificate, AddSecret, Plan, Step
from .run_journal import settle_abandoned_runs
from .state.model import Application, HeldCertificate, HeldSecret, ResourceServicePrincipal, TenantState
from .state.policy import effective_policy
from .state.read import read_resource_service_principals, read_tenant_state

log = structlog.get_logger("kodo_provision.onboard")

MICROSOFT_GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
# Directory role template IDs (the same in every tenant).
# https://learn.microsoft.com/en-us/entra/identity/role-based-access-control/permissions-reference
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"
APPLICATION_ADMINISTRATOR = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3"
CLOUD_APPLICATION_ADMINISTRATOR = "158c047a-c907-4556-b7ef-446551a6b5f7"
MAX_RECONCILE_ROUNDS = 3


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


def needed_roles(manifest: Manifest) -> tuple[set[str], str]:
    """Role template IDs any one of which may grant the manifest, and a readable name.
    Cloud/Application Administrators may consent to anything except Microsoft Graph app roles.
    https://learn.microsoft.com/en-us/entra/identity/enterprise-apps/grant-admin-consent"""
    graph_app_roles = any(r.app_id == MICROSOFT_GRAPH_APP_ID and r.application for r in manifest.resources)
    if graph_app_roles:
        return ({GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR},
                "Global Administrator or Privileged Role Administrator")
    return ({GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR, APPLICATION_ADMINISTRATOR,
             CLOUD_APPLICATION_ADMINISTRATOR},
            "Global Administrator, Privileged Role Administrator or (Cloud) Application Administrator")


def check_roles(roles: frozenset[str] | None, manifest: Manifest, upn: str) -> list[str]:
    """Refuse up front when the signed-in user cannot grant the manifest; notes on soft failures.
    `roles` is None when Graph refused to list them (403)."""
    allowed, label = needed_roles(manifest)
    if roles is None:
        return ["could not read your directory roles; continuing (consent fails later without the role)"]
    if not roles & allowed:
        raise InsufficientPrivilegesError(
            f"{upn} is not a {label}, which granting this manifest's permissions requires",
            hint="sign in as a Global Administrator, or activate Privileged Role Administrator (PIM) and retry")
    return []


# What each application permission the automation app needs may be replaced by (a broader one).
# Application.ReadWrite.OwnedBy is not enough: onboarding creates an app the automation app does not own
# until it exists. https://learn.microsoft.com/en-us/graph/permissions-reference
_APP_ROLE_ALTERNATIVES = {
    "Application.ReadWrite.All": ("Application.ReadWrite.All",),
    "AppRoleAssignment.ReadWrite.All": ("AppRoleAssignment.ReadWrite.All",),
    "DelegatedPermissionGrant.ReadWrite.All": ("DelegatedPermissionGrant.ReadWrite.All", "Directory.ReadWrite.All"),
    "Organization.Read.All": ("Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All",
                              "Directory.ReadWrite.All"),
}


def check_app_roles(caller: AppCaller, needed: tuple[str, ...] = AUTOMATION_APP_ROLES) -> None:
    """Refuse before any Graph request when the automation app's token lacks an application
    permission the command needs (default: onboarding's). The token's `roles` are the app role
    assignments consented in this tenant, so they are the truth (no /me, no directory roles for an app)."""
    missing = [need for need in needed
               if not caller.roles & set(_APP_ROLE_ALTERNATIVES.get(need, (need,)))]
    if missing:
        raise InsufficientPrivilegesError(
            f"the automation app {caller.app_id} lacks the Microsoft Graph application permission(s) "
            f"{', '.join(missing)} in this tenant",
            hint="grant them to the automation app in this tenant (admin consent for Microsoft Graph application "
                 "permissions, by a Global Administrator or Privileged Role Administrator) and run again")


def _desired_unique_name(manifest: Manifest, options: OnboardOptions) -> str:
    return app_unique_name(manifest.app.unique_name, options.app_name)


def _desired(manifest: Manifest, resource_sps: dict[str, ResourceServicePrincipal | None],
             options: OnboardOptions) -> DesiredState:
    desired = resolve(manifest, resource_sps)
    if options.app_name:
        # The same --app-name addresses the same app in every command (see identity.py).
        desired = replace(desired, display_name=options.app_name,
                          unique_name=app_unique_name(manifest.app.unique_name, options.app_name))
    if options.secret_lifetime:
        desired = replace(desired, secret_lifetime=options.secret_lifetime)
    if options.credential_type != desired.credential_type:
        desired = replace(desired, credential_type=options.credential_type)
    return desired


class TenantSession:
    """A gateway bound to one tenant, plus what onboarding needs around it."""

    def __init__(self, gateway: GraphGateway, cloud: Cloud, ca_bundle: str | None, signed_in_as: str,
                 token_roles: frozenset[str] | None = None, app_caller: AppCaller | None = None) -> None:
        self.gateway = gateway
        self.cloud = cloud
        self.ca_bundle = ca_bundle
        self.signed_in_as = signed_in_as
        # A partner (GDAP) admin is not a member of the customer directory: /me answers 404 and
        # the roles in force are those of the relationship, carried in the token's `wids`.
        # Bulk passes them here. https://learn.microsoft.com/en-us/partner-center/customers/gdap-introduction
        self.token_roles = token_roles
        # The operator's automation app (--auth client-secret|certificate) instead of a user: there
        # is no /me; who calls and what it may do come from its app-only token's claims.
        self.app_caller = app_caller

    async def read(self, manifest: Manifest, options: OnboardOptions, *,
                   resource_sps: dict[str, ResourceServicePrincipal | None] | None = None,
                   app_id: str | None = None) -> tuple[DesiredState, TenantState]:
        """Desired and actual state. Pass what is already known (the resource SPs, the app's
        appId) and the read is a single batched request."""
        sps = resource_sps if resource_sps is not None else await read_resource_service_principals(
            self.gateway, [r.app_id for r in manifest.resources])
        desired = _desired(manifest, sps, options)
        actual = await read_tenant_state(self.gateway, desired.unique_name, sps, app_id=app_id)
        return desired, actual


def _app_record(org: Organization, options: OnboardOptions, outcome: ApplyOutcome) -> dict[str, Any]:
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


def _credentials_record(org: Organization, options: OnboardOptions, outcome: ApplyOutcome) -> dict[str, Any]:
    secret = outcome.new_secret
    assert secret is not None
    return {
        **_app_record(org, options, outcome),
        "client_secret": secret.secret_text,
        "secret_key_id": secret.key_id,
        "secret_expires_at": secret.end_date_time.isoformat() if secret.end_date_time else None,
    }


def _certificate_record(org: Organization, options: OnboardOptions, outcome: ApplyOutcome,
                        files: dict[str, Path]) -> dict[str, Any]:
    """The credentials file for a certificate: where the key is, never the key itself."""
    cert = outcome.new_certificate
    assert cert is not None
    return {
        **_app_record(org, options, outcome),
        "credential_type": "certificate",
        "certificate_path": str(files["pem"]),
        "certificate_pfx_path": str(files["pfx"]) if "pfx" in files else None,
        "certificate_thumbprint": cert.thumbprint,
        "key_id": cert.key_id,
        "certificate_expires_at": cert.not_after.isoformat(),
    }


def _switched_secret(held: HeldSecret | None, app: Application | None) -> str | None:
    """The key ID of the secret the credentials file held when a certificate replaces it
    (`app` as read before the apply: it lists the app's secrets)."""
    if held is None or app is None or held.client_id not in ("", app.app_id):
        return None
    return held.key_id if any(c.key_id == held.key_id for c in app.password_credentials) else None


def _remove_key_command(options: OnboardOptions, key_id: str) -> str:
    """The exact command that removes one key later (the same as lifecycle.rotate.remove_command,
    which cannot be imported here: lifecycle imports this module)."""
    parts = ["kodo-provision", "rotate-secret", "--tenant", options.tenant]
    if options.app_name:
        parts += ["--app-name", options.app_name]
    parts += ["--credentials", str(options.credentials_path), "--remove-key", key_id]
    return shlex.join(parts)


def app_id_of(actual: TenantState) -> str | None:
    """The client ID of the app the tenant already has, if any."""
    return actual.application.app_id if actual.application else None


async def onboard_tenant(session: TenantSession, options: OnboardOptions, ui: OnboardUI | None = None
                         ) -> OnboardResult:
    """Run the whole flow for one tenant; raises KodoError subclasses with exit statuses."""
    ui = ui or OnboardUI()
    gateway = session.gateway
    manifest = options.manifest
    run_id = options.run_id or pysecrets.token_hex(4)
    structlog.contextvars.bind_contextvars(tenant=options.tenant, run_id=run_id)
    trail = AuditTrail(run_id, datetime.now(UTC), start_collecting())  # the audit record (audit.py)

    existing = read_credentials(options.credentials_path)

    ui.on_phase("preflight")
    caller = session.app_caller
    if caller is not None:  # the operator's automation app: its token says what it may do
        check_app_roles(caller)
    # One batched round trip: tenant, user, roles, resource APIs and the app (if it exists).
    overview = await BatchedReads(gateway).overview(
        _desired_unique_name(manifest, options), [r.app_id for r in manifest.resources],
        signed_in_user=caller is None)
    org, me = overview.organization, overview.me
    trail.signed_in_upn, trail.signed_in_object_id = (me.user_principal_name or session.signed_in_as,
                                                      me.id or (caller.object_id if caller else ""))
    check_owner(options.credentials_path, existing, {org.id})
    if caller is not None:
        notes: list[str] = []
    else:
        roles = overview.role_template_ids
        if not me.user_principal_name and session.token_roles is not None:
            roles = session.token_roles
        notes = check_roles(roles, manifest, me.user_principal_name or session.signed_in_as)

    held: HeldSecret | None = held_secret(existing)
    held_cert: HeldCertificate | None = held_certificate(existing)
    unique_name = _desired_unique_name(manifest, options)
    interrupted = read_pending_runs(org.id, unique_name, legacy=options.credentials_path)
    resource_sps = overview.resource_sps
    desired = _desired(manifest, resource_sps, options)
    # The tenant's secret rules (when readable) shape the plan: lifetime clamped, or refused below.
    secret_policy = overview.secret_policy
    desired, policy_notes = clamp_to_policy(desired, secret_policy)
    actual = await read_tenant_state(gateway, desired.unique_name, resource_sps, application=overview.application)
    now = datetime.now(UTC)
    plan = diff(desired, actual, held_secret=held, now=now, prune=options.prune,
                interrupted_runs=interrupted, held_certificate=held_cert)
    if plan.of_kind(AddSecret) and actual.application is not None:
        # An existing app may have its own app-management policy, which replaces the tenant
        # default for it (appmanagementpolicy-post-appliesto). One read, only when a secret is due.
        app_policy = await gateway.app_secret_policy(actual.application.id)
        effective = effective_policy(secret_policy, app_policy)
        if effective is not secret_policy:
            secret_policy = effective
            desired, policy_notes = clamp_to_policy(_desired(manifest, resource_sps, options), secret_policy)
            plan = diff(desired, actual, held_secret=held, now=now, prune=options.prune,
                        interrupted_runs=interrupted, held_certificate=held_cert)
    result = OnboardResult(org.id, org.display_name, me.user_principal_name or session.signed_in_as, plan,
                           notes=notes + list(plan.notes) + policy_notes + blocked_note(plan, secret_policy))
    if options.plan_only:
        if actual.application is not None:  # show which app was matched (by uniqueName)
            result.client_id = actual.application.app_id
            result.app_object_id = actual.application.id
        result.service_principal_id = actual.service_principal.id if actual.service_principal else None
        return result
    refuse_if_blocked(plan, secret_policy)  # before anything is created
    for settled in settle_abandoned_runs(run_id):  # audit records of killed runs (run_journal.py)
        result.notes.append(f"marked the audit record of an interrupted run as interrupted: {settled}")
    ui.show_plan(plan, org)
    if not plan.is_empty and not ui.confirm(plan, org):
        raise UsageError("cancelled; nothing was changed", hint="answer 'y' or pass --yes to apply the plan")

    ui.on_phase("apply")
    applied_anything = not plan.is_empty
    journal = None if plan.is_empty else begin_journal(
        trail, record="kodo-provision onboard", tenant=options.tenant, tenant_id=org.id, tenant_name=org.display_name,
        app={"unique_name": unique_name, "client_id": app_id_of(actual)},
        path=audit_path(options.credentials_path, options.tenant, trail.started_at, run_id))
    if plan.of_kind(AddSecret) or plan.of_kind(AddCertificate):
        # On disk before addPassword / the certificate upload: if this run dies before the hand-off, the
        # next one knows the credential it finds with this run's marker is an orphan and removes it.
        mark_pending_runs(org.id, unique_name, interrupted | {run_id})

    cert_files: dict[str, Path] = {}
    written: dict[str, Any] | None = existing  # the credentials file's content as this run leaves it

    def make_certificate() -> GeneratedCertificate:
        # The private key is on disk (0600) before the public certificate is uploaded.
        cert = generate_certificate(desired.display_name, now=datetime.now(UTC), lifetime=desired.secret_lifetime)
        pem, pfx = certificate_file_paths(options.credentials_path, cert.thumbprint)
        write_private_file(pem, cert.pem_bundle())
        cert_files["pem"] = pem
        if options.pfx_password:
            register_secret(options.pfx_password)
            write_private_file(pfx, cert.pfx(options.pfx_password.encode()))
            cert_files["pfx"] = pfx
        return cert

    def hand_off(outcome: ApplyOutcome) -> None:
        # Hand the secret off before anything else can fail: a secret nobody holds is lost.
        nonlocal held, held_cert, written
        if outcome.new_certificate is not None:
            record = _certificate_record(org, options, outcome, cert_files)
            if switched := _switched_secret(held, actual.application):
                # secret -> certificate: the secret stays on the app (KODO may still use it), and
                # this file is the only place that still names it.
                record["previous_secret_key_id"] = switched
                result.notes.append(f"the previous client secret {switched} is still on the app (KODO may still "
                                    "use it); once nothing uses it, remove it with: "
                                    + _remove_key_command(options, switched))
            write_credentials(options.credentials_path, record)
            written = record
            held_cert = held_certificate(record)
            result.secret_created = True
            result.secret_key_id = outcome.new_certificate.key_id
            return
        assert outcome.new_secret is not None
        written = _credentials_record(org, options, outcome)
        write_credentials(options.credentials_path, written)
        held = held_secret(written)
        result.secret_created = True
        result.secret_key_id = outcome.new_secret.key_id

    app_id = actual.application.app_id if actual.application else None
    for _round in range(MAX_RECONCILE_ROUNDS):
        if plan.is_empty:
            break
        try:
            step_outcome = await apply_plan(gateway, plan, desired, actual, run_id=run_id, now=now,
                                            on_step=recording(trail, ui.on_step, journal), on_secret=hand_off,
                                            secret_policy=secret_policy, make_certificate=make_certificate)
        except KodoError as exc:  # the tenant may hold some of our objects now: record them (audit.py)
            result.audit_path = await record_failed_run(
                trail, result, options, desired.unique_name, exc,
                lambda sps=resource_sps: session.read(manifest, options, resource_sps=sps))
            if getattr(exc, "result", None) is None:
                exc.result = result  # type: ignore[attr-defined]  # what exists now (bulk's report row)
            raise
        except (asyncio.CancelledError, KeyboardInterrupt):  # Ctrl-C / SIGTERM mid-apply (cli/interrupts.py)
            result.audit_path = await record_failed_run(
                trail, result, options, desired.unique_name, Interrupted("interrupted by the operator"),
                lambda sps=resource_sps: session.read(manifest, options, resource_sps=sps), always=True)
            note_interruption(f"{len(result.applied)} change(s) confirmed in {org.display_name} (one more may have "
                              "been in flight)" + (f"; audit record {result.audit_path}" if result.audit_path else ""))
            raise
        result.notes.extend(step_outcome.notes)
        app_id = step_outcome.application.app_id if step_outcome.application else app_id
        if step_outcome.service_principal is not None:  # --prune: revoke what the manifest drops
            revoked, _gone = await apply_revocations(gateway, plan, step_outcome.service_principal.id, ui.on_step)
            step_outcome.done.extend(revoked)
        result.applied.extend(s.describe() for s in step_outcome.done)
        trail.steps.extend(step_outcome.done)
        result.already_present.extend(s.describe() for s in step_outcome.already_present)
        if not step_outcome.created_resources:
            break
        # A resource SP was created: its permission names can only be resolved now.
        resource_sps = await read_resource_service_principals(gateway, [r.app_id for r in manifest.resources])
        desired, actual = await session.read(manifest, options, resource_sps=resource_sps, app_id=app_id)
        plan = diff(desired, actual, held_secret=held, now=now, prune=options.prune,
                interrupted_runs=interrupted, held_certificate=held_cert)

    ui.on_phase("verify")

    async def replan() -> Plan:
        nonlocal desired, actual
        desired, actual = await session.read(manifest, options, resource_sps=resource_sps, app_id=app_id)
        return diff(desired, actual, held_secret=held, now=now, prune=options.prune,
                interrupted_runs=interrupted, held_certificate=held_cert)

    # Nothing applied: the state just read is the verification read; don't read it twice.
    remaining = await poll_until_empty(replan, options.verify_budget_s) if applied_anything else plan
    if applied_anything:  # the state just read has replicated: a secret of ours nobody holds shows now
        swept = await remove_unhanded_secrets(gateway, actual.application, frozenset({run_id}),
                                              held.key_id if held else None)
        if swept:
            result.notes.append(f"removed {len(swept)} secret(s) this run added whose answer was lost")
    clear_pending_runs(org.id, unique_name, legacy=options.credentials_path)  # handed off or removed
    app, sp = actual.application, actual.service_principal
    result.client_id = app.app_id if app else None
    result.app_object_id = app.id if app else None
    result.service_principal_id = sp.id if sp else None
    result.credentials_path = options.credentials_path
    report = VerificationReport(remaining)
    result.verification = report
    creds = written or {}  # what the credentials file holds now (this run's record, or the one it found)
    if held is not None:
        result.secret_key_id = held.key_id
        result.secret_expires_at = creds.get("secret_expires_at")
    if options.credential_type == "certificate" and held_cert is not None:
        result.credential_type = "certificate"
        result.secret_key_id = held_cert.key_id
        result.secret_expires_at = creds.get("certificate_expires_at")
        result.certificate_thumbprint = held_cert.thumbprint
        if remaining.is_empty and app is not None:
            report.permissions, report.token_errors = await check_app_token(
                session.cloud, org.id, app.app_id, "", desired, ca_bundle=session.ca_bundle,
                budget_s=options.verify_budget_s, certificate_path=str(creds["certificate_path"]))
    elif remaining.is_empty and app is not None and creds.get("client_secret"):
        report.permissions, report.token_errors = await check_app_token(
            session.cloud, org.id, app.app_id, creds["client_secret"], desired,
            ca_bundle=session.ca_bundle, budget_s=options.verify_budget_s)
    result.status = "verified" if report.ok else "verification_failed"
    result.audit_path = record_run(trail, result, options, desired.unique_name, actual)
    log.info("onboard.finished", status=result.status, client_id=result.client_id, changes=len(result.applied))
    if not report.ok:
        missing = [f"{p.resource}/{p.permission}" for p in report.permissions if not p.granted]
        detail = "; ".join([*(s.describe() for s in remaining.steps), *(f"role missing: {m}" for m in missing),
                            *report.token_errors])
        error = VerificationError("verification failed", detail=detail,
                                  hint="run the same command again; it repairs what is missing")
        error.result = result  # type: ignore[attr-defined]
        raise error
    return result


__all__ = ["OnboardOptions", "OnboardResult", "OnboardUI", "TenantSession", "onboard_tenant", "KodoError"]
