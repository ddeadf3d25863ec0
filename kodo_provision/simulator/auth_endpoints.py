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

import base64
import hashlib
import html
import secrets
import string
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .core import DeviceCode, RefreshGrant, SignInOverride, SimulatorCore
from .graph.applications import secret_hash
from .store import Tenant, User
from .tokens import client_info

PSEUDO_TENANTS = {"organizations", "common"}
_OIDC_SCOPES = {"openid", "profile", "offline_access", "email"}
_GRAPH = "https://graph.microsoft.com"
# "Authorization codes are short lived. Typically, they expire after about 10 minutes."
# https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow#redeem-a-code-for-an-access-token
AUTH_CODE_LIFETIME_S = 600
_CA_BLOCKED = ("Access has been blocked by Conditional Access policies. The access policy does not allow token "
               "issuance.")


class AadError(Exception):
    """An error answered in Entra's token-endpoint JSON shape."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.code, self.description = status, error, code, description

    def response(self) -> JSONResponse:
        """{"error", "error_description": "AADSTSxxxx: ...", "error_codes", "timestamp", "trace_id", ...}"""
        trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
        ts = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        desc = (f"AADSTS{self.code}: {self.description}\r\nTrace ID: {trace}\r\nCorrelation ID: {corr}"
                f"\r\nTimestamp: {ts}")
        return JSONResponse(
            {
                "error": self.error,
                "error_description": desc,
                "error_codes": [self.code],
                "timestamp": ts,
                "trace_id": trace,
                "correlation_id": corr,
                "error_uri": f"https://login.microsoftonline.com/error?code={self.code}",
            },
            status_code=self.status,
        )


def _core(request: Request) -> SimulatorCore:
    return request.app.state.core


def _base(request: Request) -> str:
    # Endpoints are built from the Host header so they work as 127.0.0.1:PORT and, through the
    # CONNECT proxy, as login.microsoftonline.com.
    return f"https://{request.headers.get('host', request.url.netloc)}"


def _resolve_tenant(core: SimulatorCore, name: str) -> Tenant | None:
    """A tenant, None for organizations/common, or AADSTS90002 for an unknown one."""
    if name.lower() in PSEUDO_TENANTS:
        return None
    tenant = core.directory.resolve(name)
    if tenant is None:
        raise AadError(400, "invalid_tenant", 90002,
                       f"Tenant '{name}' not found. Check to make sure you have the correct tenant ID and are "
                       "signing into the correct cloud. Check with your subscription administrator, this may "
                       "happen if there are no active subscriptions for the tenant.")
    return tenant


async def _form(request: Request) -> dict[str, str]:
    """The urlencoded body (parsed here: Starlette's form() needs python-multipart, which we avoid)."""
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))


def _json_error(fn):
    async def wrapper(request: Request) -> Response:
        try:
            core = _core(request)
            return await fn(request, core)
        except AadError as e:
            return e.response()

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


# --- discovery ------------------------------------------------------------------------------------
@_json_error
async def openid_configuration(request: Request, core: SimulatorCore) -> Response:
    """GET /{tenant}/v2.0/.well-known/openid-configuration (MSAL needs authorization_endpoint,
    token_endpoint, device_authorization_endpoint; graph-facts §5)."""
    name = request.path_params["tenant"]
    with core.lock:
        tenant = _resolve_tenant(core, name)
    seg = tenant.id if tenant else name.lower()
    base = _base(request)
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


@_json_error
async def jwks(request: Request, core: SimulatorCore) -> Response:
    """GET /{tenant}/discovery/v2.0/keys - the signing keys."""
    return JSONResponse(core.issuer.jwks())


# --- device code ----------------------------------------------------------------------------------
def _user_code() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(9))


@_json_error
async def devicecode(request: Request, core: SimulatorCore) -> Response:
    """POST /{tenant}/oauth2/v2.0/devicecode - the device authorization request."""
    form = await _form(request)
    client_id = str(form.get("client_id") or "")
    if not client_id:
        raise AadError(400, "invalid_request", 900144,
                       "The request body must contain the following parameter: 'client_id'.")
    scopes = str(form.get("scope") or "").split()
    with core.lock:
        tenant = _resolve_tenant(core, request.path_params["tenant"])
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
    uri = f"{_base(request)}/devicelogin"
    return JSONResponse({
        "user_code": dc.user_code,
        "device_code": dc.device_code,
        "verification_uri": uri,
        "expires_in": s.expires_in,
        "interval": s.interval,
        "message": f"To sign in, use a web browser to open the page {uri} and enter the code {dc.user_code} "
        "to authenticate.",
    })


def _default_tenant(core: SimulatorCore) -> Tenant:
    name = core.scenario.sign_in.default_tenant
    t = core.directory.resolve(name) if name else None
    return t or next(iter(core.directory.tenants.values()))


def _auto_decide(core: SimulatorCore, dc: DeviceCode) -> None:
    """Auto-approval (scenario sign_in.auto_approve after delay_ms) or a set_sign_in override."""
    if dc.status != "pending":
        return
    tenant = core.directory.tenants.get(dc.tenant_id) if dc.tenant_id else _default_tenant(core)
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


# --- authorization code with PKCE ----------------------------------------------------------------
@dataclass
class AuthCode:
    """An issued authorization code: single use, short-lived, bound to client, redirect URI and PKCE."""

    code: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    code_challenge: str
    user: User
    tenant_id: str | None  # resolved tenant, None for organizations/common
    expires_at: float
    nonce: str | None = None  # OIDC: echoed in the id_token (MSAL checks it)
    redeemed: bool = False


def _is_loopback_http(uri: str) -> bool:
    """Public clients may redirect to http://localhost or the loopback IP on any port.
    https://learn.microsoft.com/en-us/entra/identity-platform/reply-url#localhost-exceptions"""
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1") and not parts.fragment


def _error_page(status: int, code: int, description: str) -> HTMLResponse:
    """Errors Entra shows in the browser instead of redirecting (unknown tenant, bad redirect URI)."""
    return HTMLResponse(f"<html><body><h1>Sign in</h1><p>AADSTS{code}: {html.escape(description)}</p></body></html>",
                        status_code=status)


def _auth_response(redirect_uri: str, mode: str, params: dict[str, str]) -> Response:
    """The redirect back to the client: an auto-submitting form (response_mode=form_post, which
    azure-identity and MSAL ask for) or a 302 with the query (or fragment)."""
    if mode == "form_post":
        inputs = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}" />'
                         for k, v in params.items())
        return HTMLResponse(
            f'<html><head><title>Working...</title></head><body><form method="POST" name="hiddenform" '
            f'action="{html.escape(redirect_uri)}">{inputs}<noscript><p>Script is disabled. Click Submit to '
            'continue.</p><input type="submit" value="Submit" /></noscript></form>'
            '<script language="javascript">document.forms[0].submit();</script></body></html>')
    sep = "#" if mode == "fragment" else ("&" if "?" in redirect_uri else "?")
    return RedirectResponse(f"{redirect_uri}{sep}{urlencode(params)}", status_code=302)


def _auth_error(redirect_uri: str, mode: str, state: str | None, error: str, code: int,
                description: str) -> Response:
    trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
    ts = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    params = {"error": error, "error_description": f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: "
              f"{corr} Timestamp: {ts}", "error_uri": f"https://login.microsoftonline.com/error?code={code}"}
    if state is not None:
        params["state"] = state
    return _auth_response(redirect_uri, mode, params)


def _browser_user(core: SimulatorCore, tenant: Tenant | None, login_hint: str | None
                  ) -> tuple[User | None, SignInOverride | None]:
    """Who "types their password": set_sign_in's user for the tenant (as for device codes), else the
    login_hint, else the tenant's sign_in_user."""
    t = tenant or _default_tenant(core)
    ov = core.sign_in_overrides.get(t.id if t else None) or core.sign_in_overrides.get(None)
    if ov is not None and ov.user:
        return core.directory.user_by_upn(ov.user), ov
    if login_hint and core.directory.user_by_upn(login_hint):
        return core.directory.user_by_upn(login_hint), ov
    return (t.sign_in_user if t else None), ov


async def authorize(request: Request) -> Response:
    """GET /{tenant}/oauth2/v2.0/authorize - the browser leg of the authorization code flow with PKCE.

    The simulator signs the user in at once (no pages): set_sign_in(user=...) picks who, decline=True
    answers like a user cancelling (access_denied, AADSTS65004), and a tenant's Conditional Access
    block_user_sign_in answers access_denied with AADSTS53003.
    """
    core = _core(request)
    q = request.query_params
    client_id = (q.get("client_id") or "").lower()
    redirect_uri = q.get("redirect_uri") or ""
    mode = q.get("response_mode") or "query"
    state = q.get("state")
    with core.lock:
        try:
            tenant = _resolve_tenant(core, request.path_params["tenant"])
        except AadError as e:
            return _error_page(e.status, e.code, e.description)
        if not client_id:
            return _error_page(400, 900144, "The request body must contain the following parameter: 'client_id'.")
        if not _is_loopback_http(redirect_uri):
            return _error_page(400, 50011, f"The redirect URI '{redirect_uri}' specified in the request does not match "
                               f"the redirect URIs configured for the application '{client_id}'.")
        if mode not in ("query", "fragment", "form_post"):
            return _error_page(400, 900144, f"Invalid response_mode '{mode}'.")
        if q.get("response_type") != "code":
            return _auth_error(redirect_uri, mode, state, "unsupported_response_type", 700054,
                               "response_type 'id_token' is not enabled for the application.")
        challenge = q.get("code_challenge") or ""
        if not challenge or (q.get("code_challenge_method") or "plain") != "S256":
            return _auth_error(redirect_uri, mode, state, "invalid_request", 9002325,
                               "Proof Key for Code Exchange is required: send code_challenge with "
                               "code_challenge_method=S256.")
        user, ov = _browser_user(core, tenant, q.get("login_hint"))
        if ov is not None and (ov.decline or ov.expire):
            return _auth_error(redirect_uri, mode, state, "access_denied", 65004,
                               "User declined to consent to access the app.")
        if user is None:
            return _error_page(400, 50034, "The user account does not exist in this directory.")
        target = tenant or core.directory.tenants[user.tenant_id]
        if target.spec.conditional_access.block_user_sign_in:
            return _auth_error(redirect_uri, mode, state, "access_denied", 53003, _CA_BLOCKED)
        ac = AuthCode(code=secrets.token_urlsafe(64), client_id=client_id, redirect_uri=redirect_uri,
                      scopes=(q.get("scope") or "").split(), code_challenge=challenge, user=user,
                      tenant_id=tenant.id if tenant else None, expires_at=time.time() + AUTH_CODE_LIFETIME_S,
                      nonce=q.get("nonce"))
        codes: dict[str, AuthCode] = core.auth_codes
        for old in [c for c, v in codes.items() if v.expires_at < time.time()]:
            del codes[old]
        codes[ac.code] = ac
    params = {"code": ac.code, "session_state": str(uuid.uuid4())}
    if state is not None:
        params["state"] = state
    return _auth_response(redirect_uri, mode, params)


def _redeem_auth_code(core: SimulatorCore, form: Any) -> AuthCode:
    """grant_type=authorization_code: the code once, before it expires, by the client it was issued
    to, with the same redirect URI and the PKCE verifier whose S256 hash is the challenge."""
    ac: AuthCode | None = core.auth_codes.get(str(form.get("code") or ""))
    if ac is None:
        raise AadError(400, "invalid_grant", 70000, "The provided value for the 'code' parameter is not valid.")
    if ac.redeemed:
        raise AadError(400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry "
                       "with a new valid code or use an existing refresh token.")
    if time.time() > ac.expires_at:
        raise AadError(400, "invalid_grant", 70008, "The provided authorization code or refresh token has expired "
                       "due to inactivity. Send a new interactive authorization request for this user and resource.")
    ac.redeemed = True  # a failed redemption below burns the code too, as in Entra
    if str(form.get("client_id") or "").lower() != ac.client_id:
        raise AadError(400, "invalid_grant", 70000, "The code was issued to a different client.")
    if str(form.get("redirect_uri") or "") != ac.redirect_uri:
        raise AadError(400, "invalid_grant", 50011, "The redirect URI in the token request does not match the one "
                       "used to obtain the authorization code.")
    verifier = str(form.get("code_verifier") or "")
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    if not verifier or not secrets.compare_digest(digest, ac.code_challenge):
        raise AadError(400, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied "
                       "in the authorization request.")
    return ac


# --- tokens ---------------------------------------------------------------------------------------
def _split_scopes(core: SimulatorCore, tenant: Tenant, scopes: list[str]) -> tuple[str, list[str], list[str]]:
    """(resource URI, permission names, the requested resource scopes verbatim)."""
    resource_scopes = [s for s in scopes if s.lower() not in _OIDC_SCOPES]
    if not resource_scopes:
        resource_scopes = [f"{_GRAPH}/User.Read"]
    resources: set[str] = set()
    names: list[str] = []
    for s in resource_scopes:
        if "/" in s.replace("://", ""):
            res, name = s.rsplit("/", 1)
        else:  # a bare name means Microsoft Graph
            res, name = _GRAPH, s
        resources.add(res.rstrip("/").lower())
        names.append(name)
    if len(resources) > 1:
        raise AadError(400, "invalid_scope", 28000,
                       "Provided value for the input parameter scope is not valid because it contains more than "
                       "one resource. Scope " + " ".join(scopes) + " is not valid.")
    res = resource_scopes[0].rsplit("/", 1)[0] if "/" in resource_scopes[0].replace("://", "") else _GRAPH
    return res.rstrip("/"), names, resource_scopes


def _resource_sp(tenant: Tenant, resource: str):
    sp = tenant.sp_for_resource(resource)
    if sp is None:
        raise AadError(400, "invalid_resource", 500011,
                       f"The resource principal named {resource} was not found in the tenant named "
                       f"{tenant.display_name}. This can happen if the application has not been installed by the "
                       "administrator of the tenant or consented to by any user in the tenant. You might have sent "
                       "your authentication request to the wrong tenant.")
    return sp


def _expand_default(core: SimulatorCore, tenant: Tenant, client_id: str, resource_sp, user: User) -> set[str]:
    """`.default` = what the client was granted in this tenant (oauth2PermissionGrants)."""
    client_sp = tenant.sp_by("appId", client_id)
    names: set[str] = set()
    if client_sp is not None:
        for g in tenant.grants.values():
            d = g.data
            if d["clientId"] == client_sp.id and d["resourceId"] == resource_sp.id and (
                    d["consentType"] == "AllPrincipals" or d.get("principalId") == user.id):
                names.update(d["scope"].split())
    if not names and resource_sp.data["appId"] == "00000003-0000-0000-c000-000000000000":
        names.update(core.scenario.sign_in.default_delegated_scopes)
    return names


def _issue_user_tokens(request: Request, core: SimulatorCore, user: User, tenant: Tenant, client_id: str,
                       scopes: list[str], *, nonce: str | None = None) -> JSONResponse:
    roles = core.directory.roles_in(user, tenant)
    home = core.directory.tenants[user.tenant_id]
    if roles is None:
        raise AadError(400, "invalid_grant", 50020,
                       f"User account '{user.upn}' from identity provider 'https://sts.windows.net/{home.id}/' "
                       f"does not exist in tenant '{tenant.display_name}' and cannot access the application "
                       f"'{client_id}' in that tenant. The account needs to be added as an external user in the "
                       "tenant first.")
    resource, names, echoed = _split_scopes(core, tenant, scopes)
    rsp = _resource_sp(tenant, resource)
    granted = set(n for n in names if n != ".default")
    if ".default" in names:
        granted |= _expand_default(core, tenant, client_id, rsp, user)
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
        at_claims["idp"] = f"https://sts.windows.net/{home.id}/"
    base = _base(request)
    id_claims = {
        "iss": f"{base}/{tenant.id}/v2.0", "aud": client_id, "iat": now, "nbf": now, "exp": now + life,
        "tid": tenant.id, "oid": user.id, "sub": at_claims["sub"], "preferred_username": user.upn,
        "name": user.display_name, "ver": "2.0",
    }
    if nonce:
        id_claims["nonce"] = nonce
    rt = secrets.token_urlsafe(48)
    core.refresh_tokens[rt] = RefreshGrant(user=user, client_id=client_id)
    oidc = [s for s in scopes if s.lower() in _OIDC_SCOPES]
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


def _client_credentials(core: SimulatorCore, tenant: Tenant | None, form: Any, request_url: str) -> JSONResponse:
    client_id = str(form.get("client_id") or "").lower()
    if tenant is None:
        raise AadError(400, "invalid_request", 50194,
                       f"Application '{client_id}' is not configured as a multi-tenant application. Usage of the "
                       "/common endpoint is not supported for such applications. Use a tenant-specific endpoint or "
                       "configure the application to be multi-tenant.")
    secret = form.get("client_secret")
    assertion = form.get("client_assertion")
    if not secret and not assertion:
        raise AadError(400, "invalid_client", 7000218,
                       "The request body must contain the following parameter: 'client_assertion' or "
                       "'client_secret'.")
    scopes = str(form.get("scope") or "").split()
    if len(scopes) != 1 or not scopes[0].endswith("/.default"):
        raise AadError(400, "invalid_scope", 1002012,
                       f"The provided value for scope {' '.join(scopes)} is not valid. Client credential flows must "
                       "have a scope value with /.default suffixed to the resource identifier (application ID URI).")
    client_sp = tenant.sp_by("appId", client_id)
    home = core.directory.app_anywhere(client_id)
    if client_sp is None or home is None or not home[1].visible():
        raise AadError(400, "unauthorized_client", 700016,
                       f"Application with identifier '{client_id}' was not found in the directory "
                       f"'{tenant.display_name}'. This can happen if the application has not been installed by the "
                       "administrator of the tenant or consented to by any user in the tenant. You may have sent "
                       "your authentication request to the wrong tenant.")
    app = home[1]
    if assertion:
        _check_client_assertion(request_url, client_id, app, str(assertion), form)
    else:
        _check_secret(core, client_id, app, str(secret))
    return _app_only_token(core, tenant, client_id, client_sp, scopes)


def _check_client_assertion(token_url: str, client_id: str, app, assertion: str, form: Any) -> None:
    """Certificate credentials: a JWT signed with a certificate registered on the app.

    https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials
    """
    if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
        raise AadError(400, "invalid_request", 7000216,
                       "'client_assertion', 'client_secret' or 'request' is required for the "
                       "'client_credentials' grant type.")
    try:
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as exc:
        raise AadError(401, "invalid_client", 50027, "JWT token is invalid or malformed.") from exc

    def thumb(name: str) -> bytes | None:
        v = header.get(name)
        return base64.urlsafe_b64decode(v + "=" * (-len(v) % 4)) if v else None

    sha256, sha1 = thumb("x5t#S256"), thumb("x5t")
    cert = next((c["cert"] for c in app.extra.get("certs", {}).values()
                 if (sha256 and c["sha256"] == sha256) or (sha1 and c["sha1"] == sha1)), None)
    if cert is None:
        raise AadError(401, "invalid_client", 700027,
                       "Client assertion failed signature validation. The key was not found: the certificate "
                       f"used to sign the assertion is not registered on application '{client_id}'.")
    try:
        claims = jwt.decode(assertion, cert.public_key(), algorithms=["RS256", "PS256"],
                            options={"verify_aud": False})
    except jwt.ExpiredSignatureError as exc:
        raise AadError(401, "invalid_client", 700024,
                       "Client assertion is not within its valid time range.") from exc
    except jwt.PyJWTError as exc:
        raise AadError(401, "invalid_client", 700027, "Client assertion failed signature validation.") from exc
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise AadError(401, "invalid_client", 700021, "Client assertion application identifier doesn't match "
                       "'client_id' parameter.")
    aud = urlsplit(str(claims.get("aud", "")))
    if aud.netloc != urlsplit(token_url).netloc or not aud.path.rstrip("/").endswith(
            ("/oauth2/v2.0/token", "/oauth2/token", "/v2.0")):
        raise AadError(401, "invalid_client", 700212,
                       f"No matching federated identity record found for presented assertion audience "
                       f"'{claims.get('aud')}'.")


def _check_secret(core: SimulatorCore, client_id: str, app, secret: str) -> None:
    h = secret_hash(secret)
    delay = core.faults.faults.new_secret_delay_ms / 1000.0
    invalid = AadError(401, "invalid_client", 7000215,
                       "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                       f"secret value, not the client secret ID, for a secret added to app '{client_id}'.")
    match = next(((kid, s) for kid, s in app.extra.get("secrets", {}).items() if s["hash"] == h), None)
    if match is None:
        raise invalid
    kid, meta = match
    cred = next(c for c in app.data["passwordCredentials"] if c["keyId"] == kid)
    if datetime.fromisoformat(cred["endDateTime"].replace("Z", "+00:00")) < datetime.now(UTC):
        raise AadError(401, "invalid_client", 7000222,
                       f"The provided client secret keys for app '{client_id}' are expired.")
    if time.monotonic() - meta["created"] < delay:
        # A brand-new secret is not accepted for a few seconds (graph-facts §11.2).
        raise invalid


def _app_only_token(core: SimulatorCore, tenant: Tenant, client_id: str, client_sp, scopes: list[str]) -> JSONResponse:
    resource = scopes[0][: -len("/.default")]
    rsp = _resource_sp(tenant, resource)
    role_values = {r["id"].lower(): r["value"] for r in rsp.data.get("appRoles", [])}
    now_m = time.monotonic()
    roles = sorted({
        role_values[a.data["appRoleId"].lower()]
        for a in tenant.assignments.values()
        if a.visible(now_m) and a.data["principalId"] == client_sp.id and a.data["resourceId"] == rsp.id
        and a.data["appRoleId"].lower() in role_values
    })
    now = int(time.time())
    life = core.scenario.sign_in.token_lifetime_s
    claims: dict[str, Any] = {
        "aud": resource, "iss": f"https://sts.windows.net/{tenant.id}/", "iat": now, "nbf": now, "exp": now + life,
        "tid": tenant.id, "oid": client_sp.id, "sub": client_sp.id, "appid": client_id, "appidacr": "1",
        "idtyp": "app", "ver": "1.0", "uti": secrets.token_urlsafe(16),
    }
    if roles:  # Entra omits the claim when nothing is assigned
        claims["roles"] = roles
    return JSONResponse({"token_type": "Bearer", "expires_in": life, "ext_expires_in": life,
                         "access_token": core.issuer.sign(claims)})


@_json_error
async def token(request: Request, core: SimulatorCore) -> Response:
    """POST /{tenant}/oauth2/v2.0/token: device_code, authorization_code, refresh_token and
    client_credentials grants.

    A `claims` parameter (CAE client capabilities) is accepted and ignored.
    """
    form = await _form(request)
    grant = str(form.get("grant_type") or "")
    with core.lock:
        tenant = _resolve_tenant(core, request.path_params["tenant"])
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
                raise AadError(400, "invalid_grant", 53003, _CA_BLOCKED)
            return _issue_user_tokens(request, core, dc.user, target, dc.client_id, dc.scopes)
        if grant == "authorization_code":
            ac = _redeem_auth_code(core, form)
            target = core.directory.tenants[ac.tenant_id] if ac.tenant_id else core.directory.tenants[ac.user.tenant_id]
            return _issue_user_tokens(request, core, ac.user, target, ac.client_id, ac.scopes, nonce=ac.nonce)
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
            return _issue_user_tokens(request, core, rt.user, target, rt.client_id, scopes)
        if grant == "client_credentials":
            return _client_credentials(core, tenant, form, f"{_base(request)}{request.url.path}")
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
