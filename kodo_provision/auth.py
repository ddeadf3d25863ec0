"""Sign-in. The only module that imports azure.identity.

Three ways to sign in (`--auth`):
- device-code (default): works over SSH and in Cloud Shell: the prompt goes to stderr and the
  admin approves on any device;
- browser: authorization code with PKCE through the system browser and a redirect to
  http://localhost:<port> (for tenants whose Conditional Access blocks the device-code flow);
- client-secret / certificate: the operator's own automation app (client credentials) that is
  already consented in the customer tenant; no user, no prompt.
The credentials are synchronous (azure-identity has no async device-code or browser credential),
so Graph calls reach them through a thread (see AsyncCredential).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO
from urllib.parse import urlparse

from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from azure.identity import (
    AuthenticationRecord,
    AuthenticationRequiredError,
    CertificateCredential,
    ClientSecretCredential,
    CredentialUnavailableError,
    DeviceCodeCredential,
    InteractiveBrowserCredential,
    TokenCachePersistenceOptions,
)

from .cloud import Cloud
from .errors import KodoError, NetworkError, SignInError

# Microsoft Graph Command Line Tools: a public client that may request explicit Graph scopes
# (so the admin consents to exactly the least-privilege set below). Azure CLI's client ID,
# azure-identity's default, is preauthorised for a fixed scope set and fails explicit scopes
# with AADSTS65002. Pass --client-id to use KODO's or the customer's own public client.
GRAPH_CLI_CLIENT_ID = "14d82eec-204b-4c2f-b7e8-296a70dab67e"

# Least-privilege delegated scopes: create the app, add its secret and service principal
# (Application.ReadWrite.All), grant application permissions (AppRoleAssignment.ReadWrite.All),
# grant delegated permissions (DelegatedPermissionGrant.ReadWrite.All), read the signed-in
# user and tenant (User.Read) and the user's directory roles for the preflight check
# (RoleManagement.Read.Directory).
# https://learn.microsoft.com/en-us/graph/api/serviceprincipal-post-approleassignedto
# https://learn.microsoft.com/en-us/graph/api/oauth2permissiongrant-post
# https://learn.microsoft.com/en-us/graph/api/application-upsert
ADMIN_SCOPES = (
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "RoleManagement.Read.Directory",
    "User.Read",
)

TENANT_PATTERN = re.compile(r"^(?:[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}|"
                            r"(?=.{4,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                            r"[A-Za-z]{2,63})$")

# AADSTS codes a sign-in can end with, and what the admin should do about each.
# https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
_AADSTS_HINTS = {
    "90002": "tenant not found: check the tenant ID or domain (and --cloud)",
    "900023": "the tenant is not a valid tenant ID or domain",
    "70000": "the sign-in was declined: run again and approve the sign-in",
    "65004": "the sign-in was declined in the browser: run again and accept the sign-in",
    "70016": "the sign-in was not completed in time: run again and enter the code sooner",
    "7000218": "the code expired: run again",
    "50076": "multi-factor authentication is required: complete it in the browser",
    "50105": "the signed-in user is not assigned to the client app",
    "65001": "the client app is not consented in this tenant: an admin must consent at sign-in",
    "65002": "this client ID cannot request explicit Graph scopes: use the default --client-id",
    "700016": "the client app does not exist in this tenant or cloud: check --client-id and --cloud",
    "7000215": "the client secret is wrong or not yet active",
    "50020": "the signed-in user has no access to this tenant (no delegated admin (GDAP) relationship or guest "
             "account): add one, or sign in to this tenant directly",
}
# The same codes mean something else when the operator's automation app signs in.
_APP_IDENTITY_HINTS = {
    "700016": "the automation app has no service principal in this tenant: a tenant admin must consent to it "
              "there (or check --auth-client-id and --cloud)",
    "7000215": "the automation app's secret is wrong or expired: check KODO_AUTH_CLIENT_SECRET",
}


def validate_tenant(tenant: str) -> str:
    """A tenant GUID or a verified domain; anything else is refused before sign-in."""
    value = tenant.strip()
    if not TENANT_PATTERN.match(value):
        from .errors import UsageError

        raise UsageError(f"{tenant!r} is not a tenant ID or domain",
                         hint="pass the directory (tenant) GUID or a verified domain such as "
                              "contoso.onmicrosoft.com")
    return value.lower()


def _aadsts(message: str) -> str | None:
    match = re.search(r"AADSTS(\d+)", message)
    return match.group(1) if match else None


_UNREACHABLE = ("Failed to establish a new connection", "Max retries exceeded", "Name or service not known",
                "Connection refused", "ProxyError", "Temporary failure in name resolution")


# Conditional Access refusals: a policy blocked token issuance (53003), or wants a compliant (53000) or
# domain-joined (53001) device, or a tenant security policy blocked the request (530032). A policy on
# "Authentication flows" can target the device-code flow alone, and Microsoft "recommends blocking
# device code flow wherever possible"; the authorization-code flow in a browser (--auth browser) is the
# documented way out (Azure CLI docs: "use authorization code flow or service principal to sign in").
# https://learn.microsoft.com/en-us/entra/identity/conditional-access/concept-authentication-flows
# https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes (AADSTS53003)
CONDITIONAL_ACCESS_CODES = frozenset({"53000", "53001", "53003", "530032"})

AUTH_METHODS = ("device-code", "browser", "client-secret", "certificate")


def _conditional_access_hint(method: str) -> str:
    if method == "device-code":
        return ("the tenant's policy may block the device-code flow: run again with --auth browser, "
                "or ask the tenant admin to allow this sign-in")
    if method == "browser":
        return ("ask the tenant admin which policy blocked it (Entra sign-in logs, Conditional Access tab), "
                "or use your automation app with --auth client-secret|certificate")
    return ("a Conditional Access policy for workload identities blocks the automation app: ask the tenant admin "
            "to exclude it, or sign in as an administrator with --auth browser")


def translate_auth_error(exc: Exception, *, host: str, what: str = "sign-in", tenant: str | None = None,
                         method: str = "device-code") -> KodoError:
    """ClientAuthenticationError / transport errors -> a one-line error with a hint. `method` (an --auth
    value) picks the alternative sign-in a Conditional Access refusal points to."""
    message = getattr(exc, "message", None) or str(exc)
    first_line = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
    # azure-identity wraps transport failures in ClientAuthenticationError too; the text tells.
    if "CERTIFICATE_VERIFY_FAILED" in message or "SSLError" in message:
        return NetworkError(f"TLS certificate of {host} is not trusted", detail=first_line[:300],
                            hint="behind a TLS-inspecting proxy pass --ca-bundle PATH (or set REQUESTS_CA_BUNDLE)")
    if isinstance(exc, ServiceRequestError) or any(m in message for m in _UNREACHABLE):
        return NetworkError(f"cannot reach {host}", detail=first_line[:300],
                            hint="check the network, DNS, HTTPS_PROXY/NO_PROXY, or --authority-host")
    if "Unable to get authority configuration" in message:
        # MSAL reports an unknown tenant (AADSTS90002 on the discovery document) this way.
        return SignInError(f"tenant {tenant or ''} not found at {host}".replace("  ", " "),
                           hint="check the tenant ID or domain, and --cloud for national-cloud tenants")
    code = _aadsts(message)
    if code in CONDITIONAL_ACCESS_CODES:
        return SignInError(f"{what} blocked by Conditional Access (AADSTS{code})", detail=first_line[:300],
                           hint=_conditional_access_hint(method))
    lowered = message.lower()
    if code in _APP_IDENTITY_HINTS and method in ("client-secret", "certificate"):
        hint = _APP_IDENTITY_HINTS[code]
    elif code in _AADSTS_HINTS:
        hint = _AADSTS_HINTS[code]
    elif "declined" in lowered or "access_denied" in lowered:
        hint = _AADSTS_HINTS["70000"]
    elif "expired" in lowered or "timed out" in lowered:
        hint = (_AADSTS_HINTS["7000218"] if method == "device-code"
                else "the sign-in was not completed in the browser in time: run again")
    else:
        hint = "run again; if it persists, check --tenant, --cloud and --client-id"
    summary = f"{what} failed" + (f" with AADSTS{code}" if code else "")
    return SignInError(summary, detail=first_line[:300], hint=hint)


def decode_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, without verifying it (we only read what the issuer told us)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        return json.loads(base64.urlsafe_b64decode(payload))
    except (IndexError, ValueError):
        return {}


def print_device_code_prompt(stream: TextIO) -> Callable[[str, str, datetime], None]:
    """A prompt callback that writes the code to `stream` (stderr), never to stdout."""
    def prompt(verification_uri: str, user_code: str, expires_on: datetime) -> None:
        stream.write(f"To sign in, open {verification_uri} and enter the code {user_code} "
                     f"(valid until {expires_on:%H:%M} UTC).\n")
        stream.flush()
    return prompt


@dataclass
class SignedInUser:
    """Who signed in, from the ID token the authority returned."""

    username: str
    tenant_id: str
    home_account_id: str


class AsyncCredential:
    """Runs the synchronous azure-identity credential in a worker thread.

    msgraph's kiota provider calls get_token inside the event loop; a sync credential would
    block every other tenant's work while MSAL refreshes a token (graph-facts §1).
    """

    def __init__(self, credential: Any) -> None:
        self._credential = credential

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return await asyncio.to_thread(self._credential.get_token, *scopes, **kwargs)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> AsyncCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        return None


class InteractiveSignIn:
    """One operator sign-in (a user); tokens for Graph come from its cache without new prompts.
    Subclasses choose how the user signs in (device code, browser)."""

    method = "device-code"

    def __init__(self, cloud: Cloud, tenant: str, *, client_id: str = GRAPH_CLI_CLIENT_ID,
                 ca_bundle: str | None = None, prompt_stream: TextIO | None = None,
                 timeout_s: int | None = None, additionally_allowed_tenants: tuple[str, ...] = (),
                 disable_automatic_authentication: bool = False, persistent_cache: bool = False,
                 allow_unencrypted_cache: bool = False, authentication_record: str | None = None) -> None:
        """`additionally_allowed_tenants` (e.g. ("*",)) lets get_token(tenant_id=T) redeem this sign-in's
        refresh token at other tenants (graph-facts §4); `disable_automatic_authentication` makes a failed
        silent request raise instead of prompting again (bulk: one prompt, no surprise prompts)."""
        self.cloud = cloud
        self.tenant = tenant
        self.scopes = tuple(cloud.graph_scope(s) for s in ADMIN_SCOPES)
        self.prompt_stream = prompt_stream or sys.stderr
        kwargs: dict[str, Any] = {
            "client_id": client_id,
            "tenant_id": tenant,
            "authority": cloud.authority_host,
            "disable_instance_discovery": not cloud.known_authority,
        }
        if ca_bundle:
            kwargs["connection_verify"] = ca_bundle
        if timeout_s:
            kwargs["timeout"] = timeout_s
        if additionally_allowed_tenants:
            kwargs["additionally_allowed_tenants"] = list(additionally_allowed_tenants)
        if disable_automatic_authentication:
            kwargs["disable_automatic_authentication"] = True
        self.record: AuthenticationRecord | None = None
        if persistent_cache:
            # `login`: tokens survive the process, OS-protected (DPAPI, Keychain, libsecret); a
            # plaintext file only when the user asked for it (graph-facts §4).
            kwargs["cache_persistence_options"] = TokenCachePersistenceOptions(
                name=TOKEN_CACHE_NAME, allow_unencrypted_storage=allow_unencrypted_cache)
        if authentication_record:
            # The record names the authority; passing authority= as well raises TypeError (graph-facts §4).
            kwargs.pop("authority", None)
            self.record = AuthenticationRecord.deserialize(authentication_record)
            kwargs["authentication_record"] = self.record
            kwargs["disable_automatic_authentication"] = True
        self._credential = self._make_credential(kwargs)

    def _make_credential(self, kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError

    @property
    def host(self) -> str:
        return urlparse(self.cloud.authority_host).hostname or self.cloud.authority_host

    def _announce(self) -> None:
        """Tell the user what happens next (before the credential blocks)."""

    def sign_in(self) -> SignedInUser:
        """Prompt once. enable_cae=True because msgraph asks for CAE tokens, and azure-identity
        keeps CAE tokens in a separate cache: without it the first Graph call prompts again."""
        self._announce()
        try:
            self.record = self._credential.authenticate(scopes=list(self.scopes), enable_cae=True)
        except (ClientAuthenticationError, ServiceRequestError, ValueError) as exc:
            raise _sign_in_error(exc, host=self.host, tenant=self.tenant, method=self.method) from None
        return SignedInUser(self.record.username, self.record.tenant_id, self.record.home_account_id)

    def resume(self) -> SignedInUser | None:
        """With a saved AuthenticationRecord (see login.py): a token from the persistent cache,
        silently. None when Entra wants a new sign-in (refresh token expired or revoked)."""
        assert self.record is not None, "resume() needs authentication_record="
        try:
            self._credential.get_token(*self.scopes, enable_cae=True)
        except AuthenticationRequiredError:
            return None
        except (ClientAuthenticationError, ServiceRequestError, ValueError) as exc:
            raise _sign_in_error(exc, host=self.host, tenant=self.tenant, method=self.method) from None
        return SignedInUser(self.record.username, self.record.tenant_id, self.record.home_account_id)

    def serialized_record(self) -> str:
        assert self.record is not None
        return self.record.serialize()

    def graph_credential(self) -> AsyncCredential:
        return AsyncCredential(self._credential)

    def token_claims_for(self, tenant_id: str) -> dict[str, Any]:
        """Claims of a Graph token for `tenant_id` from this sign-in, without a prompt: the refresh
        token is redeemed at that tenant's authority (graph-facts §4). Synchronous: run it in a thread.
        Raises SignInError naming the AADSTS code (e.g. 50020: the user has no access there)."""
        try:
            token = self._credential.get_token(*self.scopes, tenant_id=tenant_id, enable_cae=True)
        except (ClientAuthenticationError, ServiceRequestError) as exc:
            # AuthenticationRequiredError's message is generic; Entra's words are in the response body.
            response = getattr(exc, "response", None)
            body = ""
            if response is not None:
                with contextlib.suppress(Exception):
                    body = str(json.loads(response.text()).get("error_description") or "")
            if body:
                exc = ClientAuthenticationError(message=body)
            raise translate_auth_error(exc, host=self.host, what=f"token for tenant {tenant_id}",
                                       tenant=tenant_id, method=self.method) from None
        return decode_claims(token.token)


class DeviceCodeSignIn(InteractiveSignIn):
    """Device-code sign-in: the code goes to stderr; the admin approves on any device."""

    method = "device-code"

    def _make_credential(self, kwargs: dict[str, Any]) -> Any:
        kwargs["prompt_callback"] = print_device_code_prompt(self.prompt_stream)
        return DeviceCodeCredential(**kwargs)


class BrowserSignIn(InteractiveSignIn):
    """Authorization code with PKCE in the system browser (`--auth browser`).

    azure-identity's InteractiveBrowserCredential listens on http://localhost:<first free port in
    8400-8999>, opens the authorize URL with Python's `webbrowser` (which honours $BROWSER) and asks
    for response_mode=form_post, so the redirect arrives as a POST from the browser. Public clients
    such as Microsoft Graph Command Line Tools accept any http://localhost port as redirect URI.
    https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-auth-code-flow
    https://learn.microsoft.com/en-us/entra/identity-platform/reply-url#localhost-exceptions
    """

    method = "browser"

    def _make_credential(self, kwargs: dict[str, Any]) -> Any:
        self.timeout_s = int(kwargs.get("timeout") or 300)  # azure-identity's default: 5 minutes
        kwargs["timeout"] = self.timeout_s
        return InteractiveBrowserCredential(**kwargs)

    def _announce(self) -> None:
        self.prompt_stream.write(f"Opening a browser to sign in (waiting up to {self.timeout_s // 60 or 1} min; "
                                 "no browser here? use --auth device-code).\n")
        self.prompt_stream.flush()


SIGN_IN_CLASSES: dict[str, type[InteractiveSignIn]] = {"device-code": DeviceCodeSignIn, "browser": BrowserSignIn}


TOKEN_CACHE_NAME = "kodo_provision"


def _sign_in_error(exc: Exception, *, host: str, tenant: str, method: str = "device-code") -> Exception:
    """Like translate_auth_error, plus the persistent cache's failure: azure-identity raises
    ValueError (wrapped in ClientAuthenticationError by get_token) when the OS cannot encrypt the
    cache (Linux without libsecret, e.g. over SSH or in a container); and the browser sign-in's
    own failures (no browser to open, no free localhost port)."""
    from .errors import UsageError

    message = str(exc)
    if isinstance(exc, CredentialUnavailableError) and "browser" in message.lower():
        # webbrowser.open() found no browser: an SSH session or a server without a desktop.
        return SignInError("no web browser could be opened for the sign-in", detail=message.splitlines()[0][:200],
                           hint="over SSH or on a server without a desktop use --auth device-code "
                                "(or set BROWSER to a browser command)")
    if isinstance(exc, CredentialUnavailableError) and "HTTP server" in message:
        return SignInError("cannot receive the browser's redirect on localhost", detail=message[:200],
                           hint="free a port in 8400-8999 on localhost, or use --auth device-code")
    if "Cache encryption is impossible" in message:
        return UsageError("cannot keep the sign-in encrypted: no usable keyring (libsecret) on this system",
                          hint="pass --allow-unencrypted-cache to keep it in a 0600 file under ~/.IdentityService, "
                               "or skip `login` (each command then asks for a device code)")
    if isinstance(exc, ValueError):
        return exc
    return translate_auth_error(exc, host=host, tenant=tenant, method=method)


def _authority_kwargs(cloud: Cloud, ca_bundle: str | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "authority": cloud.authority_host,
        "disable_instance_discovery": not cloud.known_authority,
    }
    if ca_bundle:
        kwargs["connection_verify"] = ca_bundle
    return kwargs


class AppOnlyTokens:
    """App-only tokens (client credentials) for several resources from one credential: one
    discovery request and one TLS session instead of one per resource. Synchronous; close it."""

    def __init__(self, cloud: Cloud, tenant_id: str, client_id: str, client_secret: str, *,
                 ca_bundle: str | None = None) -> None:
        self._setup(cloud, tenant_id)
        self._credential = ClientSecretCredential(tenant_id, client_id, client_secret,
                                                  **_authority_kwargs(cloud, ca_bundle))

    def _setup(self, cloud: Cloud, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self.host = urlparse(cloud.authority_host).hostname or cloud.authority_host

    def claims(self, resource: str) -> dict[str, Any]:
        """The claims of a fresh app-only token for `resource` (e.g. https://graph.microsoft.com)."""
        try:
            token = self._credential.get_token(f"{resource.rstrip('/')}/.default")
        except (ClientAuthenticationError, ServiceRequestError) as exc:
            raise translate_auth_error(exc, host=self.host, what="app-only token", tenant=self.tenant_id) from None
        return decode_claims(token.token)

    def close(self) -> None:
        self._credential.close()


class AppOnlyCertificateTokens(AppOnlyTokens):
    """AppOnlyTokens with a certificate: client-assertion JWTs signed by the private key in
    `certificate_path` (PEM with key + certificate). The x5t#S256 header names the certificate.
    https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials"""

    def __init__(self, cloud: Cloud, tenant_id: str, client_id: str, certificate_path: str, *,
                 ca_bundle: str | None = None) -> None:
        self._setup(cloud, tenant_id)
        self._credential = CertificateCredential(tenant_id, client_id, certificate_path,
                                                 **_authority_kwargs(cloud, ca_bundle))


# Application permissions the operator's automation app needs in the customer tenant for an
# onboarding run without a user: create the app, its secret and service principal; grant application
# permissions; grant delegated permissions; and read the organization (tenant name and domain).
# https://learn.microsoft.com/en-us/graph/api/application-upsert (Application.ReadWrite.All)
# https://learn.microsoft.com/en-us/graph/api/serviceprincipal-post-approleassignedto (AppRoleAssignment.ReadWrite.All)
# https://learn.microsoft.com/en-us/graph/api/oauth2permissiongrant-post (DelegatedPermissionGrant.ReadWrite.All)
# https://learn.microsoft.com/en-us/graph/api/organization-list (Organization.Read.All)
AUTOMATION_APP_ROLES = (
    "Application.ReadWrite.All",
    "AppRoleAssignment.ReadWrite.All",
    "DelegatedPermissionGrant.ReadWrite.All",
    "Organization.Read.All",
)


@dataclass(frozen=True)
class AuthSettings:
    """How the operator signs in (`--auth` and its options). The automation app's secret comes
    only from the environment (KODO_AUTH_CLIENT_SECRET): a flag's value would be visible in `ps`."""

    method: str = "device-code"
    app_client_id: str | None = None
    app_client_secret: str | None = field(default=None, repr=False)
    app_certificate_path: str | None = None

    @property
    def app_identity(self) -> bool:
        """Client credentials of the operator's automation app rather than a user."""
        return self.method in ("client-secret", "certificate")


@dataclass(frozen=True)
class AppCaller:
    """Who calls Graph when the operator's automation app signs in: from its token's claims
    (an app-only token has no user: `appid`, the service principal's `oid`, and `roles`)."""

    app_id: str
    object_id: str
    tenant_id: str
    roles: frozenset[str]

    @property
    def label(self) -> str:
        return f"app {self.app_id}"


class AppIdentitySignIn:
    """The operator's automation app (an MSP's multi-tenant app already consented in the customer
    tenant) with client credentials for the cloud's Graph `.default` scope: the token's `roles` are
    the application permissions consented in that tenant.
    https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow"""

    def __init__(self, cloud: Cloud, tenant: str, auth: AuthSettings, *, ca_bundle: str | None = None) -> None:
        assert auth.app_identity and auth.app_client_id
        self.cloud = cloud
        self.tenant = tenant
        self.method = auth.method
        self.scopes = (cloud.graph_scope(".default"),)
        self.host = urlparse(cloud.authority_host).hostname or cloud.authority_host
        self.caller: AppCaller | None = None
        kwargs = _authority_kwargs(cloud, ca_bundle)
        if auth.method == "certificate":
            assert auth.app_certificate_path
            try:
                self._credential: Any = CertificateCredential(tenant, auth.app_client_id, auth.app_certificate_path,
                                                              **kwargs)
            except (ValueError, OSError) as exc:
                from .errors import UsageError

                raise UsageError(f"cannot use the certificate {auth.app_certificate_path}", detail=str(exc)[:200],
                                 hint="pass --auth-certificate a PEM file holding the private key and the "
                                      "certificate") from None
        else:
            assert auth.app_client_secret
            self._credential = ClientSecretCredential(tenant, auth.app_client_id, auth.app_client_secret, **kwargs)

    def sign_in(self) -> SignedInUser:
        """A Graph token for the tenant; who the app is and its roles come from the token's claims.
        enable_cae=True: msgraph asks for CAE tokens, so this token is the one Graph calls reuse."""
        try:
            token = self._credential.get_token(*self.scopes, enable_cae=True)
        except (ClientAuthenticationError, ServiceRequestError) as exc:
            raise translate_auth_error(exc, host=self.host, what="automation app sign-in", tenant=self.tenant,
                                       method=self.method) from None
        claims = decode_claims(token.token)
        self.caller = AppCaller(str(claims.get("appid") or claims.get("azp") or ""), str(claims.get("oid") or ""),
                                str(claims.get("tid") or ""), frozenset(str(r) for r in claims.get("roles") or ()))
        return SignedInUser(self.caller.label, self.caller.tenant_id, self.caller.object_id)

    def graph_credential(self) -> AsyncCredential:
        return AsyncCredential(self._credential)


def acquire_app_token(cloud: Cloud, tenant_id: str, client_id: str, client_secret: str, resource: str,
                      *, ca_bundle: str | None = None) -> dict[str, Any]:
    """An app-only token (client credentials) for `resource`; returns its claims."""
    tokens = AppOnlyTokens(cloud, tenant_id, client_id, client_secret, ca_bundle=ca_bundle)
    try:
        return tokens.claims(resource)
    finally:
        tokens.close()
