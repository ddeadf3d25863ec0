"""Set up the partner route of a bulk run: after the operator's sign-in, find out whether the home tenant
is a CSP partner with GDAP relationships; if so, make sure the partner's own sign-in app exists and is
consented there, sign in with it (the run's second and last prompt, first run only), and read the
customers (Partner Center) and the operator's GDAP roles in each (Graph, partner tenant).

Prompts: first run 2 (default public client, then the partner's app); later runs 1 (the remembered app).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .. import environment
from ..auth import SignedInUser
from ..errors import SignInError, UsageError
from ..flows.session import ConnectionSettings, open_session_with_credential
from ..graph.errors import GraphForbidden
from ..graph.retry import Backoff
from ..output.logging import get_logger
from ..partner.center import PARTNER_CENTER_SCOPE, PartnerCenterClient
from ..partner.route import ConsentProbe, PartnerRoute
from ..partner.signin_app import PartnerApp, ensure_partner_app, remember, remembered
from .signin import OperatorSignIn

log = get_logger("kodo_provision.bulk")
GDAP_SCOPE = "DelegatedAdminRelationship.Read.All"
NEW_APP_SIGN_IN_BUDGET_S = 180.0  # a new app reaches the token service after replication (AADSTS700016 until then)


async def read_gdap_roles(settings: ConnectionSettings, operator: OperatorSignIn, user: SignedInUser
                          ) -> dict[str, frozenset[str]]:
    """The operator's GDAP roles per customer tenant ID; {} when the tenant has no relationships (or Graph
    refuses to list them: not a partner)."""
    credential, scopes = operator.home_credential(user.tenant_id)
    async with open_session_with_credential(settings, credential, scopes, user.username) as session:
        try:
            return await session.gateway.delegated_admin_roles()
        except GraphForbidden:
            return {}


async def set_up_partner_app(settings: ConnectionSettings, operator: OperatorSignIn, user: SignedInUser,
                             *, budget_s: float) -> PartnerApp:
    """Create or adopt the sign-in app in the partner tenant with the operator's first sign-in."""
    credential, scopes = operator.home_credential(user.tenant_id)
    async with open_session_with_credential(settings, credential, scopes, user.username) as session:
        app = await ensure_partner_app(session, user.tenant_id, verify_budget_s=budget_s)
    log.info("bulk.partner_app_ready", client_id=app.client_id, tenant_id=app.tenant_id)
    return app


async def sign_in_with_new_app(make: Callable[[str], OperatorSignIn], app: PartnerApp,
                               sleep: Callable[[float], Any] | None = None) -> OperatorSignIn:
    """Sign in with the sign-in app; right after its creation Entra's token service may not know it yet
    (AADSTS700016), so that refusal is retried with backoff before any prompt is shown."""
    clock = environment.clock()
    backoff, deadline = Backoff(1.0, 10.0), clock.monotonic() + NEW_APP_SIGN_IN_BUDGET_S
    while True:
        operator = make(app.client_id)
        try:
            await operator.start()
            return operator
        except SignInError as exc:
            if "700016" not in exc.one_line() or clock.monotonic() >= deadline:
                raise
        await (sleep or clock.sleep)(backoff.next())


async def open_partner_route(settings: ConnectionSettings, operator: OperatorSignIn, user: SignedInUser, *,
                             home_tenant: str, all_customers: bool, budget_s: float,
                             make_operator: Callable[[str], OperatorSignIn]
                             ) -> tuple[PartnerRoute | None, OperatorSignIn]:
    """(the partner route, the operator to use from now on); no route for an operator who is not a partner
    (unless --all-customers asked for one: then a one-line refusal, nothing changed)."""
    cloud = settings.cloud
    app = remembered(cloud.authority_host, home_tenant)
    roles = await read_gdap_roles(settings, operator, user)
    if app is None and not roles:
        if all_customers:
            raise UsageError(f"{user.username} signed in to a tenant with no GDAP relationships: --all-customers "
                             "needs a CSP partner's admin",
                             hint="sign in as your partner tenant's admin (--home-tenant PARTNER), or list the "
                                  "tenants in a file")
        return None, operator
    if cloud.partner_center_endpoint is None:
        raise UsageError(f"Partner Center is not available in the {cloud.name} cloud",
                         hint="list the tenants in a file and use --auth per-tenant-device-code")
    if app is None:
        app = await set_up_partner_app(settings, operator, user, budget_s=budget_s)
        remember(cloud.authority_host, tuple({home_tenant, user.tenant_id}), app)
        operator = await sign_in_with_new_app(make_operator, app)
    sign_in = operator.interactive

    async def partner_center_token() -> str:
        return await asyncio.to_thread(sign_in.token_for, PARTNER_CENTER_SCOPE, user.tenant_id)

    center = PartnerCenterClient(cloud.partner_center_endpoint, partner_center_token, ca_bundle=settings.ca_bundle)
    customers = await center.customers()
    log.info("bulk.partner_route", customers=len(customers), gdap_customers=len(roles), client_id=app.client_id)
    return PartnerRoute(center, app, customers, roles, ConsentProbe(sign_in.consent_reached), budget_s=budget_s), \
        operator
