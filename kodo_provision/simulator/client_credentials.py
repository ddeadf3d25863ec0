"""The client-credentials grant: an app signs in with a secret or a certificate assertion and gets
an app-only token whose roles are its live app role assignments.
https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow"""

from __future__ import annotations

import base64
import secrets
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import jwt
from starlette.responses import JSONResponse

from . import clock
from .aad import AadError, resource_service_principal
from .core import SimulatorCore
from .graph.applications import secret_hash
from .store import Tenant


def client_credentials_token(core: SimulatorCore, tenant: Tenant | None, form: Any, request_url: str) -> JSONResponse:
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
        _check_client_assertion(request_url, client_id, app, str(assertion), form,
                                core.faults.faults.new_secret_delay_ms / 1000.0)
    else:
        _check_secret(core, client_id, app, str(secret))
    return _app_only_token(core, tenant, client_id, client_sp, scopes)


def _check_client_assertion(token_url: str, client_id: str, app, assertion: str, form: Any,
                            new_key_delay_s: float = 0.0) -> None:
    """Certificate credentials: a JWT signed with a certificate registered on the app. Like a secret, a
    brand-new certificate is not usable for a few seconds (graph-facts §11.2: "secret or certificate").

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
    entry = next((c for c in app.extra.get("certs", {}).values()
                  if (sha256 and c["sha256"] == sha256) or (sha1 and c["sha1"] == sha1)), None)
    cert = entry["cert"] if entry is not None else None
    if entry is not None and clock.monotonic() - entry.get("created", float("-inf")) < new_key_delay_s:
        cert = None  # not replicated to the token service yet: answered as an unknown key
    if cert is None:
        raise AadError(401, "invalid_client", 700027,
                       "Client assertion failed signature validation. The key was not found: the certificate "
                       f"used to sign the assertion is not registered on application '{client_id}'.")
    claims = _verified_assertion_claims(assertion, cert)
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise AadError(401, "invalid_client", 700021, "Client assertion application identifier doesn't match "
                       "'client_id' parameter.")
    if not _is_token_endpoint_of(str(claims.get("aud", "")), token_url):
        raise AadError(401, "invalid_client", 700212,
                       f"No matching federated identity record found for presented assertion audience "
                       f"'{claims.get('aud')}'.")


# The assertion's claims (certificate-credentials, "Claims (payload)"): aud, exp, iss, jti and sub. nbf is
# listed too, but MSAL, the reference client, sends none (msal/oauth2cli/assertion.py adds it only when
# asked), so Entra cannot require it; iat is optional. A missing claim: unsure of Entra's exact code, the
# simulator refuses with the malformed-token one rather than accept.
ASSERTION_CLAIMS = ["aud", "exp", "iss", "jti", "sub"]


def _verified_assertion_claims(assertion: str, cert) -> dict[str, Any]:
    try:
        return jwt.decode(assertion, cert.public_key(), algorithms=["RS256", "PS256"],
                          options={"verify_aud": False, "require": ASSERTION_CLAIMS})
    except jwt.MissingRequiredClaimError as exc:
        raise AadError(401, "invalid_client", 50027, f"JWT token is invalid or malformed: {exc}.") from exc
    except (jwt.ExpiredSignatureError, jwt.ImmatureSignatureError) as exc:
        raise AadError(401, "invalid_client", 700024,
                       "Client assertion is not within its valid time range.") from exc
    except jwt.PyJWTError as exc:
        raise AadError(401, "invalid_client", 700027, "Client assertion failed signature validation.") from exc


def _is_token_endpoint_of(aud: str, token_url: str) -> bool:
    """The audience is the login server's token endpoint for the tenant the request is sent to:
    https://{host}/{tenant}/oauth2/v2.0/token (also the v1 /oauth2/token and the older /{tenant}/v2.0 the
    documentation once named). Stricter than needed where unsure: the tenant segments must match."""
    got, sent = urlsplit(aud), urlsplit(token_url)
    tenant = sent.path.strip("/").split("/")[0].lower()
    forms = {f"/{tenant}/oauth2/v2.0/token", f"/{tenant}/oauth2/token", f"/{tenant}/v2.0"}
    return got.scheme == "https" and got.netloc.lower() == sent.netloc.lower() and \
        got.path.rstrip("/").lower() in forms


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
    if clock.monotonic() - meta["created"] < delay:
        # A brand-new secret is not accepted for a few seconds (graph-facts §11.2).
        raise invalid


def _app_only_token(core: SimulatorCore, tenant: Tenant, client_id: str, client_sp, scopes: list[str]) -> JSONResponse:
    resource = scopes[0][: -len("/.default")]
    rsp = resource_service_principal(tenant, resource)
    role_values = {r["id"].lower(): r["value"] for r in rsp.data.get("appRoles", [])}
    now_m = clock.monotonic()
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


