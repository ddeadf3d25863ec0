"""`kodo-provision partner-app`: set the partner sign-in app up ahead of a bulk run, show it, remove its
consent from customers (Partner Center), or remove the app itself from the partner tenant."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TextIO

from ..auth import DeviceCodeSignIn
from ..errors import UsageError
from ..flows.session import ConnectionSettings, open_tenant_session
from ..graph.lifecycle_ops import delete_application
from .center import PARTNER_CENTER_SCOPE, PartnerCenterClient
from .signin_app import PartnerApp, ensure_partner_app, forget, partner_manifest, remember, remembered


@dataclass(frozen=True)
class PartnerAppView:
    """What `partner-app show` prints."""

    app: PartnerApp | None
    delegated: dict[str, tuple[str, ...]]  # resource name -> scopes the app holds

    def to_dict(self) -> dict[str, object]:
        return {"schema_version": 1, "client_id": self.app.client_id if self.app else None,
                "app_object_id": self.app.app_object_id if self.app else None,
                "tenant_id": self.app.tenant_id if self.app else None,
                "display_name": partner_manifest().app.display_name,
                "unique_name": partner_manifest().app.unique_name,
                "delegated_permissions": {k: list(v) for k, v in self.delegated.items()}}


def show(settings: ConnectionSettings, home_tenant: str) -> PartnerAppView:
    """The remembered app (no sign-in) and the permissions it is made with."""
    manifest = partner_manifest()
    return PartnerAppView(remembered(settings.cloud.authority_host, home_tenant),
                          {r.name: r.delegated for r in manifest.resources})


async def setup(settings: ConnectionSettings, home_tenant: str) -> PartnerApp:
    """Create or adopt the app in the partner tenant and consent it there (one sign-in prompt)."""
    async with open_tenant_session(settings, home_tenant) as session:
        app = await ensure_partner_app(session, home_tenant)
    remember(settings.cloud.authority_host, tuple({home_tenant, app.tenant_id}), app)
    return app


def _required(settings: ConnectionSettings, home_tenant: str) -> PartnerApp:
    app = remembered(settings.cloud.authority_host, home_tenant)
    if app is None:
        raise UsageError(f"no partner sign-in app is set up for {home_tenant}",
                         hint="kodo-provision partner-app show lists it; set it up with `kodo-provision partner-app "
                              "setup` (or a bulk run), or pass the --home-tenant it was set up with")
    return app


def _sign_in(settings: ConnectionSettings, app: PartnerApp, prompt: TextIO | None) -> DeviceCodeSignIn:
    sign_in = DeviceCodeSignIn(settings.cloud, app.tenant_id, client_id=app.client_id, ca_bundle=settings.ca_bundle,
                               prompt_stream=prompt, timeout_s=settings.sign_in_timeout_s)
    sign_in.sign_in()
    return sign_in


async def remove_consent(settings: ConnectionSettings, home_tenant: str, customers: list[str],
                         prompt: TextIO | None = None) -> dict[str, bool]:
    """Remove the app's consent from each customer through Partner Center: customer -> whether one was there."""
    app = _required(settings, home_tenant)
    if settings.cloud.partner_center_endpoint is None:
        raise UsageError(f"Partner Center is not available in the {settings.cloud.name} cloud")
    sign_in = await asyncio.to_thread(_sign_in, settings, app, prompt)

    async def token() -> str:
        return await asyncio.to_thread(sign_in.token_for, PARTNER_CENTER_SCOPE, app.tenant_id)

    center = PartnerCenterClient(settings.cloud.partner_center_endpoint, token, ca_bundle=settings.ca_bundle)
    try:
        known = {c.domain: c.tenant_id for c in await center.customers()}
        return {name: await center.remove_consent(known.get(name.lower(), name.lower()), app.client_id)
                for name in customers}
    finally:
        await center.aclose()


async def remove_app(settings: ConnectionSettings, home_tenant: str, prompt: TextIO | None = None) -> PartnerApp:
    """Delete the app from the partner tenant (its consent in customers stays until removed) and forget it."""
    app = _required(settings, home_tenant)
    async with open_tenant_session(settings, app.tenant_id, prompt_stream=prompt) as session:
        await delete_application(session.gateway, app.app_object_id)
    forget(settings.cloud.authority_host, app.tenant_id)
    return app

