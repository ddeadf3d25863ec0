"""The pure offboarding plan: everything the KODO app holds in a tenant, in removal order.

Grants and assignments first (each removal is visible in the audit log on its own, and a run
interrupted half-way leaves an app without access rather than access without an app), then the
service principal, then the app registration (soft delete), then with purge the deleted item.
"""

from __future__ import annotations

from ..manifest.resolve import DesiredState
from ..state.model import TenantState
from .diff import ALL_PRINCIPALS, assignment_names, resource_names
from .model import (
    DeleteApplication,
    DeleteServicePrincipal,
    Plan,
    PurgeApplication,
    RemovePartnerConsent,
    RevokeAppRole,
    RevokeDelegated,
    Step,
)


def offboard_plan(actual: TenantState, unique_name: str, *, purge: bool,
                  deleted: tuple[tuple[str, str], ...] = (), partner_consents: tuple[tuple[str, str], ...] = (),
                  remove_partner_consents: bool = False, desired: DesiredState | None = None) -> Plan:
    """`deleted`: (object id, display name) of our app(s) already in deleted items; `partner_consents`:
    (service principal id, appId) of a partner sign-in app the tool consented here, removed when asked."""
    steps: list[Step] = []
    app, sp = actual.application, actual.service_principal
    names = resource_names(actual, desired)  # the manifest's names where it lists the API
    if app is not None and sp is not None:
        for g in sorted(actual.grants, key=lambda g: (g.resource_id, g.id)):
            steps.append(RevokeDelegated(g.id, names.get(g.resource_id, g.resource_id), g.resource_id,
                                         tuple(sorted(g.scopes)), ()))
        for a in sorted(actual.app_role_assignments, key=lambda a: (a.resource_id, a.app_role_id, a.id)):
            resource_name, permission_name = assignment_names(actual, a.resource_id, a.app_role_id, names)
            steps.append(RevokeAppRole(a.id, resource_name, a.resource_id, a.app_role_id, permission_name))
        steps.append(DeleteServicePrincipal(sp.id, sp.app_id))
    if app is not None:
        steps.append(DeleteApplication(app.id, app.app_id, app.display_name, unique_name))
        if purge:
            steps.append(PurgeApplication(app.id, app.display_name))
    elif purge:
        steps += [PurgeApplication(object_id, name) for object_id, name in deleted]
    notes = []
    for sp_id, app_id in partner_consents:
        if remove_partner_consents:
            steps.append(RemovePartnerConsent(sp_id, app_id))
        else:
            notes.append(f"the partner sign-in app {app_id} is still consented here (Partner Center); "
                         "--partner-consent removes it")
    if not purge and app is not None:
        notes.append("the app stays 30 days in deleted items (restorable); --purge removes it for good")
    others = [g for g in actual.grants if g.consent_type != ALL_PRINCIPALS]
    if others:
        notes.append(f"{len(others)} user consent grant(s) are removed too")
    return Plan(tuple(steps), tuple(notes))
