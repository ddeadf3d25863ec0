"""`rotate-secret`: a new secret with no moment in which the credentials file does not work.

Order (each step only after the previous one succeeded):
1. add the new secret (exactly once, apply/secret.py);
2. prove it works: an app-only token (a new secret is refused for a few seconds, graph-docs#17966,
   so this polls within a budget). If it never works, the new secret is removed again and nothing
   else has changed;
3. back up the current credentials file (0600) and replace it atomically;
4. only with --remove-old: remove the previous secret, and only if this tool created it.
Without --remove-old the previous secret stays (KODO instances still using it keep working) and
the exact command that removes it later is printed. Peers delete the secret in use
(azure-cli#32467, terraform-provider-azuread#1549).
"""

from __future__ import annotations

import glob
import json
import secrets as pysecrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ..apply.certificate import add_certificate_exactly_once, is_tool_certificate, remove_certificate
from ..apply.secret import is_tool_secret, remove_unhanded_secrets, secret_display_name
from ..apply.secret_policy import add_secret_within_policy, clamp_to_policy
from ..apply.verify import check_app_token
from ..credentials.certificate import generate_certificate
from ..credentials.store import (
    certificate_file_paths,
    check_owner,
    check_same_app,
    clear_pending_runs,
    held_certificate,
    held_secret,
    mark_pending_runs,
    read_credentials,
    read_pending_runs,
    write_credentials,
    write_private_file,
)
from ..errors import UsageError, VerificationError
from ..manifest.identity import TOOL_TAG, is_tool_app, secret_marker
from ..output.logging import get_logger
from ..state.policy import effective_policy
from .common import ROTATE_APP_ROLES, AppIdentity, TenantView, begin_record, read_view, recorded
from .handoff import remove_key_command
from .journal import RunJournal
from .options import OnboardOptions
from .session import TenantSession

log = get_logger("kodo_provision.rotate")


@dataclass
class RotateResult:
    """What rotation did. Holds no secret."""

    tenant_id: str
    tenant_name: str
    app: AppIdentity
    credentials_path: Path
    action: str = "rotated"  # or "removed_key", "nothing_to_do"
    backup_path: Path | None = None
    new_key_id: str | None = None
    new_expires_at: str | None = None
    old_key_id: str | None = None
    old_removed: bool = False
    remove_command: str | None = None
    notes: list[str] = field(default_factory=list)
    credential_type: str = "secret"  # or "certificate" (issue 8)
    certificate_thumbprint: str | None = None
    audit_path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "action": self.action,
            "tenant_id": self.tenant_id,
            "tenant_name": self.tenant_name,
            "app": self.app.to_dict(),
            "credentials_file": str(self.credentials_path),
            "backup_file": str(self.backup_path) if self.backup_path else None,
            "new_secret_key_id": self.new_key_id,
            "new_secret_expires_at": self.new_expires_at,
            "old_secret_key_id": self.old_key_id,
            "old_secret_removed": self.old_removed,
            "remove_old_command": self.remove_command,
            "notes": self.notes,
            "credential_type": self.credential_type,
            "certificate_thumbprint": self.certificate_thumbprint,
            "audit_file": str(self.audit_path) if self.audit_path else None,
        }


def backup_path_for(path: Path, now: datetime) -> Path:
    return path.with_name(f"{path.name}.{now:%Y%m%dT%H%M%SZ}.bak")


def remove_backups_holding(path: Path, key_id: str, result: RotateResult) -> None:
    """Once a secret is removed from the app, the backups of the credentials file that hold it are useless,
    and a secret file nobody needs should not stay on disk (issue 15)."""
    for backup in sorted(path.parent.glob(f"{glob.escape(path.name)}.*.bak")):
        try:
            held = str(json.loads(backup.read_text(encoding="utf-8")).get("secret_key_id") or "").lower()
        except (OSError, ValueError, AttributeError):
            continue
        if held == key_id.lower():
            backup.unlink(missing_ok=True)
            result.notes.append(f"removed the backup {backup} (it held the removed secret)")


def _require_app(view: TenantView, options: OnboardOptions) -> None:
    app = view.actual.application
    if app is None:
        raise UsageError(f"no app registration with uniqueName {view.desired.unique_name} in {options.tenant}",
                         hint="onboard the tenant first (kodo-provision onboard), with the same --app-name")
    if not is_tool_app(app.tags):
        raise UsageError(f"the app with uniqueName {view.desired.unique_name} is not tagged {TOOL_TAG}",
                         hint="run kodo-provision onboard once to adopt it, then rotate")


def _kept_old(result: Any, kind: str, key_id: str, command: str, *, remove_old: bool,
              keep_until: datetime | None) -> Any:
    """The previous credential stays valid: say how to remove it, and why it was kept."""
    result.remove_command = command
    if remove_old:
        result.notes.append(f"the previous {kind} {key_id} was not created by kodo-provision, so it was kept; "
                            "remove it by key ID if nothing uses it")
    elif keep_until is not None:
        result.notes.append(f"keep the previous {kind} until {keep_until:%Y-%m-%d} (overlap), then remove it")
    return result


def _rotated_record(existing: dict[str, Any] | None, view: Any, options: Any, app: Any,
                    credential: dict[str, Any]) -> dict[str, Any]:
    """The new credentials record: what the file held, the tenant and app, the new credential."""
    record = {k: v for k, v in (existing or {}).items() if k != "schema_version"}
    record.update({
        "tenant_id": view.org.id,
        "tenant": options.tenant,
        "tenant_domain": view.org.default_domain,
        "client_id": app.app_id,
        "app_object_id": app.id,
        "service_principal_id": view.actual.service_principal.id if view.actual.service_principal else None,
        "rotated_at": datetime.now(UTC).isoformat(),
        **credential,
    })
    record.setdefault("created_at", record["rotated_at"])
    return record


def _proven_or_refused(kind: str, checks: list[Any], errors: list[str], result: RotateResult) -> None:
    """After the new credential's app-only token check: refuse when it never got a token (the caller
    has already taken it back, so nothing has changed), else note any permission the token lacks."""
    if errors:
        raise VerificationError(f"the new {kind} could not get an app-only token; it was removed again and "
                                "the credentials file is unchanged", detail="; ".join(errors),
                                hint=f"run again (Entra may be slow to accept new {kind}s); raise --verify-budget")
    missing = [f"{c.resource} / {c.permission}" for c in checks if not c.granted]
    if missing:
        result.notes.append(f"the app-only token lacks {', '.join(missing)}: run kodo-provision verify / onboard")


async def _rotation_view(session: TenantSession, options: OnboardOptions, credentials_path: Path,
                         existing: dict[str, Any] | None) -> TenantView:
    """One read of the tenant: the app must exist, carry the tool's tag, and be the one the file names."""
    view = await read_view(session, options, app_roles=ROTATE_APP_ROLES)
    check_owner(credentials_path, existing, {view.org.id})
    _require_app(view, options)
    check_same_app(credentials_path, existing, view.actual.application.app_id if view.actual.application else None)
    return view


def _rotation_record(session: TenantSession, view: TenantView, options: OnboardOptions, credentials_path: Path,
                     now: datetime) -> Any:
    """The rotation's audit record, written ahead of its first change (flows/journal.py)."""
    return recorded(begin_record(session, view, options, command="rotate-secret", run_id=pysecrets.token_hex(4),
                                 started=now, near=credentials_path))


async def rotate_secret(session: TenantSession, options: OnboardOptions, *, credentials_path: Path,
                        remove_old: bool, overlap: timedelta | None, budget_s: float,
                        now: datetime) -> RotateResult:
    """Add, prove, hand off, then (only if asked) remove the old secret; audited from before the first change."""
    existing = read_credentials(credentials_path)
    if existing is not None and existing.get("credential_type") == "certificate":
        return await rotate_certificate(session, options, credentials_path=credentials_path, remove_old=remove_old,
                                        overlap=overlap, budget_s=budget_s, now=now)
    view = await _rotation_view(session, options, credentials_path, existing)
    with _rotation_record(session, view, options, credentials_path, now) as journal:
        return await _rotate_secret(session, view, options, existing, journal, credentials_path=credentials_path,
                                    remove_old=remove_old, overlap=overlap, budget_s=budget_s, now=now)


def _secret_change(action: str, key_id: str) -> dict[str, str]:
    return {"kind": f"{'add' if action == 'created' else 'remove'}_secret", "object_type": "passwordCredential",
            "object_id": key_id, "action": action}


async def _rotate_secret(session: TenantSession, view: TenantView, options: OnboardOptions,
                         existing: dict[str, Any] | None, journal: RunJournal, *, credentials_path: Path,
                         remove_old: bool, overlap: timedelta | None, budget_s: float, now: datetime) -> RotateResult:
    app = view.actual.application
    assert app is not None
    result = RotateResult(view.org.id, view.org.display_name, view.identity, credentials_path,
                          audit_path=journal.path)
    held = held_secret(existing)
    old = next((c for c in app.password_credentials if held and c.key_id == held.key_id
                and held.client_id in ("", app.app_id)), None)

    # Secrets of rotations or onboardings killed before their hand-off (recorded per user, by tenant and
    # app) are removed first; then this run records itself before it adds one.
    unique_name, run_id = view.desired.unique_name, journal.record["run_id"]
    interrupted = read_pending_runs(view.org.id, unique_name, legacy=credentials_path)
    removed = await remove_unhanded_secrets(session.gateway, app, interrupted, held.key_id if held else None)
    for key_id in removed:
        journal.changed(_secret_change("deleted", key_id))
    if removed:
        result.notes.append(f"removed {len(removed)} secret(s) an interrupted run added but never handed off")
    mark_pending_runs(view.org.id, unique_name, frozenset({run_id}))
    # The app's own app-management policy, when readable, caps the lifetime up front; otherwise a
    # refusal by it (or by the tenant default) walks down the portal's standard lifetimes.
    policy = effective_policy(None, await session.gateway.app_secret_policy(app.id))
    desired, clamped = clamp_to_policy(view.desired, policy)
    result.notes.extend(clamped)
    new = await add_secret_within_policy(session.gateway, app.id, desired.unique_name,
                                         base_name=desired.secret_display_name,
                                         lifetime=desired.secret_lifetime, run_id=run_id, now=now,
                                         policy=policy, notes=result.notes)
    journal.changed(_secret_change("created", new.key_id))
    checks, errors = await check_app_token(session.cloud, view.org.id, app.app_id, new.secret_text, view.desired,
                                           ca_bundle=session.ca_bundle, budget_s=budget_s)
    if errors:
        await session.gateway.remove_password(app.id, new.key_id)
        journal.changed(_secret_change("deleted", new.key_id))
    _proven_or_refused("secret", checks, errors, result)
    _hand_off_secret(view, options, existing, result, new, old, credentials_path=credentials_path, now=now,
                     run_id=run_id)
    if old is None:
        result.notes.append("the credentials file held no secret of this app; no previous secret to remove")
        return result
    result.old_key_id = old.key_id
    if remove_old and is_tool_secret(old.display_name):
        await session.gateway.remove_password(app.id, old.key_id)
        journal.changed(_secret_change("deleted", old.key_id))
        result.old_removed = True
        log.info("secret.removed", key_id=old.key_id)
        remove_backups_holding(credentials_path, old.key_id, result)
        return result
    return _kept_old(result, "secret", old.key_id, remove_key_command(options, credentials_path, old.key_id),
                     remove_old=remove_old, keep_until=now + overlap if overlap else None)


def _hand_off_secret(view: TenantView, options: OnboardOptions, existing: dict[str, Any] | None,
                     result: RotateResult, new: Any, old: Any, *, credentials_path: Path, now: datetime,
                     run_id: str) -> None:
    """Back the old file up, write the new secret atomically, and only then drop the pending record."""
    app = view.actual.application
    if existing is not None:
        result.backup_path = backup_path_for(credentials_path, now)
        write_credentials(result.backup_path, existing)
    record = _rotated_record(existing, view, options, app, {
        "client_secret": new.secret_text,
        "secret_key_id": new.key_id,
        "secret_expires_at": new.end_date_time.isoformat() if new.end_date_time else None,
        "previous_secret_key_id": old.key_id if old else None,
    })
    write_credentials(credentials_path, record)
    clear_pending_runs(view.org.id, view.desired.unique_name, legacy=credentials_path,  # handed off
                       handed_off=frozenset({run_id}))
    log.info("secret.rotated", new_key_id=new.key_id, old_key_id=old.key_id if old else None)
    result.new_key_id = new.key_id
    result.new_expires_at = record["secret_expires_at"]


def refuse_removing_held_key(credentials_path: Path, key_id: str) -> None:
    """Checked before sign-in, and again after (the file may have changed meanwhile)."""
    existing = read_credentials(credentials_path)
    held = held_secret(existing)
    if held is not None and held.key_id == key_id.strip().lower():
        raise UsageError(f"secret {held.key_id} is the one {credentials_path} holds; removing it would break KODO",
                         hint="rotate first (kodo-provision rotate-secret), then remove the old key")
    # A certificate file holds its certificate by key ID (even if its key file went missing).
    if existing and existing.get("credential_type") == "certificate" \
            and str(existing.get("key_id") or "").lower() == key_id.strip().lower():
        raise UsageError(f"certificate {key_id.strip().lower()} is the one {credentials_path} holds; removing it "
                         "would break KODO",
                         hint="rotate first (kodo-provision rotate-secret), then remove the old key")


async def remove_secret_key(session: TenantSession, options: OnboardOptions, *, credentials_path: Path,
                            key_id: str) -> RotateResult:
    """Remove one secret by key ID (asked explicitly, so also one the tool did not create), but never
    the one the credentials file holds: that would break KODO at once."""
    key_id = key_id.strip().lower()
    existing = read_credentials(credentials_path)
    view = await read_view(session, options, app_roles=ROTATE_APP_ROLES)
    check_owner(credentials_path, existing, {view.org.id})
    _require_app(view, options)
    app = view.actual.application
    assert app is not None
    result = RotateResult(view.org.id, view.org.display_name, view.identity, credentials_path,
                          action="removed_key", old_key_id=key_id)
    refuse_removing_held_key(credentials_path, key_id)
    if not any(c.key_id == key_id for c in app.password_credentials):
        # A certificate by key ID (e.g. the one a certificate rotation kept): read-modify-write.
        if any(c.key_id == key_id for c in app.key_credentials) \
                and await remove_certificate(session.gateway, app.id, key_id):
            result.old_removed = True
            result.credential_type = "certificate"
            return result
        _refuse_unknown_key(key_id, existing, app)
        result.action = "nothing_to_do"
        result.notes.append(f"no secret {key_id} on the app (already removed)")
        return result
    await session.gateway.remove_password(app.id, key_id)
    result.old_removed = True
    log.info("secret.removed", key_id=key_id)
    remove_backups_holding(credentials_path, key_id, result)
    return result


def _refuse_unknown_key(key_id: str, existing: dict[str, Any] | None, app: Any) -> None:
    """A key ID the app does not have: fine when the credentials file names it as the one a rotation
    replaced (removed already, e.g. a repeated --remove-key); otherwise most likely a typo, and the user
    needs the IDs that are there."""
    replaced = {str((existing or {}).get(k) or "").lower()
                for k in ("previous_secret_key_id", "previous_certificate_key_id")}
    if key_id in replaced:
        return
    keys = [f"{c.key_id} (secret{', ' + c.display_name if c.display_name else ''})" for c in app.password_credentials]
    keys += [f"{c.key_id} (certificate)" for c in app.key_credentials]
    raise UsageError(f"the app has no secret or certificate {key_id}",
                     detail="its keys: " + ("; ".join(keys) or "none"),
                     hint="pass one of its key IDs to --remove-key (rotate-secret prints the old one's)")


def _certificate_change(action: str, key_id: str) -> dict[str, str]:
    return {"kind": f"{'add' if action == 'created' else 'remove'}_certificate", "object_type": "keyCredential",
            "object_id": key_id, "action": action}


async def _remove_interrupted_certificates(session: TenantSession, app: Any, tenant_id: str, unique_name: str,
                                          credentials_path: Path, held_key_id: str, result: RotateResult,
                                          journal: RunJournal) -> None:
    """Certificates of runs killed before their hand-off (their pending record names the run)."""
    markers = tuple(secret_marker(r) for r in read_pending_runs(tenant_id, unique_name, legacy=credentials_path))
    for cred in app.key_credentials if markers else ():
        if cred.display_name and cred.display_name.endswith(markers) and cred.key_id != held_key_id:
            await remove_certificate(session.gateway, app.id, cred.key_id)
            journal.changed(_certificate_change("deleted", cred.key_id))
            result.notes.append(f"removed certificate {cred.key_id}: an interrupted run added it but never "
                                "handed it off")


async def rotate_certificate(session: TenantSession, options: OnboardOptions, *, credentials_path: Path,
                             remove_old: bool, overlap: timedelta | None, budget_s: float,
                             now: datetime) -> RotateResult:
    """rotate-secret for a credentials file with credential_type certificate (issue 8), in the same
    order: a new key pair (private key on disk, 0600, before the upload), the public certificate
    added to keyCredentials keeping the others (apply/certificate.py), proven with a client
    assertion token, the file backed up and replaced, then (only if asked) the old one removed."""
    existing = read_credentials(credentials_path) or {}
    view = await _rotation_view(session, options, credentials_path, existing)
    with _rotation_record(session, view, options, credentials_path, now) as journal:
        result = await _rotate_certificate(session, view, options, existing, journal,
                                           credentials_path=credentials_path, budget_s=budget_s, now=now)
        return await _retire_old_certificate(session, view, options, existing, result, journal,
                                             credentials_path=credentials_path, remove_old=remove_old,
                                             overlap=overlap, now=now)


async def _rotate_certificate(session: TenantSession, view: TenantView, options: OnboardOptions,
                              existing: dict[str, Any], journal: RunJournal, *, credentials_path: Path,
                              budget_s: float, now: datetime) -> RotateResult:
    """Add and prove the new certificate, then hand it off (the credentials file names it)."""
    app = view.actual.application
    assert app is not None
    result = RotateResult(view.org.id, view.org.display_name, view.identity, credentials_path,
                          credential_type="certificate", audit_path=journal.path)
    held_key_id = str(existing.get("key_id") or "").lower()
    unique_name, run_id = view.desired.unique_name, journal.record["run_id"]
    await _remove_interrupted_certificates(session, app, view.org.id, unique_name, credentials_path, held_key_id,
                                           result, journal)
    cert = generate_certificate(view.desired.display_name, now=now, lifetime=view.desired.secret_lifetime)
    pem, _pfx = certificate_file_paths(credentials_path, cert.thumbprint)
    write_private_file(pem, cert.pem_bundle())  # the key is held before the certificate is on the app
    # The run marker in displayName says "kodo-provision made this" (like secrets, apply/secret.py), and
    # the run is recorded as pending first, so a kill before the hand-off leaves nothing unrecorded.
    mark_pending_runs(view.org.id, unique_name, frozenset({run_id}))
    added = await add_certificate_exactly_once(
        session.gateway, app.id, cert, display_name=secret_display_name(view.desired.secret_display_name, run_id))
    journal.changed(_certificate_change("created", added.key_id))
    checks, errors = await check_app_token(session.cloud, view.org.id, app.app_id, "", view.desired,
                                           ca_bundle=session.ca_bundle, budget_s=budget_s, certificate_path=str(pem))
    if errors:
        await remove_certificate(session.gateway, app.id, added.key_id)
        journal.changed(_certificate_change("deleted", added.key_id))
        pem.unlink(missing_ok=True)
    _proven_or_refused("certificate", checks, errors, result)

    result.backup_path = backup_path_for(credentials_path, now)
    write_credentials(result.backup_path, existing)
    old = _held_certificate_on_app(existing, app)
    record = _rotated_record(existing, view, options, app, {
        "credential_type": "certificate",
        "certificate_path": str(pem),
        "certificate_pfx_path": None,
        "certificate_thumbprint": added.thumbprint,
        "key_id": added.key_id,
        "certificate_expires_at": added.not_after.isoformat(),
        "previous_certificate_key_id": old.key_id if old else None,
    })
    write_credentials(credentials_path, record)
    clear_pending_runs(view.org.id, unique_name, legacy=credentials_path,  # handed off
                       handed_off=frozenset({run_id}))
    log.info("certificate.rotated", new_key_id=added.key_id, old_key_id=old.key_id if old else None)
    result.new_key_id, result.new_expires_at = added.key_id, record["certificate_expires_at"]
    result.certificate_thumbprint = added.thumbprint
    if existing.get("certificate_pfx_path"):
        result.notes.append("no PFX was written for the new certificate (rotate-secret takes no PFX password); "
                            f"KODO can use the PEM {pem}")
    return result


def _held_certificate_on_app(existing: dict[str, Any], app: Any) -> Any:
    """The certificate the credentials file held, as the app lists it (None if the app has it no more)."""
    held_key_id = str(existing.get("key_id") or "").lower()
    held_client = str(existing.get("client_id") or "").lower()
    return next((c for c in app.key_credentials if held_key_id and c.key_id == held_key_id
                 and held_client in ("", app.app_id)), None)


async def _retire_old_certificate(session: TenantSession, view: TenantView, options: OnboardOptions,
                                  existing: dict[str, Any], result: RotateResult, journal: RunJournal, *,
                                  credentials_path: Path, remove_old: bool, overlap: timedelta | None,
                                  now: datetime) -> RotateResult:
    """Remove the previous certificate when asked (and only if the tool made it); else say how."""
    app = view.actual.application
    assert app is not None  # _require_app checked it
    old = _held_certificate_on_app(existing, app)
    if held_certificate(existing) is None and old is not None:
        result.notes.append(f"the private key of certificate {old.key_id} is missing "
                            f"({existing.get('certificate_path')}); the new certificate replaces it")
    if old is None:
        result.notes.append("the credentials file held no certificate of this app; no previous certificate to remove")
        return result
    result.old_key_id = old.key_id
    if remove_old and is_tool_certificate(old.display_name, view.desired.secret_display_name):
        if await remove_certificate(session.gateway, app.id, old.key_id):
            journal.changed(_certificate_change("deleted", old.key_id))
            result.old_removed = True
        return result
    return _kept_old(result, "certificate", old.key_id, remove_key_command(options, credentials_path, old.key_id),
                     remove_old=remove_old, keep_until=now + overlap if overlap else None)
