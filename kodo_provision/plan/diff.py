"""The pure diff: desired state x actual state -> plan. No I/O, no clock reads."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

from ..manifest.identity import SECRET_MARKER_PREFIX, merged_tags, secret_marker
from ..manifest.resolve import DesiredState
from ..state.model import Application, HeldCertificate, HeldSecret, TenantState
from .model import (
    AddCertificate,
    AddSecret,
    CreateResourceServicePrincipal,
    CreateServicePrincipal,
    GrantAppRole,
    GrantDelegated,
    Plan,
    RemoveOrphanCertificate,
    RemoveOrphanSecret,
    RevokeAppRole,
    RevokeDelegated,
    Step,
    UpsertApplication,
)

ALL_PRINCIPALS = "AllPrincipals"
DEFAULT_RENEW_BEFORE = timedelta(days=30)


def _application_changes(desired: DesiredState, app: Application) -> tuple[str, ...]:
    changed = []
    if app.display_name != desired.display_name:
        changed.append("displayName")
    if app.required_resource_access != desired.required_resource_access:
        changed.append("requiredResourceAccess")
    if app.sign_in_audience != desired.sign_in_audience:
        changed.append("signInAudience")
    # Also when the app still records an older manifest version (identity.merged_tags replaces it).
    if set(merged_tags(desired.tags, app.tags)) != set(app.tags):
        changed.append("tags")
    if not app.service_principal_locked:
        changed.append("servicePrincipalLockConfiguration")
    if app.is_fallback_public_client != desired.public_client:
        changed.append("isFallbackPublicClient")
    return tuple(changed)


def secret_reason(app: Application | None, held: HeldSecret | None, now: datetime,
                  renew_before: timedelta) -> str | None:
    """Why a new secret is needed, or None when the held one is good."""
    if app is None:
        return "new app"
    if held is None:
        return "no secret for this app is held in the credentials file"
    if held.client_id != app.app_id:
        return "the credentials file holds a secret of another app"
    on_app = next((c for c in app.password_credentials if c.key_id == held.key_id), None)
    if on_app is None:
        return "the held secret no longer exists on the app"
    expires = on_app.end_date_time or held.expires_at
    if expires is not None and expires - now <= renew_before:
        return f"the held secret expires {expires:%Y-%m-%d}"
    return None


def certificate_reason(app: Application | None, held: HeldCertificate | None, now: datetime,
                       renew_before: timedelta) -> str | None:
    """Why a new certificate is needed, or None when the held one is good. The held certificate
    is found on the app by key ID, or by thumbprint (customKeyIdentifier, base64 SHA-1)."""
    if app is None:
        return "new app"
    if held is None:
        return "no certificate for this app is held in the credentials file"
    if held.client_id != app.app_id:
        return "the credentials file holds a certificate of another app"
    on_app = next((c for c in app.key_credentials if c.key_id == held.key_id
                   or _thumbprint_hex(c.custom_key_identifier) == held.thumbprint), None)
    if on_app is None:
        return "the held certificate no longer exists on the app"
    expires = on_app.end_date_time or held.expires_at
    if expires is not None and expires - now <= renew_before:
        return f"the held certificate expires {expires:%Y-%m-%d}"
    return None


def _thumbprint_hex(custom_key_identifier: str | None) -> str | None:
    """customKeyIdentifier (base64 of the SHA-1 thumbprint) as upper-case hex; None if not that."""
    if not custom_key_identifier:
        return None
    try:
        return base64.b64decode(custom_key_identifier, validate=True).hex().upper()
    except ValueError:
        return None


def resource_names(actual: TenantState, desired: DesiredState | None = None) -> dict[str, str]:
    """Resource service principal ID -> the one name the tool shows for that API: the manifest's where it
    lists the API (plan, verify, offboard and lint then agree), else the tenant's display name."""
    names = {rsp.id: rsp.display_name for rsp in actual.resource_service_principals.values()}
    names |= {r.sp.id: r.name for r in (desired.resources if desired else ()) if r.sp}
    return names


def assignment_names(actual: TenantState, resource_sp_id: str, app_role_id: str,
                     names: dict[str, str] | None = None) -> tuple[str, str]:
    """(resource name, permission name) for an assignment, falling back to IDs when unknown."""
    for rsp in actual.resource_service_principals.values():
        if rsp.id == resource_sp_id:
            role = next((r.value for r in rsp.app_roles if r.id == app_role_id), app_role_id)
            return (names or {}).get(rsp.id, rsp.display_name), role
    return resource_sp_id, app_role_id


def extra_permissions(desired: DesiredState, actual: TenantState
                      ) -> tuple[tuple[RevokeAppRole, ...], tuple[RevokeDelegated, ...]]:
    """Drift the other way: what the KODO service principal holds that the manifest does not list.
    Only AllPrincipals grants count; a user's own consent (consentType Principal) is theirs."""
    if actual.application is None or actual.service_principal is None:
        return (), ()
    wanted_roles = {(r.sp.id, p.id) for r in desired.resources if r.sp for p in r.application}
    names = resource_names(actual, desired)
    roles: list[RevokeAppRole] = []
    for a in sorted(actual.app_role_assignments, key=lambda a: (a.resource_id, a.app_role_id, a.id)):
        if (a.resource_id, a.app_role_id) not in wanted_roles:
            resource_name, permission_name = assignment_names(actual, a.resource_id, a.app_role_id, names)
            roles.append(RevokeAppRole(a.id, resource_name, a.resource_id, a.app_role_id, permission_name))
    wanted_scopes = {r.sp.id: {p.name for p in r.delegated} for r in desired.resources if r.sp}
    grants: list[RevokeDelegated] = []
    for g in sorted(actual.grants, key=lambda g: (g.resource_id, g.id)):
        if g.consent_type != ALL_PRINCIPALS:
            continue
        wanted = wanted_scopes.get(g.resource_id, set())
        extra = tuple(sorted(g.scopes - wanted))
        if extra:
            grants.append(RevokeDelegated(g.id, names.get(g.resource_id, g.resource_id), g.resource_id, extra,
                                          tuple(sorted(g.scopes & wanted))))
    return tuple(roles), tuple(grants)


def diff(desired: DesiredState, actual: TenantState, *, held_secret: HeldSecret | None,
         now: datetime, renew_before: timedelta = DEFAULT_RENEW_BEFORE, prune: bool = False,
         interrupted_runs: frozenset[str] = frozenset(),
         held_certificate: HeldCertificate | None = None) -> Plan:
    """Every step needed to make `actual` match `desired`, in dependency order.

    Permissions the tenant holds beyond the manifest are reported as notes, and become
    revoke steps only with `prune` (nothing is taken away unless asked)."""
    steps: list[Step] = [CreateResourceServicePrincipal(
        r.app_id, r.name, tuple([*r.pending_application, *r.pending_delegated]))
        for r in desired.resources if r.sp is None]
    app = actual.application
    if app is None:
        steps.append(UpsertApplication(desired.unique_name, desired.display_name, create=True))
    elif changes := _application_changes(desired, app):
        steps.append(UpsertApplication(desired.unique_name, desired.display_name, create=False,
                                       changed_fields=changes))
    sp = actual.service_principal if app is not None else None
    if sp is None:
        steps.append(CreateServicePrincipal())
    extra_roles, extra_grants = extra_permissions(desired, actual) if sp else ((), ())
    permission_steps, pruned_in_update = _permission_steps(desired, actual if sp else None, prune)
    steps += permission_steps
    if prune:
        steps.extend(extra_roles)
        steps.extend(g for g in extra_grants if g.grant_id not in pruned_in_update)
    steps += _orphan_steps(app, interrupted_runs, held_secret, held_certificate)
    steps += _credential_steps(desired, app, held_secret, held_certificate, now, renew_before)
    notes: list[str] = []
    if not prune:
        notes += [f"not in the manifest (kept; `onboard --prune` revokes it): application permission "
                  f"{r.resource_name} / {r.permission_name}" for r in extra_roles]
        notes += [f"not in the manifest (kept; `onboard --prune` revokes it): delegated "
                  f"{g.resource_name} / {' '.join(g.removed)}" for g in extra_grants]
    if actual.duplicate_applications:
        notes.append(f"{len(actual.duplicate_applications)} other app(s) named {desired.display_name!r} "
                     "exist without KODO's uniqueName; they are left alone")
    notes += unheld_credentials_note(app, steps, held_secret, held_certificate)
    return Plan(tuple(steps), tuple(notes))


def _permission_steps(desired: DesiredState, actual: TenantState | None, prune: bool
                      ) -> tuple[list[Step], set[str]]:
    """Missing app role assignments and delegated scopes (`actual` None: no service principal yet, so
    everything is missing); with `prune`, the grant ids whose update also drops scopes."""
    assigned = {(a.resource_id, a.app_role_id) for a in actual.app_role_assignments} if actual else set()
    grants = {g.resource_id: g for g in actual.grants if g.consent_type == ALL_PRINCIPALS} if actual else {}
    steps: list[Step] = []
    pruned_in_update: set[str] = set()
    for resource in (r for r in desired.resources if r.sp is not None):
        assert resource.sp is not None
        steps += [GrantAppRole(resource.name, resource.app_id, resource.sp.id, perm.id, perm.name)
                  for perm in resource.application if (resource.sp.id, perm.id) not in assigned]
        wanted = tuple(p.name for p in resource.delegated)
        grant = grants.get(resource.sp.id)
        have = grant.scopes if grant else frozenset()
        missing = tuple(s for s in wanted if s not in have)
        if not missing:
            continue
        merged, removed = tuple(sorted(have | set(wanted))), tuple[str, ...]()
        if prune and grant is not None:
            # One PATCH both adds and drops scopes (two concurrent updates would race).
            removed, merged = tuple(sorted(have - set(wanted))), tuple(sorted(set(wanted)))
            pruned_in_update.add(grant.id)
        steps.append(GrantDelegated(resource.name, resource.app_id, resource.sp.id, merged, missing,
                                    grant.id if grant else None, removed))
    return steps, pruned_in_update


def _orphan_steps(app: Application | None, interrupted_runs: frozenset[str], held_secret: HeldSecret | None,
                  held_certificate: HeldCertificate | None) -> list[Step]:
    """Credentials that interrupted runs added (their marker) and never handed off."""
    if app is None or not interrupted_runs:
        return []
    markers = tuple(secret_marker(run) for run in interrupted_runs)
    steps: list[Step] = [RemoveOrphanSecret(c.key_id, c.display_name or "") for c in app.password_credentials
                         if any(m in (c.display_name or "") for m in markers)
                         and (held_secret is None or c.key_id != held_secret.key_id)]
    steps += [RemoveOrphanCertificate(c.key_id, c.display_name or "") for c in app.key_credentials
              if any(m in (c.display_name or "") for m in markers)
              and (held_certificate is None or c.key_id != held_certificate.key_id)]
    return steps


def _credential_steps(desired: DesiredState, app: Application | None, held_secret: HeldSecret | None,
                      held_certificate: HeldCertificate | None, now: datetime, renew_before: timedelta
                      ) -> list[Step]:
    """A new secret or certificate when none is held or the held one is due for renewal."""
    # A short-lived secret (a tenant policy may cap lifetimes at 30 days or less) would be
    # "about to expire" the moment it is created; renew it at half its life instead.
    renew = min(renew_before, desired.secret_lifetime / 2)
    if desired.credential_type == "none":
        return []  # a sign-in client only: no credential of its own
    if desired.credential_type == "certificate":
        reason = certificate_reason(app, held_certificate, now, renew)
        return [AddCertificate(desired.secret_display_name, desired.secret_lifetime.days, reason)] if reason else []
    reason = secret_reason(app, held_secret, now, renew)
    return [AddSecret(desired.secret_display_name, desired.secret_lifetime.days, reason)] if reason else []


def unheld_credentials_note(app: Application | None, steps: list[Step], held_secret: HeldSecret | None,
                            held_certificate: HeldCertificate | None) -> list[str]:
    """Credentials kodo-provision made (run marker) that this credentials file does not hold and the
    plan does not remove: reported, never removed on a guess (KODO may use one from another file)."""
    if app is None:
        return []
    known = {h.key_id for h in (held_secret, held_certificate) if h is not None}
    known |= {s.key_id for s in steps if isinstance(s, RemoveOrphanSecret | RemoveOrphanCertificate)}
    credentials = [(c.key_id, c.display_name) for c in app.password_credentials] + \
        [(c.key_id, c.display_name) for c in app.key_credentials]
    unheld = [key_id for key_id, name in credentials if SECRET_MARKER_PREFIX in (name or "") and key_id not in known]
    if not unheld:
        return []
    return [f"{len(unheld)} credential(s) made by kodo-provision are not held by this credentials file: "
            f"{', '.join(unheld)} (a rotation's previous one, another credentials file, or a run interrupted "
            "before its hand-off); once nothing uses one: kodo-provision rotate-secret --remove-key ID"]
