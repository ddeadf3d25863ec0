"""App-only tokens: the operator's automation app signing in (client credentials), and the
verification tokens of the KODO app itself (secret or certificate)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from azure.core.exceptions import AzureError
from azure.identity import ClientSecretCredential

from ..cloud import Cloud
from ..errors import UsageError, clip
from .assertion import certificate_credential
from .common import authority_kwargs, decode_claims
from .errors import translate_auth_error
from .user import AsyncCredential, SignedInUser


class AppOnlyTokens:
    """App-only tokens (client credentials) for several resources from one credential: one
    discovery request and one TLS session instead of one per resource. Synchronous; close it."""

    def __init__(self, cloud: Cloud, tenant_id: str, client_id: str, client_secret: str, *,
                 ca_bundle: str | None = None) -> None:
        self._setup(cloud, tenant_id)
        self._credential = ClientSecretCredential(tenant_id, client_id, client_secret,
                                                  **authority_kwargs(cloud, ca_bundle))

    def _setup(self, cloud: Cloud, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        self.host = urlparse(cloud.authority_host).hostname or cloud.authority_host

    def claims(self, resource: str) -> dict[str, Any]:
        """The claims of a fresh app-only token for `resource` (e.g. https://graph.microsoft.com)."""
        return self.token(resource)[1]

    def token(self, resource: str) -> tuple[str, dict[str, Any]]:
        """An app-only access token for `resource` and its claims (to call the resource with)."""
        try:
            token = self._credential.get_token(f"{resource.rstrip('/')}/.default")
        except AzureError as exc:  # ClientAssertionCredential raises transport errors unwrapped
            raise translate_auth_error(exc, host=self.host, what="app-only token", tenant=self.tenant_id) from None
        return token.token, decode_claims(token.token)

    def close(self) -> None:
        self._credential.close()


class AppOnlyCertificateTokens(AppOnlyTokens):
    """AppOnlyTokens with a certificate: client-assertion JWTs signed by the private key in
    `certificate_path` (PEM with key + certificate; auth/assertion.py). The x5t#S256 header names the
    certificate. https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials"""

    def __init__(self, cloud: Cloud, tenant_id: str, client_id: str, certificate_path: str, *,
                 ca_bundle: str | None = None) -> None:
        self._setup(cloud, tenant_id)
        self._credential: Any = certificate_credential(tenant_id, client_id, certificate_path,
                                                       authority=cloud.authority_host, connection_verify=ca_bundle)


def app_only_tokens(cloud: Cloud, tenant_id: str, client_id: str, secret: str, *, certificate_path: str | None,
                    ca_bundle: str | None) -> AppOnlyTokens:
    """The KODO app's own token source: its certificate when the credentials file names one, else its secret."""
    if certificate_path:
        return AppOnlyCertificateTokens(cloud, tenant_id, client_id, certificate_path, ca_bundle=ca_bundle)
    return AppOnlyTokens(cloud, tenant_id, client_id, secret, ca_bundle=ca_bundle)


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
        if auth.method == "certificate":
            assert auth.app_certificate_path
            try:
                self._credential: Any = certificate_credential(tenant, auth.app_client_id, auth.app_certificate_path,
                                                               authority=cloud.authority_host,
                                                               connection_verify=ca_bundle)
            except (ValueError, OSError) as exc:
                raise UsageError(f"cannot use the certificate {auth.app_certificate_path}", detail=clip(str(exc), 200),
                                 hint="pass --auth-certificate a PEM file holding the private key and the "
                                      "certificate") from None
        else:
            assert auth.app_client_secret
            self._credential = ClientSecretCredential(tenant, auth.app_client_id, auth.app_client_secret,
                                                      **authority_kwargs(cloud, ca_bundle))

    def sign_in(self) -> SignedInUser:
        """A Graph token for the tenant; who the app is and its roles come from the token's claims.
        enable_cae=True: msgraph asks for CAE tokens, so this token is the one Graph calls reuse."""
        try:
            token = self._credential.get_token(*self.scopes, enable_cae=True)
        except AzureError as exc:  # ClientAssertionCredential raises transport errors unwrapped
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
