"""Per customer, before any change: is it the partner's customer, does the signed-in partner user hold a
GDAP role there that can do the whole job, then consent the partner sign-in app there through Partner
Center (only where missing) and wait until Entra's token service issues tokens for it.

Who may do what (https://learn.microsoft.com/en-us/entra/identity/role-based-access-control/permissions-reference,
https://learn.microsoft.com/en-us/entra/identity/enterprise-apps/grant-admin-consent):
- consent to Microsoft Graph application permissions: Global Administrator or Privileged Role Administrator;
- create app registrations: Global Administrator, Application Administrator, Cloud Application
  Administrator or Application Developer;
- Partner Center application consent: Global Administrator, Privileged Role Administrator or Cloud
  Application Administrator (https://learn.microsoft.com/en-us/powershell/partnercenter/exchange-online-gdap-app).
So: Global Administrator alone, or Privileged Role Administrator with one of the app-creating roles.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .. import environment
from ..auth import ADMIN_SCOPES
from ..errors import InsufficientPrivilegesError, KodoError, ProvisioningError
from ..graph.retry import Backoff
from .center import Customer, PartnerCenterClient
from .signin_app import PartnerApp

MICROSOFT_GRAPH = "00000003-0000-0000-c000-000000000000"
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
PRIVILEGED_ROLE_ADMINISTRATOR = "e8611ab8-c189-46e8-94e1-60213ab1f814"
APP_CREATING = {"9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3": "Application Administrator",
                "158c047a-c907-4556-b7ef-446551a6b5f7": "Cloud Application Administrator",
                "cf1c38e5-3621-4004-a7cb-879624dced7c": "Application Developer"}
ROLE_NAMES = {GLOBAL_ADMINISTRATOR: "Global Administrator",
              PRIVILEGED_ROLE_ADMINISTRATOR: "Privileged Role Administrator", **APP_CREATING}
ROLES_THAT_DO = ("Global Administrator, or Privileged Role Administrator together with Application Administrator "
                 "or Cloud Application Administrator")


# Every proper, non-empty subset of the scopes, smallest first: 30 distinct requests for 5 scopes, which
# at the backoff's pace span well over MSAL's 60 s cache of a failed request.
PROBE_SETS = tuple(tuple(s for i, s in enumerate(ADMIN_SCOPES) if mask >> i & 1)
                   for mask in sorted(range(1, 2 ** len(ADMIN_SCOPES) - 1), key=lambda m: (bin(m).count("1"), m)))


class NotACustomer(KodoError):
    """The tenant is not among the partner's customers in Partner Center."""


class NoRelationship(InsufficientPrivilegesError):
    """No active GDAP relationship gives the signed-in partner user a role in the customer."""


def role_problem(roles: frozenset[str]) -> str | None:
    """Why these GDAP roles cannot onboard a customer, or None when they can."""
    if GLOBAL_ADMINISTRATOR in roles or (PRIVILEGED_ROLE_ADMINISTRATOR in roles and roles & APP_CREATING.keys()):
        return None
    held = sorted(ROLE_NAMES.get(r, r) for r in roles)
    return f"you hold {', '.join(held) if held else 'no Entra role'} there through GDAP"


@dataclass
class ConsentProbe:
    """Asks Entra, without a prompt, whether a token for one scope is issued in a tenant yet."""

    reached: Callable[[str, tuple[str, ...]], bool]  # (tenant ID, scope names) -> bool; synchronous (MSAL)


class PartnerRoute:
    """Customers reached through Partner Center and GDAP with the partner's sign-in app."""

    def __init__(self, center: PartnerCenterClient, app: PartnerApp, customers: list[Customer],
                 roles: dict[str, frozenset[str]], probe: ConsentProbe, *, budget_s: float = 300.0,
                 sleep: Callable[[float], Awaitable[None]] | None = None) -> None:
        self.center, self.app, self.probe = center, app, probe
        self.customers = customers
        self._by_name = {c.tenant_id: c for c in customers} | {c.domain: c for c in customers if c.domain}
        self.roles = roles
        self.budget_s = budget_s
        self._sleep = sleep

    def customer(self, tenant: str) -> Customer:
        """The customer a row names (tenant ID or the default domain Partner Center lists)."""
        found = self._by_name.get(tenant.lower())
        if found is None:
            raise NotACustomer(f"{tenant} is not a customer of this partner in Partner Center",
                               hint="check the tenant in the file (ID or its .onmicrosoft.com domain), or onboard "
                                    "it with its own admin: kodo-provision onboard --tenant " + tenant)
        return found

    def check_roles(self, customer: Customer) -> None:
        """Refuse up front, before any change, when the partner user cannot do the whole job there."""
        roles = self.roles.get(customer.tenant_id)
        if roles is None:
            where = customer.domain or customer.tenant_id
            raise NoRelationship(f"no active GDAP relationship gives you a role in {where}",
                                 hint=f"ask the customer to approve a GDAP relationship with {ROLES_THAT_DO}, and add "
                                      "yourself to its security group; nothing was changed there")
        if problem := role_problem(roles):
            raise InsufficientPrivilegesError(
                f"{problem}; onboarding needs {ROLES_THAT_DO}",
                hint="add one of those roles to the GDAP relationship's access assignment (Partner Center > "
                     "Customers > Admin relationships); nothing was changed there")

    async def consent(self, customer: Customer, *, known_present: bool = False) -> str:
        """Consent the sign-in app in the customer (unless a journal says it is), then wait until it
        reaches Entra's token service. Returns "created" or "present"."""
        state = "present" if known_present else await self.center.consent(
            customer.tenant_id, self.app.client_id, self.app.display_name, {MICROSOFT_GRAPH: ADMIN_SCOPES})
        await self.wait_until_reached(customer)
        return state

    async def wait_until_reached(self, customer: Customer) -> None:
        """Probe a silent token with capped, jittered backoff (no fixed sleeps): Microsoft names no
        propagation time for consent. Each probe asks for another proper subset of the scopes: MSAL
        answers a request identical to one that failed with HTTP 400 from its own cache for 60 s, and
        the full set is kept for the real token afterwards (see consent_reached)."""
        backoff = Backoff(0.5, 8.0)
        clock = environment.clock()
        deadline = clock.monotonic() + self.budget_s
        for attempt in range(10_000):
            scopes = PROBE_SETS[attempt % len(PROBE_SETS)]
            if await asyncio.to_thread(self.probe.reached, customer.tenant_id, scopes):
                return
            if clock.monotonic() >= deadline:
                break
            await (self._sleep or clock.sleep)(backoff.next())
        raise ProvisioningError(
            f"the partner sign-in app's consent did not reach {customer.domain or customer.tenant_id} "
            f"within {self.budget_s:.0f} s",
            hint="run the same command again with --resume (Entra may take longer to propagate consent)")
