"""One operator sign-in serving many tenants, and the per-tenant fallback.

The operator (e.g. an MSP partner admin with delegated admin (GDAP) roles in customer tenants)
signs in once with the device code. Each customer tenant's Graph token comes from that sign-in's
refresh token, redeemed at the customer's authority: azure-identity's get_token(tenant_id=T)
with additionally_allowed_tenants=["*"] (graph-facts §4). The sync credential always runs in a
worker thread (AsyncCredential), so one tenant's token refresh never blocks the others.

When the refresh token cannot be redeemed in a tenant (AADSTS50020: the user has no access
there), the tenant is either failed with that reason or, with `per-tenant-device-code`, gets its
own device-code sign-in; prompts are serialized and name the tenant.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from ..auth import AppCaller, AppIdentitySignIn, BulkDeviceCodeSignIn, SignedInUser
from ..auth.login import load_login
from ..errors import SignInError
from ..flows.session import ConnectionSettings

OPERATOR, PER_TENANT, AUTOMATION_APP = "operator", "per-tenant sign-in", "automation app"


class TenantBoundCredential:
    """An async credential whose tokens are always for one tenant.

    kiota's provider forwards extra options to get_token (graph-facts §1); pinning tenant_id here
    keeps that out of the Graph client construction."""

    def __init__(self, inner: Any, tenant_id: str) -> None:
        self._inner = inner
        self.tenant_id = tenant_id

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        kwargs["tenant_id"] = self.tenant_id
        return await self._inner.get_token(*scopes, **kwargs)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> TenantBoundCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        return None


@dataclass
class TenantAccess:
    """A credential for one tenant and what its token says."""

    credential: Any
    scopes: tuple[str, ...]
    claims: dict[str, Any]
    via: str
    app_caller: AppCaller | None = None  # the operator's automation app (no user)

    @property
    def tenant_id(self) -> str:
        return str(self.claims.get("tid", "")).lower()

    @property
    def username(self) -> str:
        if self.app_caller is not None:
            return self.app_caller.label
        return str(self.claims.get("upn") or self.claims.get("unique_name") or "")


class OperatorSignIn:
    """The single operator sign-in and per-tenant access derived from it."""

    def __init__(self, settings: ConnectionSettings, home_tenant: str, *, prompt: Any,
                 prompt_for: Any = None, client_id: str | None = None, extra_scopes: tuple[str, ...] = ()) -> None:
        """`prompt` is the stream for the operator's device-code prompt; `prompt_for(tenant)` returns
        a stream for a tenant's own prompt (per-tenant mode). `client_id`: the partner's sign-in app
        instead of the default public client; `extra_scopes`: asked for at sign-in, for the home tenant."""
        self.settings = settings
        self.client_id = client_id or settings.client_id
        self._prompt_for = prompt_for
        self._home_tenant, self._prompt, self._extra_scopes = home_tenant, prompt, extra_scopes
        self._sign_in = BulkDeviceCodeSignIn(settings.cloud, home_tenant, client_id=self.client_id,
                                         ca_bundle=settings.ca_bundle, prompt_stream=prompt,
                                         timeout_s=settings.sign_in_timeout_s,
                                         additionally_allowed_tenants=("*",),
                                         disable_automatic_authentication=True, extra_scopes=extra_scopes)
        self._prompt_lock = asyncio.Lock()
        self.user: SignedInUser | None = None

    async def start(self) -> SignedInUser:
        """The saved `login` of this client when there is one (no prompt), else the one device-code
        prompt (in a thread: the credential is synchronous)."""
        resumed = await asyncio.to_thread(self._resume_saved_login)
        user = resumed if resumed is not None else await asyncio.to_thread(self._sign_in.sign_in)
        self.user = user
        return user

    def _resume_saved_login(self) -> SignedInUser | None:
        """`kodo-provision login` with this client (e.g. the partner's sign-in app): its tokens, silently."""
        saved = load_login()
        if saved is None or not saved.matches(self.settings.cloud, self.client_id):
            return None
        if self._extra_scopes and self.client_id == self.settings.client_id:
            return None  # a saved login of the default client holds no GDAP scope: the partner check needs one
        resumed = BulkDeviceCodeSignIn(self.settings.cloud, self._home_tenant, client_id=self.client_id,
                                   ca_bundle=self.settings.ca_bundle, prompt_stream=self._prompt,
                                   additionally_allowed_tenants=("*",), extra_scopes=self._extra_scopes,
                                   persistent_cache=True, allow_unencrypted_cache=saved.allow_unencrypted_cache,
                                   authentication_record=saved.record)
        user = resumed.resume()
        if user is not None:
            self._sign_in = resumed
        return user

    @property
    def interactive(self) -> BulkDeviceCodeSignIn:
        """The sign-in itself (tokens for other resources and consent probes)."""
        return self._sign_in

    def home_credential(self, tenant_id: str) -> tuple[TenantBoundCredential, tuple[str, ...]]:
        """A credential for the home tenant with every scope asked at sign-in (e.g. GDAP reads)."""
        return TenantBoundCredential(self._sign_in.graph_credential(), tenant_id), self._sign_in.sign_in_scopes

    async def operator_access(self, tenant: str) -> TenantAccess:
        """A token for `tenant` from the operator's sign-in, no prompt; SignInError says why not."""
        claims = await asyncio.to_thread(self._sign_in.token_claims_for, tenant)
        tenant_id = str(claims.get("tid") or tenant)
        credential = TenantBoundCredential(self._sign_in.graph_credential(), tenant_id)
        return TenantAccess(credential, self._sign_in.scopes, claims, OPERATOR)

    async def interactive_access(self, tenant: str) -> TenantAccess:
        """A device-code sign-in of its own for `tenant`; one prompt at a time, naming the tenant."""
        if self._prompt_for is None:
            raise SignInError(f"no interactive sign-in possible for {tenant}")
        async with self._prompt_lock:
            sign_in = BulkDeviceCodeSignIn(self.settings.cloud, tenant, client_id=self.settings.client_id,
                                       ca_bundle=self.settings.ca_bundle, prompt_stream=self._prompt_for(tenant),
                                       timeout_s=self.settings.sign_in_timeout_s,
                                       disable_automatic_authentication=True)
            await asyncio.to_thread(sign_in.sign_in)
        claims = await asyncio.to_thread(sign_in.token_claims_for, tenant)
        return TenantAccess(sign_in.graph_credential(), sign_in.scopes, claims, PER_TENANT)


class AutomationAppAccess:
    """The operator's automation app (`--auth client-secret|certificate`): no prompt at all; each
    tenant gets a client-credentials token of its own, whose `roles` are what that tenant consented.
    https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow"""

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings
        auth = settings.auth
        self.user = SignedInUser(f"app {auth.app_client_id}", "", "")

    async def start(self) -> SignedInUser:
        """Nothing to sign in to up front: a token is asked for per tenant."""
        return self.user

    async def operator_access(self, tenant: str) -> TenantAccess:
        """A client-credentials token in `tenant`; SignInError when the app cannot sign in there."""
        sign_in = AppIdentitySignIn(self.settings.cloud, tenant, self.settings.auth, ca_bundle=self.settings.ca_bundle)
        await asyncio.to_thread(sign_in.sign_in)
        caller = sign_in.caller
        assert caller is not None
        claims = {"tid": caller.tenant_id, "appid": caller.app_id, "oid": caller.object_id}
        return TenantAccess(sign_in.graph_credential(), sign_in.scopes, claims, AUTOMATION_APP, caller)

    async def interactive_access(self, tenant: str) -> TenantAccess:
        raise SignInError(f"no interactive sign-in with an automation app for {tenant}")
