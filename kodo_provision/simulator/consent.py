"""Delegated consent as Entra records and enforces it: who the client is, what it was granted in a
tenant, and where consent can be given.

What the simulator models (each from Microsoft's documentation or a public report of the real
response):
- Consent is given only on an interactive page (the device-code verification page, `/authorize`).
  There, a user who may consent for the organization records it in *that* tenant: the client's
  service principal (if missing) and a tenant-wide (AllPrincipals) oauth2PermissionGrant holding
  the consented scopes.
  https://learn.microsoft.com/en-us/entra/identity-platform/consent-types-developer
  https://learn.microsoft.com/en-us/entra/identity/enterprise-apps/grant-admin-consent
- Who may consent for the organization to delegated permissions: Global Administrator, Privileged
  Role Administrator, Cloud Application Administrator, Application Administrator (the last two not
  to Microsoft Graph *app roles*, which are not delegated). A user without such a role sees "Need
  admin approval" and can only go back: the sign-in ends as declined (AADSTS65004). The simulator
  models no user consent at all (tenants commonly disable it; the tool only asks admin scopes).
  https://learn.microsoft.com/en-us/entra/identity/enterprise-apps/configure-user-consent
- A silent request - a refresh token, also one redeemed at another tenant where the user is a guest
  or a delegated (GDAP) admin - gets only scopes already granted in that tenant (or preauthorized
  for a first-party client); otherwise AADSTS65001 with suberror consent_required, whatever the
  user's role. Public reports: microsoft/Partner-Center-DotNet-Samples#49, KelvinTegelaar/CIPP#1716,
  microsoft/BCTech#149 (shared/graph-facts.md §12).
- A first-party client (Azure CLI) is preauthorized for a fixed scope set and cannot ask for
  explicit scopes: AADSTS65002 (msgraph-sdk-python PR #678 review; msgraph-cli#48). Its set is
  undocumented; the simulator's is deliberately narrower than what is reported for real tokens.
- The token service sees a grant once it has replicated (Obj.visible with no session): a consent
  pushed through Partner Center reaches sign-ins after the tenant's consent_propagation_s.
- A client must exist: a directory app (visible to the token service, so not right after it was
  created), multi-tenant to sign in elsewhere than at home (AADSTS700016 otherwise), and allowing
  public client flows for device code / refresh without a secret (AADSTS7000218 otherwise).
  https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from .aad import AadError, resource_service_principal, split_scopes
from .catalogue import MICROSOFT_GRAPH_APP_ID, stable_id
from .roles import CONSENT_EXCEPT_GRAPH_APP_ROLES
from .store import Directory, Obj, Tenant, User

if TYPE_CHECKING:
    from .core import SimulatorCore

GRAPH_CLI_TOOLS = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
AZURE_CLI = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"
# Graph Explorer's public client, which asks for explicit Graph scopes like Graph CLI Tools (its authorize
# requests: microsoftgraph/microsoft-graph-explorer#182). Another client than the tool's: under additive
# scopes (consent.py: scopes_for_token) what an admin consents to it never reaches the tool's tokens.
GRAPH_EXPLORER = "de8bc8b5-d9f9-48b1-a8ad-b748da725064"
# The tenant that owns Microsoft Graph Command Line Tools (a third-party-style registration;
# graph-facts §10) and Microsoft's own tenant for first-party clients.
GRAPH_CLI_OWNER = "cdc5aeea-15c5-4db6-b079-fcadd2505dc2"
MICROSOFT_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"

# Azure CLI's preauthorized Microsoft Graph scopes in the simulator. Narrower than public reports
# of real tokens (unverified there), so a tool must check `scp` rather than assume.
AZURE_CLI_GRAPH_SCOPES = frozenset({
    "Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All", "Directory.AccessAsUser.All",
    "Group.ReadWrite.All", "User.ReadWrite.All", "User.Read",
})


@dataclass(frozen=True)
class ClientApp:
    """The client of a user sign-in, as the token service knows it."""

    client_id: str
    display_name: str
    owner_tenant_id: str
    multi_tenant: bool = True
    public_client: bool = True
    # resource appId -> scopes: a first-party client's preauthorization (no consent, fixed set)
    preauthorized: dict[str, frozenset[str]] = field(default_factory=dict)
    # resource appId -> delegated scopes the app registration lists (what `.default` consents to)
    static_scopes: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def first_party(self) -> bool:
        """Preauthorized: consent never asked, explicit scopes refused."""
        return bool(self.preauthorized)


KNOWN_CLIENTS = {
    GRAPH_CLI_TOOLS: ClientApp(GRAPH_CLI_TOOLS, "Microsoft Graph Command Line Tools", GRAPH_CLI_OWNER),
    GRAPH_EXPLORER: ClientApp(GRAPH_EXPLORER, "Graph Explorer", MICROSOFT_TENANT),
    AZURE_CLI: ClientApp(AZURE_CLI, "Microsoft Azure CLI", MICROSOFT_TENANT,
                         preauthorized={MICROSOFT_GRAPH_APP_ID: AZURE_CLI_GRAPH_SCOPES}),
}


def _not_found(client_id: str, tenant: Tenant | None) -> AadError:
    where = tenant.display_name if tenant else "the directory"
    return AadError(400, "unauthorized_client", 700016,
                    f"Application with identifier '{client_id}' was not found in the directory '{where}'. This "
                    "can happen if the application has not been installed by the administrator of the tenant or "
                    "consented to by any user in the tenant. You may have sent your authentication request to "
                    "the wrong tenant.")


def client_app(directory: Directory, client_id: str, tenant: Tenant | None,
               preauthorized: dict[str, list[str]] | None = None) -> ClientApp:
    """The client asking for a user token at `tenant` (None: organizations/common), or AADSTS700016.
    A directory app is seen as the token service sees it: only after its creation replicated.
    `preauthorized`: a scenario's replacement Graph scope sets of first-party clients."""
    client_id = client_id.lower()
    if client_id in KNOWN_CLIENTS:
        known = KNOWN_CLIENTS[client_id]
        if known.first_party and preauthorized and client_id in preauthorized:
            return replace(known, preauthorized={MICROSOFT_GRAPH_APP_ID: frozenset(preauthorized[client_id])})
        return known
    found = directory.app_anywhere(client_id)
    if found is None or not found[1].visible():
        raise _not_found(client_id, tenant)
    home, app = found
    data = app.data
    multi = data.get("signInAudience") in ("AzureADMultipleOrgs", "AzureADandPersonalMicrosoftAccount")
    if tenant is not None and tenant.id != home.id and not multi:
        raise _not_found(client_id, tenant)
    static: dict[str, set[str]] = {}
    for rra in data.get("requiredResourceAccess") or []:
        for access in rra.get("resourceAccess") or []:
            if access.get("type") == "Scope":
                static.setdefault(rra["resourceAppId"].lower(), set()).add(access["id"])
    return ClientApp(client_id, data.get("displayName") or client_id, home.id, multi_tenant=multi,
                     public_client=bool(data.get("isFallbackPublicClient")),
                     static_scopes={k: frozenset(v) for k, v in static.items()})


def require_public_client(client: ClientApp) -> None:
    """Device code and refresh tokens without a secret need "Allow public client flows"."""
    if not client.public_client:
        raise AadError(401, "invalid_client", 7000218,
                       "The request body must contain the following parameter: 'client_assertion' or "
                       "'client_secret'.")


def granted_scopes(tenant: Tenant, client_id: str, resource_sp: Obj, user: User) -> set[str]:
    """Scopes the client holds for the resource in this tenant, as the token service sees them
    (replicated grants only): tenant-wide grants and the user's own."""
    client_sp = tenant.sp_by("appId", client_id)
    names: set[str] = set()
    if client_sp is None:
        return names
    for g in tenant.grants.values():
        d = g.data
        if d["clientId"] == client_sp.id and d["resourceId"] == resource_sp.id and g.visible() and (
                d["consentType"] == "AllPrincipals" or d.get("principalId") == user.id):
            names.update(d["scope"].split())
    return names


def _static_names(client: ClientApp, resource_sp: Obj) -> set[str]:
    ids = client.static_scopes.get(resource_sp.data["appId"].lower(), frozenset())
    by_id = {s["id"]: s["value"] for s in resource_sp.data.get("oauth2PermissionScopes") or []}
    return {by_id[i] for i in ids if i in by_id}


def consent_required(client: ClientApp, tenant: Tenant) -> AadError:
    """AADSTS65001 as a silent request gets it (suberror consent_required)."""
    err = AadError(400, "invalid_grant", 65001,
                   f"The user or administrator has not consented to use the application with ID "
                   f"'{client.client_id}' named '{client.display_name}'. Send an interactive authorization "
                   f"request for this user and resource.")
    err.suberror = "consent_required"
    return err


def scopes_for_token(client: ClientApp, tenant: Tenant, resource_sp: Obj, user: User, names: list[str],
                     *, interactive: bool, roles: tuple[str, ...]) -> set[str]:
    """The `scp` of a user token for `names` (may include ".default"), consenting on an interactive
    page where the user may, else AADSTS65001 (silent) or AADSTS65004 (the page was left)."""
    resource_app = resource_sp.data["appId"].lower()
    explicit = {n for n in names if n != ".default"}
    if client.first_party:
        if explicit:
            raise AadError(400, "invalid_grant", 65002,
                           "Consent between first party application '" + client.client_id + "' and first party "
                           "resource '" + resource_app + "' must be configured via preauthorization - "
                           "applications owned and operated by Microsoft must get approval from the API owner "
                           "before requesting tokens for that API.")
        return set(client.preauthorized.get(resource_app, frozenset()))
    held = granted_scopes(tenant, client.client_id, resource_sp, user)
    wanted = explicit | (_static_names(client, resource_sp) if ".default" in names and interactive else set())
    missing = wanted - held
    if missing or (not held and not wanted):
        if not interactive:
            raise consent_required(client, tenant)
        if missing:
            if not set(roles) & CONSENT_EXCEPT_GRAPH_APP_ROLES:
                raise AadError(400, "access_denied", 65004, "User declined to consent to access the app.")
            record_consent(tenant, client, resource_sp, missing)
            held |= missing
    # Additive scopes: the token carries every scope consented for this client and resource, not only the
    # ones asked for ("irrespective of ... how many scopes you add in the request ... it would be adding up
    # all the consents that have been consented until then", Microsoft Q&A, confirmed with the product team:
    # https://learn.microsoft.com/en-us/answers/questions/78683). Asking for less does not make a token weaker.
    return held


def ensure_client_sp(tenant: Tenant, client: ClientApp) -> Obj:
    """The client's service principal in `tenant`, created as consent creates it."""
    sp = tenant.sp_by("appId", client.client_id, include_hidden=True)
    if sp is not None:
        return sp
    sp_id = stable_id(tenant.id, "client-sp", client.client_id)
    sp = Obj({
        "id": sp_id, "appId": client.client_id, "displayName": client.display_name,
        "appDisplayName": client.display_name, "appOwnerOrganizationId": client.owner_tenant_id,
        "accountEnabled": True, "appRoleAssignmentRequired": False, "servicePrincipalType": "Application",
        "signInAudience": "AzureADMultipleOrgs", "servicePrincipalNames": [client.client_id], "tags": [],
        "appRoles": [], "oauth2PermissionScopes": [], "createdDateTime": "2026-01-01T00:00:00Z",
        "deletedDateTime": None,
    }, session=None)
    tenant.service_principals[sp_id] = sp
    return sp


def record_consent(tenant: Tenant, client: ClientApp, resource_sp: Obj, scopes: set[str],
                   *, visible_at: float = 0.0) -> Obj:
    """Admin consent for the organization: the client SP plus one AllPrincipals grant per resource
    holding every consented scope (one grant per client/resource pair; graph-facts §6)."""
    sp = ensure_client_sp(tenant, client)
    for g in tenant.grants.values():
        d = g.data
        if d["clientId"] == sp.id and d["resourceId"] == resource_sp.id and d["consentType"] == "AllPrincipals":
            d["scope"] = " ".join(sorted(set(d["scope"].split()) | scopes))
            g.visible_at = max(g.visible_at, visible_at)
            return g
    gid = stable_id(tenant.id, "consent-grant", sp.id, resource_sp.id)
    grant = Obj({"id": gid, "clientId": sp.id, "consentType": "AllPrincipals", "principalId": None,
                 "resourceId": resource_sp.id, "scope": " ".join(sorted(scopes))},
                visible_at=visible_at, session=None)
    tenant.grants[gid] = grant
    return grant


def seed_consents(directory: Directory) -> None:
    """Consents a scenario says were given before (e.g. an admin consented a tool last year)."""
    for tenant in directory.tenants.values():
        for c in tenant.spec.consents:
            client = client_app(directory, c.client_id, tenant)
            record_consent(tenant, client, resource_service_principal(tenant, c.resource), set(c.scopes))


def user_token_scopes(core: SimulatorCore, user: User, tenant: Tenant, client_id: str, scopes: list[str],
                      *, interactive: bool) -> tuple[str, set[str], list[str], tuple[str, ...]]:
    """(resource, the token's scp, the echoed scopes, the user's roles there) for a user token, with
    Entra's checks in order: the user's access to the tenant, the client, consent (consent.py)."""
    roles = core.directory.roles_in(user, tenant)
    home = core.directory.tenants[user.tenant_id]
    if roles is None:
        raise AadError(400, "invalid_grant", 50020,
                       f"User account '{user.upn}' from identity provider 'https://sts.windows.net/{home.id}/' "
                       f"does not exist in tenant '{tenant.display_name}' and cannot access the application "
                       f"'{client_id}' in that tenant. The account needs to be added as an external user in the "
                       "tenant first.")
    client = client_app(core.directory, client_id, tenant, core.scenario.sign_in.preauthorized_graph_scopes)
    require_public_client(client)
    resource, names, echoed = split_scopes(core, tenant, scopes)
    rsp = resource_service_principal(tenant, resource)
    granted = scopes_for_token(client, tenant, rsp, user, names, interactive=interactive, roles=roles)
    return resource, granted, echoed, roles
