"""The browser leg: authorization code with PKCE (authorize endpoint, code redemption).
https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .aad import CA_BLOCKED, AadError, core_of, default_tenant, resolve_tenant
from .consent import user_token_scopes
from .core import SignInOverride, SimulatorCore
from .store import Tenant, User

# "Authorization codes are short lived. Typically, they expire after about 10 minutes."
# https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow#redeem-a-code-for-an-access-token
AUTH_CODE_LIFETIME_S = 600


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
    t = tenant or default_tenant(core)
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
    core = core_of(request)
    q = request.query_params
    if "scope" in q:
        request.state.kodo_scopes = q["scope"]  # the request log: what the client asked for
    client_id = (q.get("client_id") or "").lower()
    redirect_uri = q.get("redirect_uri") or ""
    mode = q.get("response_mode") or "query"
    state = q.get("state")
    with core.lock:
        try:
            tenant = resolve_tenant(core, request.path_params["tenant"])
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
            return _auth_error(redirect_uri, mode, state, "access_denied", 53003, CA_BLOCKED)
        try:
            # The consent page: consent is recorded here by a user who may give it; anyone else can
            # only leave the "Need admin approval" page (consent.py).
            user_token_scopes(core, user, target, client_id, (q.get("scope") or "").split(), interactive=True)
        except AadError as e:
            if e.code == 700016:
                return _error_page(e.status, e.code, e.description)
            return _auth_error(redirect_uri, mode, state, e.error, e.code, e.description)
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


def redeem_auth_code(core: SimulatorCore, form: Any) -> AuthCode:
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


