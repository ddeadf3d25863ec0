"""Client secrets within the tenant's app-management policy.

Tenants may cap a secret's lifetime or forbid secrets (tenantAppManagementPolicy); addPassword
then fails with 400 CredentialInvalidLifetimeAsPerAppPolicy / CredentialTypeNotAllowedAsPerAppPolicy
(azure-cli#28522, CIPP-API#1970; graph-facts §11.7).
https://learn.microsoft.com/en-us/graph/api/resources/tenantappmanagementpolicy

1. When the policy is readable (preflight batch), the lifetime is clamped before the plan is
   shown, and a tenant that forbids secrets is refused before anything is created.
2. When it is not (the tool does not request Policy.Read.All), addPassword's refusal is handled:
   Graph's message names the policy but not its maximum ("Credential lifetime exceeds the max
   value allowed as per assigned policy '<id>'"), so the add is retried with the next shorter of
   the Entra admin center's standard secret lifetimes (730/545/365/180/90 days). A refused add
   creates nothing, so this keeps the exactly-once guarantee; at most four extra requests.
   If a maximum is ever stated in the message, that is used instead. Below 90 days: refuse,
   naming the policy, and let the operator pass --secret-lifetime.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from ..errors import ProvisioningError
from ..graph.errors import GraphBadRequest
from ..graph.gateway import GraphGateway, NewSecret
from ..graph.policy import BLOCKED_CODE, LIFETIME_CODE, max_days_in, policy_id_in
from ..manifest.resolve import DesiredState
from ..output.logging import get_logger
from ..plan.model import AddSecret, Plan
from ..state.policy import SecretPolicy
from .secret import add_secret_exactly_once

log = get_logger("kodo_provision.apply")
# The lifetimes the Entra admin center offers for a new client secret (portal presets).
PORTAL_LIFETIMES_DAYS = (730, 545, 365, 180, 90)
# A lifetime at the policy's maximum is measured by Entra from its own clock (to the second);
# a few minutes less keeps a secret "at the maximum" from being refused for a clock difference.
POLICY_MARGIN = timedelta(minutes=5)


class SecretPolicyError(ProvisioningError):
    """The tenant's app-management policy does not allow the secret KODO needs."""


def _policy_words(label: str | None) -> str:
    # A refusal may come from the tenant default or from a policy assigned to the app itself:
    # Graph's message names the policy ID either way, so the words do not guess which.
    return f"the app management policy {label}" if label else "the tenant's app management policy"


def _blocked_error(label: str | None, detail: str | None = None) -> SecretPolicyError:
    return SecretPolicyError(
        f"{_policy_words(label)} does not allow client secrets", detail=detail,
        hint="run again with --credential certificate (the policy forbids secrets, not certificates), or ask "
             "the tenant admin to exempt the KODO app (an app-specific appManagementPolicy); nothing else was "
             "changed by this step")


def clamp_to_policy(desired: DesiredState, policy: SecretPolicy | None) -> tuple[DesiredState, list[str]]:
    """A readable policy's maximum lifetime, applied before planning (with a note saying so)."""
    if policy is None or not policy.readable or policy.max_lifetime is None:
        return desired, []
    if desired.secret_lifetime <= policy.max_lifetime:
        return desired, []
    days = max(1, policy.max_lifetime.days)
    note = (f"warning: secret lifetime clamped from {desired.secret_lifetime.days} to {days} days by the tenant's "
            f"app management policy {policy.label()}")
    return replace(desired, secret_lifetime=timedelta(days=days)), [note]


def refuse_if_blocked(plan: Plan, policy: SecretPolicy | None) -> None:
    """Before apply: a plan that adds a secret in a tenant that forbids them changes nothing."""
    if policy is not None and policy.readable and policy.secrets_blocked and plan.of_kind(AddSecret):
        raise _blocked_error(policy.label())


def blocked_note(plan: Plan, policy: SecretPolicy | None) -> list[str]:
    """For `plan`: say that applying would be refused."""
    if policy is not None and policy.readable and policy.secrets_blocked and plan.of_kind(AddSecret):
        return [f"warning: the tenant's app management policy {policy.label()} forbids client secrets; "
                "onboard will refuse"]
    return []


async def add_secret_within_policy(gateway: GraphGateway, app_object_id: str, unique_name: str, *,
                                   base_name: str, lifetime: timedelta, run_id: str, now: datetime,
                                   policy: SecretPolicy | None, notes: list[str]) -> NewSecret:
    """add_secret_exactly_once, within the policy; appends a warning to `notes` when shortened."""
    at_maximum = False
    if policy is not None and policy.readable:
        if policy.secrets_blocked:
            raise _blocked_error(policy.label())
        if policy.max_lifetime is not None and lifetime >= policy.max_lifetime:
            lifetime = timedelta(days=max(1, policy.max_lifetime.days))
            at_maximum = True

    async def add(span: timedelta, margin: bool = False) -> NewSecret:
        return await add_secret_exactly_once(gateway, app_object_id, unique_name, base_name=base_name,
                                             lifetime=span - POLICY_MARGIN if margin else span, run_id=run_id,
                                             now=now)

    try:
        return await add(lifetime, at_maximum)
    except GraphBadRequest as exc:
        if exc.code == BLOCKED_CODE:
            pid = policy_id_in(exc.message)
            raise _blocked_error(repr(pid) if pid else None, exc.detail) from None
        if exc.code != LIFETIME_CODE:
            raise
        refusal = exc
    pid = policy_id_in(refusal.message)
    words = _policy_words(repr(pid) if pid else None)
    if not at_maximum:
        # Exactly at the maximum, a clock difference of a second is enough for a refusal.
        try:
            return await add(lifetime, True)
        except GraphBadRequest as exc:
            if exc.code != LIFETIME_CODE:
                raise
    stated = max_days_in(refusal.message)
    candidates = [stated] if stated else [d for d in PORTAL_LIFETIMES_DAYS if d < lifetime.days]
    for days in candidates:
        try:
            secret = await add(timedelta(days=days), True)
        except GraphBadRequest as exc:
            if exc.code != LIFETIME_CODE:
                raise
            continue
        how = "the maximum it states" if stated else "the longest of the portal's standard lifetimes it accepts"
        notes.append(f"warning: {words} refused a {lifetime.days}-day secret; "
                     f"the secret is valid {days} days ({how}); pass --secret-lifetime to choose")
        log.warning("secret.lifetime_clamped", requested_days=lifetime.days, days=days, policy=pid)
        return secret
    raise SecretPolicyError(
        f"{words} refuses a {lifetime.days}-day client secret",
        detail=refusal.detail,
        hint="pass a shorter --secret-lifetime (ask the tenant admin for the policy's maximum)")
