"""Execute a plan's steps in order. Each step is idempotent on its own (upsert, adopt an
existing SP, treat "already granted" as done), so a re-run after a crash converges."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from ..errors import InsufficientPrivilegesError, ProvisioningError
from ..graph.errors import GraphForbidden
from ..graph.gateway import GraphGateway, NewSecret
from ..manifest.resolve import DesiredState
from ..plan.model import (
    AddSecret,
    CreateResourceServicePrincipal,
    CreateServicePrincipal,
    GrantAppRole,
    GrantDelegated,
    Plan,
    Step,
    UpsertApplication,
)
from ..state.model import Application, ServicePrincipal, TenantState
from .secret import add_secret_exactly_once

log = structlog.get_logger("kodo_provision.apply")
# Writes within one tenant share its throttling budget; keep their fan-out small.
# https://learn.microsoft.com/en-us/graph/throttling-limits
TENANT_WRITE_CONCURRENCY = 4


@dataclass
class ApplyOutcome:
    """What apply did; the new secret (if any) lives only here and in the credentials file."""

    application: Application | None
    service_principal: ServicePrincipal | None
    new_secret: NewSecret | None = None
    done: list[Step] = field(default_factory=list)
    already_present: list[Step] = field(default_factory=list)
    created_resources: list[str] = field(default_factory=list)


async def apply_plan(gateway: GraphGateway, plan: Plan, desired: DesiredState, actual: TenantState, *,
                     run_id: str, now: datetime,
                     on_step: Callable[[Step, str], None] | None = None) -> ApplyOutcome:
    """Apply `plan` to the tenant; raises ProvisioningError (or a subclass) on failure."""
    outcome = ApplyOutcome(actual.application, actual.service_principal)
    report = on_step or (lambda step, status: None)

    def done(step: Step, created: bool = True) -> None:
        (outcome.done if created else outcome.already_present).append(step)
        report(step, "done" if created else "already present")
        log.info("step.applied", step=step.kind, description=step.describe(), created=created)

    # The app comes first: it is the write most likely to be refused (creating app
    # registrations is a separate right from consenting), so a refusal changes nothing.
    for step in plan.of_kind(UpsertApplication):
        try:
            outcome.application = await gateway.upsert_application(
                desired.unique_name, display_name=desired.display_name,
                sign_in_audience=desired.sign_in_audience, required=desired.required_resource_access,
                tags=tuple(sorted(set(desired.tags) | set(actual.application.tags if actual.application else ()))))
        except GraphForbidden as exc:
            raise InsufficientPrivilegesError(
                "you may not create or change app registrations in this tenant", detail=exc.detail,
                hint="sign in as a Global Administrator, or add Application Administrator, Cloud Application "
                     "Administrator or Application Developer to your roles") from None
        done(step)

    for step in plan.of_kind(CreateResourceServicePrincipal):
        assert isinstance(step, CreateResourceServicePrincipal)
        await gateway.create_resource_service_principal(step.resource_app_id)
        outcome.created_resources.append(step.resource_app_id)
        done(step)
    app = outcome.application
    if app is None:
        raise ProvisioningError("the app registration is missing after apply",
                                hint="run again; if it persists, report it with --log-level info")

    for step in plan.of_kind(CreateServicePrincipal):
        outcome.service_principal = await gateway.create_service_principal(app.app_id)
        done(step)
    sp = outcome.service_principal
    if sp is None:
        raise ProvisioningError("the app's service principal is missing after apply")

    limit = asyncio.Semaphore(TENANT_WRITE_CONCURRENCY)

    async def grant(step: Step) -> None:
        async with limit:
            if isinstance(step, GrantAppRole):
                created = await gateway.assign_app_role(principal_id=sp.id, resource_id=step.resource_sp_id,
                                                        app_role_id=step.app_role_id)
                done(step, created)
            elif isinstance(step, GrantDelegated):
                await gateway.create_or_update_grant(client_id=sp.id, resource_id=step.resource_sp_id,
                                                     scopes=step.scopes, grant_id=step.grant_id)
                done(step)

    await asyncio.gather(*(grant(s) for s in plan.steps if isinstance(s, GrantAppRole | GrantDelegated)))

    for step in plan.of_kind(AddSecret):
        assert isinstance(step, AddSecret)
        outcome.new_secret = await add_secret_exactly_once(
            gateway, app.id, desired.unique_name, base_name=step.display_name,
            lifetime=desired.secret_lifetime, run_id=run_id, now=now)
        done(step)
    return outcome
