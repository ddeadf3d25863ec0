"""Entra ID v2 endpoints as MSAL uses them: discovery, JWKS, device code, authorize, token.

Protocol references:
- https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc (openid-configuration)
- https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-device-code
- https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow (authorize + PKCE)
- https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
- https://learn.microsoft.com/en-us/entra/identity-platform/refresh-tokens
- error codes: https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
"""

from __future__ import annotations

import hashlib
import secrets
import string
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .aad import (
    CA_BLOCKED,
    OIDC_SCOPES,
    AadError,
    base_url,
    default_tenant,
    json_error,
    read_form,
    resolve_tenant,
)
from .auth_code import authorize, redeem_auth_code
from .client_credentials import client_credentials_token
from .consent import client_app, user_token_scopes
from .core import DeviceCode, RefreshGrant, SimulatorCore
from .store import Tenant, User
from .tokens import client_info


# --- discovery ------------------------------------------------------------------------------------
@json_error
async def openid_configuration(request: Request, core: SimulatorCore) -> Response:
    """GET /{tenant}/v2.0/.well-known/openid-configuration (MSAL needs authorization_endpoint,
    token_endpoint, device_authorization_endpoint; graph-facts §5)."""
    name = request.path_params["tenant"]
    with core.lock:
        tenant = resolve_tenant(core, name)
    seg = tenant.id if tenant else name.lower()
    base = base_url(request)
    host = request.headers.get("host", "")
    graph_host = host.replace("login.microsoftonline", "graph.microsoft") if host.startswith("login.") else host
    return JSONResponse({
        "issuer": f"{base}/{tenant.id if tenant else '{tenantid}'}/v2.0",
        "authorization_endpoint": f"{base}/{seg}/oauth2/v2.0/authorize",
        "token_endpoint": f"{base}/{seg}/oauth2/v2.0/token",
        "device_authorization_endpoint": f"{base}/{seg}/oauth2/v2.0/devicecode",
        "end_session_endpoint": f"{base}/{seg}/oauth2/v2.0/logout",
        "jwks_uri": f"{base}/{seg}/discovery/v2.0/keys",
        "userinfo_endpoint": f"https://{graph_host}/oidc/userinfo",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username",
                             "name", "tid", "ver", "at_hash", "c_hash", "email"],
        "request_uri_parameter_supported": False,
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": graph_host,
        "rbac_url": "https://pas.windows.net",
    })


async def instance_discovery(request: Request) -> Response:
    """GET /common/discovery/instance - MSAL instance discovery (harmless to serve)."""
    host = request.headers.get("host", "")
    ta = request.query_params.get("authorization_endpoint", "")
    tenant = "common"
    parts = ta.split("/")
    if len(parts) > 3 and parts[3]:
        tenant = parts[3]
    return JSONResponse({
        "tenant_discovery_endpoint": f"https://{host}/{tenant}/v2.0/.well-known/openid-configuration",
        "api-version": "1.1",
        "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
    })


@json_error
async def jwks(request: Request, core: SimulatorCore) -> Response:
    """GET /{tenant}/discovery/v2.0/keys - the signing keys."""
    return JSONResponse(core.issuer.jwks())


# --- device code ----------------------------------------------------------------------------------
def _user_code() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(9))


@json_error
async def devicecode(request: Request, core: SimulatorCore) -> Response:
    """POST /{tenant}/oauth2/v2.0/devicecode - the device authorization request."""
    form = await read_form(request)
    client_id = str(form.get("client_id") or "")
    if not client_id:
        raise AadError(400, "invalid_request", 900144,
                       "The request body must contain the following parameter: 'client_id'.")
    scopes = str(form.get("scope") or "").split()
    with core.lock:
        tenant = resolve_tenant(core, request.path_params["tenant"])
        client_app(core.directory, client_id, tenant)  # an unknown client is refused here already (700016)
        s = core.scenario.sign_in
        now = time.time()
        dc = DeviceCode(
            device_code=secrets.token_urlsafe(48),
            user_code=_user_code(),
            client_id=client_id,
            authority_tenant=request.path_params["tenant"],
            tenant_id=tenant.id if tenant else None,
            scopes=scopes,
            created=now,
            expires_at=now + s.expires_in,
            interval=s.interval,
        )
        core.device_codes[dc.device_code] = dc
    uri = f"{base_url(request)}/devicelogin"
    return JSONResponse({
        "user_code": dc.user_code,
        "device_code": dc.device_code,
        "verification_uri": uri,
        "expires_in": s.expires_in,
        "interval": s.interval,
        "message": f"To sign in, use a web browser to open the page {uri} and enter the code {dc.user_code} "
        "to authenticate.",
    })


def _auto_decide(core: SimulatorCore, dc: DeviceCode) -> None:
    """Auto-approval (scenario sign_in.auto_approve after delay_ms) or a set_sign_in override."""
    if dc.status != "pending":
        return
    tenant = core.directory.tenants.get(dc.tenant_id) if dc.tenant_id else default_tenant(core)
    ov = core.sign_in_overrides.get(tenant.id if tenant else None) or core.sign_in_overrides.get(None)
    s = core.scenario.sign_in
    if ov is not None and ov.manual:
        return
    if ov is None and not s.auto_approve:
        return
    if time.time() < dc.created + s.delay_ms / 1000.0:
        return
    if ov is not None and ov.expire:
        dc.status = "expired"
    elif ov is not None and ov.decline:
        dc.status = "declined"
    else:
        user = core.directory.user_by_upn(ov.user) if ov is not None and ov.user else tenant.sign_in_user
        if user is None:
            return
        dc.user, dc.status = user, "approved"


def _poll_device_code(core: SimulatorCore, form: Any) -> DeviceCode:
    code = str(form.get("device_code") or form.get("code") or "")
    dc = core.device_codes.get(code)
    if dc is None:
        raise AadError(400, "bad_verification_code", 70000,
                       "The provided value for the input parameter 'device_code' is not valid.")
    dc.polls += 1
    if time.time() > dc.expires_at:
        dc.status = "expired"
    _auto_decide(core, dc)
    if dc.status == "expired":
        raise AadError(400, "expired_token", 70020,
                       "The provided value for the input parameter 'device_code' is not valid. This device code "
                       "has expired.")
    if dc.status == "declined":
        # The doc names this error authorization_declined ("the end user denied the authorization request").
        raise AadError(400, "authorization_declined", 70000,
                       "The request was denied because the user declined the authorization request.")
    if dc.polls <= core.scenario.sign_in.slow_down_polls:
        raise AadError(400, "slow_down", 70016, "OAuth 2.0 device flow error. Polling too fast; slow down.")
    if dc.status == "pending":
        raise AadError(400, "authorization_pending", 70016,
                       "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
    del core.device_codes[dc.device_code]  # a device code is redeemed once
    return dc


# --- tokens ---------------------------------------------------------------------------------------
def _issue_user_tokens(request: Request, core: SimulatorCore, user: User, tenant: Tenant, client_id: str,
                       scopes: list[str], *, interactive: bool, nonce: str | None = None) -> JSONResponse:
    resource, granted, echoed, roles = user_token_scopes(core, user, tenant, client_id, scopes,
                                                         interactive=interactive)
    now = int(time.time())
    life = core.scenario.sign_in.token_lifetime_s
    at_claims = {
        "aud": resource, "iss": f"https://sts.windows.net/{tenant.id}/", "iat": now, "nbf": now, "exp": now + life,
        "tid": tenant.id, "oid": user.id, "sub": hashlib.sha256(f"{user.id}:{client_id}".encode()).hexdigest()[:43],
        "upn": user.upn, "unique_name": user.upn, "name": user.display_name, "scp": " ".join(sorted(granted)),
        "wids": list(roles), "appid": client_id, "appidacr": "0", "idtyp": "user", "ver": "1.0",
        "uti": secrets.token_urlsafe(16),
    }
    if user.tenant_id != tenant.id:
        at_claims["idp"] = f"https://sts.windows.net/{user.tenant_id}/"
    base = base_url(request)
    id_claims = {
        "iss": f"{base}/{tenant.id}/v2.0", "aud": client_id, "iat": now, "nbf": now, "exp": now + life,
        "tid": tenant.id, "oid": user.id, "sub": at_claims["sub"], "preferred_username": user.upn,
        "name": user.display_name, "ver": "2.0",
    }
    if nonce:
        id_claims["nonce"] = nonce
    rt = secrets.token_urlsafe(48)
    core.refresh_tokens[rt] = RefreshGrant(user=user, client_id=client_id)
    oidc = [s for s in scopes if s.lower() in OIDC_SCOPES]
    return JSONResponse({
        "token_type": "Bearer",
        "scope": " ".join(echoed + oidc),  # MSAL caches under this target; echo what was asked (facts §5)
        "expires_in": life,
        "ext_expires_in": life,
        "access_token": core.issuer.sign(at_claims),
        "refresh_token": rt,
        "id_token": core.issuer.sign(id_claims),
        "client_info": client_info(user.id, user.tenant_id),
    })


@json_error
async def token(request: Request, core: SimulatorCore) -> Response:
    """POST /{tenant}/oauth2/v2.0/token: device_code, authorization_code, refresh_token and
    client_credentials grants.

    A `claims` parameter (CAE client capabilities) is accepted and ignored.
    """
    form = await read_form(request)
    grant = str(form.get("grant_type") or "")
    with core.lock:
        tenant = resolve_tenant(core, request.path_params["tenant"])
        # MSAL.js/msal-node send the short form "device_code" (msal-common GrantType.DEVICE_CODE_GRANT)
        # and Entra accepts it next to the RFC 8628 URN.
        if grant in ("urn:ietf:params:oauth:grant-type:device_code", "device_code"):
            dc = _poll_device_code(core, form)
            assert dc.user is not None
            target = core.directory.tenants[dc.tenant_id] if dc.tenant_id else \
                core.directory.tenants[dc.user.tenant_id]
            ca = target.spec.conditional_access
            if ca.block_device_code_flow or ca.block_user_sign_in:
                # The user signed in at the verification page, then the policy refused the token
                # (seen as AADSTS53003 by Azure CLI users: Azure/azure-cli#32809).
                raise AadError(400, "invalid_grant", 53003, CA_BLOCKED)
            return _issue_user_tokens(request, core, dc.user, target, dc.client_id, dc.scopes, interactive=True)
        if grant == "authorization_code":
            ac = redeem_auth_code(core, form)
            target = core.directory.tenants[ac.tenant_id] if ac.tenant_id else core.directory.tenants[ac.user.tenant_id]
            return _issue_user_tokens(request, core, ac.user, target, ac.client_id, ac.scopes, interactive=True,
                                      nonce=ac.nonce)
        if grant == "refresh_token":
            rt = core.refresh_tokens.get(str(form.get("refresh_token") or ""))
            if rt is None:
                raise AadError(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
            if str(form.get("client_id") or "").lower() != rt.client_id.lower():
                raise AadError(400, "invalid_grant", 70000,
                               "The refresh token was issued to a different client.")
            # A refresh token is not bound to a tenant: it can be redeemed at another tenant's authority
            # where the user has access (guest, or partner/GDAP) - graph-facts §4.
            target = tenant or core.directory.tenants[rt.user.tenant_id]
            scopes = str(form.get("scope") or "").split()
            # Silent: only what was consented in `target` before (consent.py; graph-facts §12).
            return _issue_user_tokens(request, core, rt.user, target, rt.client_id, scopes, interactive=False)
        if grant == "client_credentials":
            return client_credentials_token(core, tenant, form, f"{base_url(request)}{request.url.path}")
    raise AadError(400, "unsupported_grant_type", 70003,
                   f"The app requested an unsupported grant type '{grant}'.")


async def not_found(request: Request) -> Response:
    """Anything else on the login host."""
    return JSONResponse({"error": "not_found", "error_description": f"No such endpoint: {request.url.path}"},
                        status_code=404)


async def device_login_page(request: Request) -> Response:
    """A stand-in for https://microsoft.com/devicelogin: explains how to approve in the simulator."""
    text = ("KODO tenant simulator: approve a device code with\n"
            "  POST /_sim/device-codes/{user_code}/approve  {\"upn\": \"admin@contoso.onmicrosoft.com\"}\n"
            "or decline it with POST /_sim/device-codes/{user_code}/decline\n")
    return Response(text, media_type="text/plain")


ROUTES = [
    Route("/devicelogin", device_login_page, methods=["GET"]),
    Route("/common/discovery/instance", instance_discovery, methods=["GET"]),
    Route("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
    Route("/{tenant}/discovery/v2.0/keys", jwks, methods=["GET"]),
    Route("/{tenant}/oauth2/v2.0/devicecode", devicecode, methods=["POST"]),
    Route("/{tenant}/oauth2/v2.0/authorize", authorize, methods=["GET"]),
    Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
]
