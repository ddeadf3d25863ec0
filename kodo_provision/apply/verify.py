"""Verify the result the way KODO will use it.

1. Re-read the tenant and re-plan: the plan must be empty. Reads may lag behind writes
   (https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/),
   so the re-plan is polled within a budget rather than judged on one read.
2. Get an app-only token with the secret KODO will use and check its `roles` claim holds
   every application permission: reading requiredResourceAccess is not proof of consent
   (CIPP#650). A brand-new secret is not accepted for a few seconds (graph-docs#17966), so
   the token request is polled too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .. import environment
from ..auth import AppOnlyTokens, app_only_tokens
from ..cloud import Cloud
from ..errors import SignInError
from ..graph.retry import Backoff
from ..manifest.resolve import DesiredState
from ..output.logging import get_logger
from ..plan.model import Plan

log = get_logger("kodo_provision.verify")


@dataclass(frozen=True)
class PermissionCheck:
    resource: str
    permission: str
    granted: bool


@dataclass
class VerificationReport:
    """Per-permission results; `ok` only when the re-plan is empty and every role is present."""

    replan: Plan
    permissions: list[PermissionCheck] = field(default_factory=list)
    token_errors: list[str] = field(default_factory=list)
    # `--probe`: one read per granted API (apply/probe.py). Not part of `ok`: the onboarding itself worked;
    # a tenant setting that blocks a read is the tenant admin's to change (flows/onboard._record says so).
    probes: list[Any] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.replan.is_empty and all(p.granted for p in self.permissions) and not self.token_errors

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "replan_empty": self.replan.is_empty,
            "remaining_steps": [s.describe() for s in self.replan.steps],
            "permissions": [p.__dict__ for p in self.permissions],
            "token_errors": self.token_errors,
            "probes": [p.to_dict() for p in self.probes],
        }


CONFIRMATIONS_AFTER_FLUX = 2  # empty re-plans in a row that count once a non-empty one was seen


async def poll_until_empty(replan: Callable[[], Awaitable[Plan]], budget_s: float,
                           initial_s: float = 0.25, max_s: float = 1.0) -> Plan:
    """Re-plan until empty or out of budget; returns the last plan.

    Capped exponential backoff with jitter; fewer remaining steps than last time restart it
    (the rest of the same burst of writes is about to show up). Once the state was seen in flux (a
    non-empty re-plan), an empty one counts only when seen twice in a row: a read from a replica that
    lost affinity can show a state that the next read contradicts (Terraform azuread's "seen N times"
    rule; devblogs "designing for eventual consistency"). An empty first re-plan needs no second read."""
    clock = environment.clock()
    deadline = clock.monotonic() + budget_s
    backoff = Backoff(initial_s, max_s)
    remaining: int | None = None
    empty_in_a_row, needed = 0, 1
    while True:
        plan = await replan()
        if remaining is not None and len(plan.steps) < remaining:
            backoff.progressed()
        remaining = len(plan.steps)
        empty_in_a_row = empty_in_a_row + 1 if plan.is_empty else 0
        needed = needed if plan.is_empty else CONFIRMATIONS_AFTER_FLUX
        delay = backoff.next() if not plan.is_empty else initial_s
        if empty_in_a_row >= needed or clock.monotonic() + delay > deadline:
            return plan
        log.info("verify.replan_pending", steps=len(plan.steps), wait_s=round(delay, 2))
        await clock.sleep(delay)


async def check_app_token(cloud: Cloud, tenant_id: str, client_id: str, secret: str, desired: DesiredState,
                          *, ca_bundle: str | None, budget_s: float, certificate_path: str | None = None
                          ) -> tuple[list[PermissionCheck], list[str]]:
    """Per resource with application permissions: an app-only token, and its roles compared.
    One credential serves every resource; a retry uses a new one, since a cached token would
    carry the same stale roles. With `certificate_path` the token is requested with a client
    assertion signed by that certificate's key (`secret` is then unused)."""
    checks: list[PermissionCheck] = []
    errors: list[str] = []

    def new_tokens() -> AppOnlyTokens:
        return app_only_tokens(cloud, tenant_id, client_id, secret, certificate_path=certificate_path,
                               ca_bundle=ca_bundle)

    tokens = new_tokens()
    # One budget for the whole proof (--verify-budget): the resources share the credential, so a secret
    # the token service does not know yet fails them all; a budget per resource waited it out once each.
    clock = environment.clock()
    deadline = clock.monotonic() + budget_s
    try:
        for resource in desired.resources:
            if not resource.application or resource.sp is None:
                continue
            audience = resource.sp.token_resource
            if audience is None:
                errors.append(f"{resource.name}: no token audience (servicePrincipalNames has no https URI)")
                continue
            wanted = {p.name for p in resource.application}
            # The token service sees the new app, its SP and its role assignments only once they
            # have replicated to it (another principal than the admin's Graph session).
            backoff = Backoff(initial_s=0.5, max_s=1.0)
            roles: set[str] = set()
            seen: tuple[str | None, frozenset[str]] | None = None
            while True:
                try:
                    claims = await asyncio.to_thread(tokens.claims, audience)
                    roles = set(claims.get("roles") or ())
                    error = kind = None
                except SignInError as exc:
                    error, kind = exc.one_line(), exc.summary  # the summary names the AADSTS code only
                if seen is not None and (kind, frozenset(roles)) != seen:
                    backoff.progressed()  # e.g. the app is known now: its assignments follow shortly
                seen = (kind, frozenset(roles))
                delay = backoff.next()
                if (error is None and wanted <= roles) or clock.monotonic() + delay > deadline:
                    break
                log.info("verify.token_pending", resource=resource.name, error=error,
                         missing=sorted(wanted - roles), wait_s=round(delay, 2))
                await clock.sleep(delay)
                tokens.close()
                tokens = new_tokens()
            if error is not None:
                errors.append(f"{resource.name}: {error}")
            checks.extend(PermissionCheck(resource.name, name, name in roles) for name in sorted(wanted))
    finally:
        tokens.close()
    return checks, errors
