"""Execute a plan's steps in order. Each step is idempotent on its own (upsert, adopt an
existing SP, treat "already granted" as done), so a re-run after a crash converges."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import structlog

from ..certificate import GeneratedCertificate
from ..errors import InsufficientPrivilegesError, ProvisioningError, UsageError
from ..graph.batched import BatchedReads, DelegatedGrant, RoleGrant
from ..graph.errors import GraphBadRequest, GraphForbidden
from ..graph.gateway import GraphGateway, NewSecret
from ..identity import merged_tags
from ..manifest.resolve import DesiredState
from ..plan.model import (
    AddCertificate,
    AddSecret,
    CreateResourceServicePrincipal,
    CreateServicePrincipal,
    GrantAppRole,
    GrantDelegated,
    Plan,
    RemoveOrphanCertificate,
    RemoveOrphanSecret,
    Step,
    UpsertApplication,
)
from ..state.model import Application, ServicePrincipal, TenantState
from ..state.policy import SecretPolicy
from .certificate import AddedCertificate, add_certificate_exactly_once, remove_certificate
from .secret import secret_display_name
from .secret_policy import add_secret_within_policy

log = structlog.get_logger("kodo_provision.apply")


@dataclass
class ApplyOutcome:
    """What apply did; the new secret (if any) lives only here and in the credentials file."""

    application: Application | None
    service_principal: ServicePrincipal | None
    new_secret: NewSecret | None = None
    done: list[Step] = field(default_factory=list)
    already_present: list[Step] = field(default_factory=list)
    created_resources: list[str] = field(default_factory=list)
    # Warnings for the result (e.g. the secret lifetime shortened by the tenant's policy).
    notes: list[str] = field(default_factory=list)
    # --credential certificate: the certificate uploaded (its private key is only in local files).
    new_certificate: AddedCertificate | None = None


async def apply_plan(gateway: GraphGateway, plan: Plan, desired: DesiredState, actual: TenantState, *,
                     run_id: str, now: datetime,
                     on_step: Callable[[Step, str], None] | None = None,
                     on_secret: Callable[[ApplyOutcome], None] | None = None,
                     secret_policy: SecretPolicy | None = None,
                     make_certificate: Callable[[], GeneratedCertificate] | None = None) -> ApplyOutcome:
    """Apply `plan` to the tenant; raises ProvisioningError (or a subclass) on failure.
    `make_certificate` (for an AddCertificate step) generates the key pair and stores the private
    key locally; it runs before the upload, so no certificate is on the app without its key held."""
    outcome = ApplyOutcome(actual.application, actual.service_principal)
    report = on_step or (lambda step, status: None)

    def done(step: Step, created: bool = True) -> None:
        (outcome.done if created else outcome.already_present).append(step)
        report(step, "done" if created else "already present")
        log.info("step.applied", step=step.kind, description=step.describe(), created=created)

    # Missing first-party resource SPs first: a manifest naming an API that Graph cannot
    # instantiate fails here, before the tenant holds anything of ours.
    for step in plan.of_kind(CreateResourceServicePrincipal):
        assert isinstance(step, CreateResourceServicePrincipal)
        try:
            await gateway.create_resource_service_principal(step.resource_app_id)
        except GraphBadRequest as exc:
            raise UsageError(
                f"resource API {step.resource_name} ({step.resource_app_id}) has no service principal in this "
                "tenant and Graph cannot create one", detail=exc.detail,
                hint="check the app_id in the manifest; for a Microsoft API the tenant may need its licence "
                     "(e.g. Exchange Online)") from None
        outcome.created_resources.append(step.resource_app_id)
        done(step)

    # Then the app: the write most likely to be refused (creating app registrations is a
    # separate right from consenting), so a refusal changes nothing of ours.
    for step in plan.of_kind(UpsertApplication):
        try:
            outcome.application = await gateway.upsert_application(
                desired.unique_name, display_name=desired.display_name,
                sign_in_audience=desired.sign_in_audience, required=desired.required_resource_access,
                public_client=desired.public_client,
                tags=merged_tags(desired.tags, actual.application.tags if actual.application else ()))
        except GraphForbidden as exc:
            raise InsufficientPrivilegesError(
                "you may not create or change app registrations in this tenant", detail=exc.detail,
                hint="sign in as a Global Administrator, or add Application Administrator, Cloud Application "
                     "Administrator or Application Developer to your roles") from None
        done(step)

    app = outcome.application
    if app is None:
        raise ProvisioningError("the app registration is missing after apply",
                                hint="run again; if it persists, report it with --log-level info")

    # Orphans of interrupted runs go before the new secret, so at most one stays unheld.
    for step in plan.of_kind(RemoveOrphanSecret):
        assert isinstance(step, RemoveOrphanSecret)
        await gateway.remove_password(app.id, step.key_id)
        done(step)
    for step in plan.of_kind(RemoveOrphanCertificate):
        assert isinstance(step, RemoveOrphanCertificate)
        done(step, await remove_certificate(gateway, app.id, step.key_id))

    # The SP and the secret do not depend on each other: one round trip for both. The secret
    # is handed off (written to the credentials file) even if the SP creation failed.
    async def create_sp() -> None:
        for step in plan.of_kind(CreateServicePrincipal):
            outcome.service_principal = await gateway.create_service_principal(app.app_id)
            done(step)

    async def add_secret() -> None:
        for step in plan.of_kind(AddSecret):
            assert isinstance(step, AddSecret)
            outcome.new_secret = await add_secret_within_policy(
                gateway, app.id, desired.unique_name, base_name=step.display_name,
                lifetime=desired.secret_lifetime, run_id=run_id, now=now, policy=secret_policy,
                notes=outcome.notes)
            done(step)

    async def add_certificate() -> None:
        for step in plan.of_kind(AddCertificate):
            assert isinstance(step, AddCertificate)
            if make_certificate is None:
                raise ProvisioningError("the plan adds a certificate but none can be made here")
            # The run marker names it, so a run killed before its hand-off leaves a certificate the
            # next run can tell from the others (onboarding's pending record names the run).
            outcome.new_certificate = await add_certificate_exactly_once(
                gateway, app.id, make_certificate(), display_name=secret_display_name(step.display_name, run_id))
            done(step)

    results = await asyncio.gather(create_sp(), add_secret(), add_certificate(), return_exceptions=True)
    if (outcome.new_secret is not None or outcome.new_certificate is not None) and on_secret is not None:
        on_secret(outcome)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    sp = outcome.service_principal
    if sp is None:
        raise ProvisioningError("the app's service principal is missing after apply")

    grants = [s for s in plan.steps if isinstance(s, GrantAppRole | GrantDelegated)]
    if grants:
        roles = [s for s in grants if isinstance(s, GrantAppRole)]
        delegated = [s for s in grants if isinstance(s, GrantDelegated)]
        created, _ids = await BatchedReads(gateway).grant_all(
            sp.id, [RoleGrant(s.resource_sp_id, s.app_role_id) for s in roles],
            [DelegatedGrant(s.resource_sp_id, s.scopes, s.grant_id) for s in delegated])
        for step, was_created in zip(roles, created, strict=True):
            done(step, was_created)
        for step in delegated:
            done(step)
    return outcome
