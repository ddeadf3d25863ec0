"""Execute a plan's steps in order. Each step is idempotent on its own (upsert, adopt an
existing SP, treat "already granted" as done), so a re-run after a crash converges."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from ..credentials.certificate import GeneratedCertificate
from ..errors import InsufficientPrivilegesError, ProvisioningError, UsageError
from ..graph.batched import BatchedReads, DelegatedGrant, RoleGrant
from ..graph.errors import GraphBadRequest, GraphForbidden
from ..graph.gateway import GraphGateway, NewSecret
from ..manifest.identity import merged_tags
from ..manifest.resolve import DesiredState
from ..output.logging import get_logger
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

log = get_logger("kodo_provision.apply")


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
    run = _Apply(gateway, plan, desired, actual, run_id, now, on_step or (lambda step, status: None),
                 secret_policy, make_certificate)
    # Missing first-party resource SPs first: a manifest naming an API that Graph cannot
    # instantiate fails here, before the tenant holds anything of ours.
    await run.resource_service_principals()
    # Then the app: the write most likely to be refused (creating app registrations is a
    # separate right from consenting), so a refusal changes nothing of ours.
    app = await run.application()
    # Orphans of interrupted runs go before the new secret, so at most one stays unheld.
    await run.orphans(app)
    sp = await run.service_principal_and_credential(app, on_secret)
    await run.grants(sp)
    return run.outcome


@dataclass
class _Apply:
    """One apply: the plan's steps in dependency order, each reported as it completes."""

    gateway: GraphGateway
    plan: Plan
    desired: DesiredState
    actual: TenantState
    run_id: str
    now: datetime
    report: Callable[[Step, str], None]
    secret_policy: SecretPolicy | None
    make_certificate: Callable[[], GeneratedCertificate] | None
    outcome: ApplyOutcome = field(init=False)

    def __post_init__(self) -> None:
        self.outcome = ApplyOutcome(self.actual.application, self.actual.service_principal)

    def done(self, step: Step, created: bool = True) -> None:
        (self.outcome.done if created else self.outcome.already_present).append(step)
        self.report(step, "done" if created else "already present")
        log.info("step.applied", step=step.kind, description=step.describe(), created=created)

    async def resource_service_principals(self) -> None:
        for step in self.plan.of_kind(CreateResourceServicePrincipal):
            assert isinstance(step, CreateResourceServicePrincipal)
            try:
                await self.gateway.create_resource_service_principal(step.resource_app_id)
            except GraphBadRequest as exc:
                raise UsageError(
                    f"resource API {step.resource_name} ({step.resource_app_id}) has no service principal in this "
                    "tenant and Graph cannot create one", detail=exc.detail,
                    hint="check the app_id in the manifest; for a Microsoft API the tenant may need its licence "
                         "(e.g. Exchange Online)") from None
            self.outcome.created_resources.append(step.resource_app_id)
            self.done(step)

    async def application(self) -> Application:
        desired, actual = self.desired, self.actual
        for step in self.plan.of_kind(UpsertApplication):
            try:
                self.outcome.application = await self.gateway.upsert_application(
                    desired.unique_name, display_name=desired.display_name,
                    sign_in_audience=desired.sign_in_audience, required=desired.required_resource_access,
                    public_client=desired.public_client,
                    tags=merged_tags(desired.tags, actual.application.tags if actual.application else ()))
            except GraphForbidden as exc:
                raise InsufficientPrivilegesError(
                    "you may not create or change app registrations in this tenant", detail=exc.detail,
                    hint="sign in as a Global Administrator, or add Application Administrator, Cloud Application "
                         "Administrator or Application Developer to your roles") from None
            self.done(step)
        if self.outcome.application is None:
            raise ProvisioningError("the app registration is missing after apply",
                                    hint="run again; if it persists, report it with --log-level info")
        return self.outcome.application

    async def orphans(self, app: Application) -> None:
        for step in self.plan.of_kind(RemoveOrphanSecret):
            assert isinstance(step, RemoveOrphanSecret)
            await self.gateway.remove_password(app.id, step.key_id)
            self.done(step)
        for step in self.plan.of_kind(RemoveOrphanCertificate):
            assert isinstance(step, RemoveOrphanCertificate)
            self.done(step, await remove_certificate(self.gateway, app.id, step.key_id))

    async def service_principal_and_credential(self, app: Application,
                                               on_secret: Callable[[ApplyOutcome], None] | None) -> ServicePrincipal:
        """The SP and the credential do not depend on each other: one round trip for both. The credential
        is handed off (written to the credentials file) even if the SP creation failed."""
        results = await asyncio.gather(self._service_principal(app), self._secret(app), self._certificate(app),
                                       return_exceptions=True)
        outcome = self.outcome
        if (outcome.new_secret is not None or outcome.new_certificate is not None) and on_secret is not None:
            on_secret(outcome)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        if outcome.service_principal is None:
            raise ProvisioningError("the app's service principal is missing after apply")
        return outcome.service_principal

    async def _service_principal(self, app: Application) -> None:
        for step in self.plan.of_kind(CreateServicePrincipal):
            self.outcome.service_principal = await self.gateway.create_service_principal(app.app_id)
            self.done(step)

    async def _secret(self, app: Application) -> None:
        for step in self.plan.of_kind(AddSecret):
            assert isinstance(step, AddSecret)
            self.outcome.new_secret = await add_secret_within_policy(
                self.gateway, app.id, self.desired.unique_name, base_name=step.display_name,
                lifetime=self.desired.secret_lifetime, run_id=self.run_id, now=self.now, policy=self.secret_policy,
                notes=self.outcome.notes)
            self.done(step)

    async def _certificate(self, app: Application) -> None:
        for step in self.plan.of_kind(AddCertificate):
            assert isinstance(step, AddCertificate)
            if self.make_certificate is None:
                raise ProvisioningError("the plan adds a certificate but none can be made here")
            # The run marker names it, so a run killed before its hand-off leaves a certificate the
            # next run can tell from the others (onboarding's pending record names the run).
            self.outcome.new_certificate = await add_certificate_exactly_once(
                self.gateway, app.id, self.make_certificate(),
                display_name=secret_display_name(step.display_name, self.run_id))
            self.done(step)

    async def grants(self, sp: ServicePrincipal) -> None:
        roles = [s for s in self.plan.steps if isinstance(s, GrantAppRole)]
        delegated = [s for s in self.plan.steps if isinstance(s, GrantDelegated)]
        if not roles and not delegated:
            return
        created, _ids = await BatchedReads(self.gateway).grant_all(
            sp.id, [RoleGrant(s.resource_sp_id, s.app_role_id) for s in roles],
            [DelegatedGrant(s.resource_sp_id, s.scopes, s.grant_id) for s in delegated])
        for role, was_created in zip(roles, created, strict=True):
            self.done(role, was_created)
        for grant in delegated:
            self.done(grant)
