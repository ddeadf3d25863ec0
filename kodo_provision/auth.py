"""Sign-in. The only module that imports azure.identity.

Device-code sign-in works over SSH and in Cloud Shell: the prompt goes to stderr and the
admin approves on any device. The credential is synchronous (azure-identity has no async
device-code credential), so Graph calls reach it through a thread (see AsyncCredential).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
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
    DeviceCodeCredential,
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
    "70016": "the sign-in was not completed in time: run again and enter the code sooner",
    "7000218": "the code expired: run again",
    "50076": "multi-factor authentication is required: complete it in the browser",
    "53003": "blocked by Conditional Access (device-code flow may be blocked): ask an admin to allow it",
    "50105": "the signed-in user is not assigned to the client app",
    "65001": "the client app is not consented in this tenant: an admin must consent at sign-in",
    "65002": "this client ID cannot request explicit Graph scopes: use the default --client-id",
    "700016": "the client app does not exist in this tenant or cloud: check --client-id and --cloud",
    "7000215": "the client secret is wrong or not yet active",
    "50020": "the signed-in user has no access to this tenant (no delegated admin (GDAP) relationship or guest "
             "account): add one, or sign in to this tenant directly",
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


def translate_auth_error(exc: Exception, *, host: str, what: str = "sign-in", tenant: str | None = None) -> KodoError:
    """ClientAuthenticationError / transport errors -> a one-line error with a hint."""
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
    lowered = message.lower()
    if code in _AADSTS_HINTS:
        hint = _AADSTS_HINTS[code]
    elif "declined" in lowered or "access_denied" in lowered:
        hint = _AADSTS_HINTS["70000"]
    elif "expired" in lowered or "timed out" in lowered:
        hint = _AADSTS_HINTS["7000218"]
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


class DeviceCodeSignIn:
    """One operator sign-in; tokens for Graph come from its cache without new prompts."""

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
        kwargs: dict[str, Any] = {
            "client_id": client_id,
            "tenant_id": tenant,
            "authority": cloud.authority_host,
            "disable_instance_discovery": not cloud.known_authority,
            "prompt_callback": print_device_code_prompt(prompt_stream or sys.stderr),
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
        self._credential = DeviceCodeCredential(**kwargs)

    @property
    def host(self) -> str:
        return urlparse(self.cloud.authority_host).hostname or self.cloud.authority_host

    def sign_in(self) -> SignedInUser:
        """Prompt once. enable_cae=True because msgraph asks for CAE tokens, and azure-identity
        keeps CAE tokens in a separate cache: without it the first Graph call prompts again."""
        try:
            self.record = self._credential.authenticate(scopes=list(self.scopes), enable_cae=True)
        except (ClientAuthenticationError, ServiceRequestError, ValueError) as exc:
            raise _sign_in_error(exc, host=self.host, tenant=self.tenant) from None
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
            raise _sign_in_error(exc, host=self.host, tenant=self.tenant) from None
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
                                       tenant=tenant_id) from None
        return decode_claims(token.token)


TOKEN_CACHE_NAME = "kodo_provision"


def _sign_in_error(exc: Exception, *, host: str, tenant: str) -> Exception:
    """Like translate_auth_error, plus the persistent cache's failure: azure-identity raises
    ValueError (wrapped in ClientAuthenticationError by get_token) when the OS cannot encrypt the
    cache (Linux without libsecret, e.g. over SSH or in a container)."""
    from .errors import UsageError

    message = str(exc)
    if "Cache encryption is impossible" in message:
        return UsageError("cannot keep the sign-in encrypted: no usable keyring (libsecret) on this system",
                          hint="pass --allow-unencrypted-cache to keep it in a 0600 file under ~/.IdentityService, "
                               "or skip `login` (each command then asks for a device code)")
    if isinstance(exc, ValueError):
        return exc
    return translate_auth_error(exc, host=host, tenant=tenant)


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


def acquire_app_token(cloud: Cloud, tenant_id: str, client_id: str, client_secret: str, resource: str,
                      *, ca_bundle: str | None = None) -> dict[str, Any]:
    """An app-only token (client credentials) for `resource`; returns its claims."""
    tokens = AppOnlyTokens(cloud, tenant_id, client_id, client_secret, ca_bundle=ca_bundle)
    try:
        return tokens.claims(resource)
    finally:
        tokens.close()
