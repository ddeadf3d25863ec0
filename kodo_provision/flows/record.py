"""The audit record of one onboarding run in one tenant (no secrets).

Security teams ask who changed what in their directory, when, and how to trace it with
Microsoft: the record names the signed-in admin (UPN, object ID), the tenant, every object
the run created or changed (IDs), every permission granted, and the Graph request IDs
(graph/request_ids.py). It is written 0600 next to the credentials file as
`kodo-audit-<tenant>-<UTC timestamp>-<run id>.json`, one file per run, and referenced in the
result (`audit_file`). Secrets never enter it: only the secret's keyId and expiry.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from ..credentials.store import write_credentials
from ..plan.model import (
    AddSecret,
    CreateResourceServicePrincipal,
    CreateServicePrincipal,
    GrantAppRole,
    GrantDelegated,
    RevokeAppRole,
    RevokeDelegated,
    Step,
    UpsertApplication,
)
from ..state.model import TenantState
from .journal import RunJournal, forget_run

AUDIT_SCHEMA_VERSION = 1


@dataclass
class AuditTrail:
    """What a run gathers for its audit record while it runs."""

    run_id: str
    started_at: datetime
    request_ids: list[str]
    steps: list[Step] = field(default_factory=list)
    signed_in_upn: str = ""
    signed_in_object_id: str = ""
    # Steps reported done as they happen (on_step), so a run that fails midway is recorded too.
    seen: list[Step] = field(default_factory=list)


def audit_path(credentials_path: Path, tenant: str, started_at: datetime, run_id: str) -> Path:
    """Next to the credentials file; the run ID keeps two runs in the same second apart."""
    stamp = started_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    safe_tenant = "".join(c if c.isalnum() or c in ".-" else "_" for c in tenant)
    return credentials_path.parent / f"kodo-audit-{safe_tenant}-{stamp}-{run_id}.json"


@functools.cache  # reading package metadata costs milliseconds; bulk writes a record per tenant
def _version() -> str:
    try:
        return metadata.version("kodo_provision")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _change(step: Step, state: TenantState, app_object_id: str | None, sp_id: str | None,
            secret_key_id: str | None) -> dict[str, Any]:
    """One applied step with the ID of the object it created or changed (from the state read after)."""
    entry: dict[str, Any] = {"kind": step.kind, "description": step.describe(), "object_type": None,
                             "object_id": None, "action": "changed"}
    if isinstance(step, UpsertApplication):
        entry.update(object_type="application", object_id=app_object_id,
                     action="created" if step.create else "changed")
        if not step.create:
            entry["changed_fields"] = list(step.changed_fields)
    elif isinstance(step, CreateServicePrincipal):
        entry.update(object_type="servicePrincipal", object_id=sp_id, action="created")
    elif isinstance(step, CreateResourceServicePrincipal):
        rsp = state.resource_service_principals.get(step.resource_app_id)
        entry.update(object_type="servicePrincipal", object_id=rsp.id if rsp else None, action="created")
    elif isinstance(step, GrantAppRole):
        assignment = next((a for a in state.app_role_assignments
                           if a.resource_id == step.resource_sp_id and a.app_role_id == step.app_role_id), None)
        entry.update(object_type="appRoleAssignment", object_id=assignment.id if assignment else None,
                     action="created")
    elif isinstance(step, GrantDelegated):
        grant = next((g for g in state.grants
                      if g.resource_id == step.resource_sp_id and g.consent_type == "AllPrincipals"), None)
        entry.update(object_type="oAuth2PermissionGrant", object_id=grant.id if grant else None,
                     action="changed" if step.grant_id else "created")
    elif isinstance(step, AddSecret):
        entry.update(object_type="passwordCredential", object_id=secret_key_id, action="created",
                     parent_application=app_object_id, lifetime_days_planned=step.lifetime_days)
    elif isinstance(step, RevokeAppRole):
        entry.update(object_type="appRoleAssignment", object_id=step.assignment_id, action="deleted")
    elif isinstance(step, RevokeDelegated):
        entry.update(object_type="oAuth2PermissionGrant", object_id=step.grant_id,
                     action="changed" if step.remaining else "deleted")
    return entry


def _granted(step: Step) -> list[dict[str, str]]:
    if isinstance(step, GrantAppRole):
        return [{"resource": step.resource_name, "resource_app_id": step.resource_app_id,
                 "permission": step.permission_name, "type": "application"}]
    if isinstance(step, GrantDelegated):
        return [{"resource": step.resource_name, "resource_app_id": step.resource_app_id, "permission": scope,
                 "type": "delegated"} for scope in step.added]
    return []


def build_audit_record(trail: AuditTrail, *, tenant: str, tenant_id: str, tenant_name: str, status: str,
                       manifest_version: str, unique_name: str, client_id: str | None,
                       app_object_id: str | None, service_principal_id: str | None,
                       secret_key_id: str | None, secret_expires_at: str | None,
                       credentials_path: Path | None, state: TenantState, notes: list[str]) -> dict[str, Any]:
    """The record as a JSON-ready dict; holds IDs only, never a secret."""
    created_secret = secret_key_id if any(isinstance(s, AddSecret) for s in trail.steps) else None
    changes = [_change(s, state, app_object_id, service_principal_id, created_secret) for s in trail.steps]
    return {
        "schema_version": AUDIT_SCHEMA_VERSION,
        "record": "kodo-provision onboard",
        "tool_version": _version(),
        "run_id": trail.run_id,
        "started_at": trail.started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "status": status,
        "tenant": {"requested": tenant, "id": tenant_id, "name": tenant_name},
        "signed_in": {"user_principal_name": trail.signed_in_upn, "object_id": trail.signed_in_object_id},
        "manifest_version": manifest_version,
        "app": {"unique_name": unique_name, "client_id": client_id, "object_id": app_object_id,
                "service_principal_id": service_principal_id},
        "changes": changes,
        "created_object_ids": [c["object_id"] for c in changes if c["action"] == "created" and c["object_id"]],
        "permissions_granted": [g for s in trail.steps for g in _granted(s)],
        "secret": {"key_id": created_secret, "expires_at": secret_expires_at if created_secret else None},
        "credentials_file": str(credentials_path) if credentials_path else None,
        "graph_request_ids": list(trail.request_ids),
        "notes": list(notes),
    }


def write_audit_record(path: Path, record: dict[str, Any], run_id: str | None = None) -> Path:
    """Atomically, mode 0600 (the same writer as the credentials file); with `run_id`, the record is
    final and the run is unlisted from the running ones (run_journal.py)."""
    write_credentials(path, record)
    if run_id is not None:
        forget_run(run_id)
    return path


def begin_journal(trail: AuditTrail, *, record: str, tenant: str, tenant_id: str, tenant_name: str,
                  app: dict[str, Any], path: Path) -> RunJournal:
    """The record of a run about to change `tenant`, on disk (status running) before its first change."""
    header = {"schema_version": AUDIT_SCHEMA_VERSION, "record": record, "tool_version": _version(),
              "run_id": trail.run_id, "started_at": trail.started_at.isoformat(),
              "tenant": {"requested": tenant, "id": tenant_id, "name": tenant_name},
              "signed_in": {"user_principal_name": trail.signed_in_upn, "object_id": trail.signed_in_object_id},
              "app": app}
    return RunJournal(path, header).begin()


def record_run(trail: AuditTrail, result: Any, options: Any, unique_name: str, state: TenantState) -> Path:
    """Write the record of an onboarding run (`result`: OnboardResult, `options`: OnboardOptions)."""
    record = build_audit_record(
        trail, tenant=options.tenant, tenant_id=result.tenant_id, tenant_name=result.tenant_name,
        status=result.status, manifest_version=options.manifest.manifest_version, unique_name=unique_name,
        client_id=result.client_id, app_object_id=result.app_object_id,
        service_principal_id=result.service_principal_id, secret_key_id=result.secret_key_id,
        secret_expires_at=result.secret_expires_at, credentials_path=result.credentials_path, state=state,
        notes=result.notes)
    return write_audit_record(audit_path(options.credentials_path, options.tenant, trail.started_at, trail.run_id),
                              record, trail.run_id)


def recording(trail: AuditTrail, on_step: Any, journal: RunJournal | None = None) -> Any:
    """Wrap a UI on_step callback so the trail (failure path) and the record on disk (a killed run)
    also see each step as it completes."""
    def on_step_recorded(step: Step, status: str) -> None:
        if status == "done":
            trail.seen.append(step)
            if journal is not None:
                journal.changed({"kind": step.kind, "description": step.describe()})
        on_step(step, status)
    return on_step_recorded


async def record_failed_run(trail: AuditTrail, result: Any, options: Any, unique_name: str, error: Exception,
                            reread: Any, *, always: bool = False) -> Path | None:
    """A run that failed after changing the tenant: record what it did, with IDs from a fresh read
    (`reread`: async callable -> (desired, TenantState)); best effort, never masks the error. The
    `result` gets the same facts (IDs, changes made), so a bulk report row names what already exists."""
    steps = [*trail.steps, *(s for s in trail.seen if s not in trail.steps)]
    if not steps and not always:  # `always`: an interruption, whose first write may have been in flight
        return None
    state: TenantState | None = None
    try:
        _desired, state = await reread()
    except Exception:  # the tenant may be unreachable: record what is known
        state = None
    app = state.application if state else None
    sp = state.service_principal if state else None
    result.client_id, result.app_object_id = (app.app_id, app.id) if app else (result.client_id, result.app_object_id)
    result.service_principal_id = sp.id if sp else result.service_principal_id
    result.applied = [*result.applied, *(s.describe() for s in steps if s.describe() not in result.applied)]
    record = build_audit_record(
        AuditTrail(trail.run_id, trail.started_at, trail.request_ids, steps, trail.signed_in_upn,
                   trail.signed_in_object_id),
        tenant=options.tenant, tenant_id=result.tenant_id, tenant_name=result.tenant_name, status="failed",
        manifest_version=options.manifest.manifest_version, unique_name=unique_name,
        client_id=app.app_id if app else None, app_object_id=app.id if app else None,
        service_principal_id=sp.id if sp else None, secret_key_id=result.secret_key_id,
        secret_expires_at=None, credentials_path=options.credentials_path,
        state=state or TenantState(), notes=result.notes)
    one_line = getattr(error, "one_line", None)
    record["error"] = one_line() if callable(one_line) else type(error).__name__
    try:
        return write_audit_record(audit_path(options.credentials_path, options.tenant, trail.started_at,
                                             trail.run_id), record, trail.run_id)
    except OSError:
        return None
