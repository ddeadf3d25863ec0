"""`offboard`: remove everything the KODO app holds in a tenant, after showing the plan.

Idempotent (level-based like onboarding): the plan is computed from what the tenant holds now,
so a second run, or a run after an interruption, does only what is left.
"""

from __future__ import annotations

import secrets as pysecrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import environment
from ..apply.revoke import apply_revoke
from ..errors import UsageError
from ..graph.gateway import GraphGateway
from ..graph.lifecycle_ops import (
    delete_application,
    delete_service_principal,
    deleted_applications,
    purge_deleted_item,
)
from ..manifest.identity import TOOL_TAG, is_tool_app
from ..output.logging import get_logger
from ..plan.model import (
    DeleteApplication,
    DeleteServicePrincipal,
    Plan,
    PurgeApplication,
    RemovePartnerConsent,
    RevokeAppRole,
    RevokeDelegated,
    Step,
)
from ..plan.offboard import offboard_plan
from .common import OFFBOARD_APP_ROLES, AppIdentity, TenantView, begin_record, read_view, recorded
from .journal import settle_abandoned_runs
from .options import OnboardOptions
from .session import TenantSession

log = get_logger("kodo_provision.offboard")


@dataclass
class OffboardUI:
    show_plan: Callable[[Plan, TenantView], None] = lambda plan, view: None
    confirm: Callable[[Plan, TenantView], bool] = lambda plan, view: True
    on_step: Callable[[Step, str], None] = lambda step, status: None


@dataclass
class OffboardResult:
    tenant_id: str
    tenant_name: str
    app: AppIdentity
    plan: Plan
    status: str = "planned"  # nothing_to_do | offboarded
    applied: list[str] = field(default_factory=list)
    already_gone: list[str] = field(default_factory=list)
    audit_path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "status": self.status,
            "tenant_id": self.tenant_id,
            "tenant_name": self.tenant_name,
            "app": self.app.to_dict(),
            "plan": self.plan.to_dict(),
            "applied": self.applied,
            "already_gone": self.already_gone,
            "audit_file": str(self.audit_path) if self.audit_path else None,
        }


async def _apply_step(gateway: GraphGateway, step: Step, client_sp_id: str | None, deleted_now: set[str]) -> bool:
    if isinstance(step, RevokeAppRole | RevokeDelegated):
        assert client_sp_id is not None
        return await apply_revoke(gateway, step, client_sp_id)
    if isinstance(step, DeleteServicePrincipal | RemovePartnerConsent):
        return await delete_service_principal(gateway, step.service_principal_id)
    if isinstance(step, DeleteApplication):
        gone = await delete_application(gateway, step.object_id)
        deleted_now.add(step.object_id)
        return gone
    if isinstance(step, PurgeApplication):
        return await purge_deleted_item(gateway, step.object_id, just_deleted=step.object_id in deleted_now)
    raise AssertionError(f"not an offboarding step: {step!r}")  # pragma: no cover


async def _partner_consents(gateway: GraphGateway, app_ids: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(service principal id, appId) of the partner sign-in apps consented in this tenant."""
    found = [await gateway.service_principal(app_id) for app_id in app_ids]
    return tuple((sp.id, sp.app_id) for sp in found if sp is not None)


async def offboard_tenant(session: TenantSession, options: OnboardOptions, *, purge: bool,
                          ui: OffboardUI | None = None, plan_only: bool = False,
                          partner_app_ids: tuple[str, ...] = (), remove_partner_consent: bool = False
                          ) -> OffboardResult:
    """Remove what the KODO app holds; `partner_app_ids`: the CSP partner sign-in apps the tool knows,
    reported when consented here and removed with `remove_partner_consent`."""
    ui = ui or OffboardUI()
    view = await read_view(session, options, app_roles=OFFBOARD_APP_ROLES)
    app = view.actual.application
    if app is not None and not is_tool_app(app.tags):
        raise UsageError(f"the app with uniqueName {view.desired.unique_name} ({app.app_id}) is not tagged "
                         f"{TOOL_TAG}; refusing to delete an app kodo-provision did not create",
                         hint="delete it in the Entra admin center if it is yours, or check --app-name")
    deleted: tuple[tuple[str, str], ...] = ()
    if purge and app is None:
        deleted = tuple((d.id, d.display_name) for d in await deleted_applications(session.gateway,
                                                                                   view.desired.unique_name))
    partner = await _partner_consents(session.gateway, partner_app_ids)
    plan = offboard_plan(view.actual, view.desired.unique_name, purge=purge, deleted=deleted,
                         partner_consents=partner, remove_partner_consents=remove_partner_consent,
                         desired=view.desired)
    result = OffboardResult(view.org.id, view.org.display_name, view.identity, plan)
    run_id = pysecrets.token_hex(4)
    if not plan_only:  # even with nothing left to do: an earlier run may have been killed at its last step
        settle_abandoned_runs(run_id)
    if plan.is_empty:
        result.status = "nothing_to_do"
        return result
    if plan_only:
        return result
    ui.show_plan(plan, view)
    if not ui.confirm(plan, view):
        raise UsageError("cancelled; nothing was changed", hint="answer 'y' or pass --yes to offboard")
    sp_id = view.actual.service_principal.id if view.actual.service_principal else None
    deleted_now: set[str] = set()
    with recorded(begin_record(session, view, options, command="offboard", run_id=run_id,
                               started=environment.clock().now(), near=options.credentials_path)) as journal:
        for step in plan.steps:
            done = await _apply_step(session.gateway, step, sp_id, deleted_now)
            (result.applied if done else result.already_gone).append(step.describe())
            if done:
                journal.changed({"kind": step.kind, "description": step.describe(), "action": "deleted"})
            log.info("step.applied", step=step.kind, description=step.describe(), created=done)
            ui.on_step(step, "done" if done else "already gone")
    result.status = "offboarded"
    result.audit_path = journal.path
    return result
