"""Every Graph operation the provisioner performs, each under a named retry policy, returning
plain state values. With batched.py (the `$batch` reads and grants) and client.py, the only code
that touches msgraph models."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import httpx
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.request_information import RequestInformation
from msgraph import GraphServiceClient
from msgraph.generated.applications.item.add_password.add_password_post_request_body import (
    AddPasswordPostRequestBody,
)
from msgraph.generated.applications.item.remove_password.remove_password_post_request_body import (
    RemovePasswordPostRequestBody,
)
from msgraph.generated.applications_with_unique_name.applications_with_unique_name_request_builder import (
    ApplicationsWithUniqueNameRequestBuilder,
)
from msgraph.generated.models.app_role_assignment import AppRoleAssignment as GraphAppRoleAssignment
from msgraph.generated.models.application import Application as GraphApplication
from msgraph.generated.models.o_auth2_permission_grant import OAuth2PermissionGrant
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.password_credential import PasswordCredential
from msgraph.generated.models.public_client_application import PublicClientApplication
from msgraph.generated.models.required_resource_access import RequiredResourceAccess
from msgraph.generated.models.resource_access import ResourceAccess
from msgraph.generated.models.service_principal import ServicePrincipal as GraphServicePrincipal
from msgraph.generated.models.service_principal_lock_configuration import ServicePrincipalLockConfiguration
from msgraph.generated.oauth2_permission_grants.oauth2_permission_grants_request_builder import (
    Oauth2PermissionGrantsRequestBuilder,
)
from msgraph.generated.service_principals_with_app_id.service_principals_with_app_id_request_builder import (
    ServicePrincipalsWithAppIdRequestBuilder,
)

from ..output.logging import get_logger
from ..state.model import (
    Application,
    AppRoleAssignment,
    PermissionGrant,
    RequiredAccess,
    ResourceServicePrincipal,
    ServicePrincipal,
)
from ..state.policy import SecretPolicy
from . import json_state
from .batch import BatchCall, BatchOutcome, run_batch
from .errors import (
    GraphBadRequest,
    GraphConflict,
    GraphError,
    GraphForbidden,
    GraphNotFound,
    from_api_error,
    from_transport_error,
)
from .policy import app_policy_from_json
from .retry import Policy, RetrySettings, run_with_policy

T = TypeVar("T")
log = get_logger("kodo_provision.graph")

_RESOURCE_SP_FIELDS = ["id", "appId", "displayName", "servicePrincipalNames", "appRoles",
                       "oauth2PermissionScopes"]
_APP_FIELDS = ["id", "appId", "displayName", "uniqueName", "signInAudience", "requiredResourceAccess",
               "passwordCredentials", "tags", "servicePrincipalLockConfiguration", "keyCredentials",
               "isFallbackPublicClient"]


@dataclass(frozen=True)
class Organization:
    id: str
    display_name: str
    default_domain: str | None


@dataclass(frozen=True)
class Me:
    id: str
    user_principal_name: str


@dataclass(frozen=True)
class NewSecret:
    """A secret just created; secret_text exists only in memory and in the credentials file."""

    key_id: str
    secret_text: str = field(repr=False)  # a repr (a traceback, a debug log) never shows it
    end_date_time: datetime | None = None
    display_name: str = ""


def _s(value: Any) -> str:
    """A GUID-valued property, normalised to lower case for comparison."""
    return str(value).lower() if value is not None else ""


def _opaque(value: Any) -> str:
    """An opaque, case-sensitive id (app role assignment and oauth2PermissionGrant ids are
    base64url strings, not GUIDs): never change its case, or Graph answers 404."""
    return str(value) if value is not None else ""


def _select(builder: Any, fields: list[str], filter_: str | None = None) -> RequestConfiguration:
    params_cls = next(getattr(builder, n) for n in dir(builder) if n.endswith("GetQueryParameters"))
    params = params_cls(select=fields)
    if filter_:
        params.filter = filter_
    return RequestConfiguration(query_parameters=params)


def _rra_models(required: frozenset[RequiredAccess]) -> list[RequiredResourceAccess]:
    by_resource: dict[str, list[RequiredAccess]] = {}
    for item in sorted(required, key=lambda r: (r.resource_app_id, r.type, r.id)):
        by_resource.setdefault(item.resource_app_id, []).append(item)
    return [
        RequiredResourceAccess(resource_app_id=app_id,
                               resource_access=[ResourceAccess(id=uuid.UUID(a.id), type=a.type) for a in items])
        for app_id, items in by_resource.items()
    ]


def organization_from_json(page: dict[str, Any] | None) -> Organization:
    """GET /organization's page -> the tenant's ID, name and default domain."""
    org = ((page or {}).get("value") or [None])[0]
    if not org:
        raise GraphError("read organization", 200, None, "no organization returned")
    default = next((d.get("name") for d in org.get("verifiedDomains") or [] if d.get("isDefault")), None)
    return Organization(_s(org.get("id")), org.get("displayName") or "", default)


class GraphGateway:
    """The provisioner's view of one tenant's Graph."""

    def __init__(self, client: GraphServiceClient, settings: RetrySettings | None = None) -> None:
        self.client = client
        self.settings = settings or RetrySettings()
        # Resource APIs' service principals read by object ID: Microsoft's own, unchanged during a run, so a
        # re-plan poll after a --prune does not read them again.
        self._resources_by_id: dict[str, ResourceServicePrincipal] = {}

    # SDK bug (msgraph-sdk 1.65): GraphServiceClient.service_principals_with_app_id() and
    # .applications_with_unique_name() write the key into the client's *shared* path-parameter
    # dict, so two lookups built concurrently both request the last key. Build them on a copy.
    def sp_builder(self, app_id: str) -> ServicePrincipalsWithAppIdRequestBuilder:
        """The SDK's request builder for /servicePrincipals(appId='…') (batched reads build on it)."""
        return ServicePrincipalsWithAppIdRequestBuilder(self.client.request_adapter,
                                                        dict(self.client.path_parameters), app_id)

    def app_builder(self, unique_name: str) -> ApplicationsWithUniqueNameRequestBuilder:
        """The SDK's request builder for /applications(uniqueName='…') (upsert and batched reads)."""
        return ApplicationsWithUniqueNameRequestBuilder(self.client.request_adapter,
                                                        dict(self.client.path_parameters), unique_name)

    @staticmethod
    async def _translate(operation: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except APIError as exc:
            raise from_api_error(operation, exc) from None
        except httpx.HTTPError as exc:
            raise from_transport_error(operation, exc) from None

    async def call(self, operation: str, policy: Policy, call: Callable[[], Awaitable[T]]) -> T:
        """Run one Graph request under a named retry policy, its errors translated to ours."""
        return await run_with_policy(operation, policy, lambda: self._translate(operation, call), self.settings)

    async def send_json(self, info: RequestInformation) -> dict[str, Any] | None:
        """Send a request the SDK built and read its JSON answer ourselves (None for 204):
        SDK models of directory objects cost ~14 ms of CPU each to parse (see json_state)."""
        adapter: Any = self.client.request_adapter  # kiota types the primitive answer loosely
        # Expand the URL template once: kiota reads `info.url` three times per attempt (authentication, the
        # httpx request, tracing attributes) and expands the RFC 6570 template each time (~0.25 ms of CPU
        # each, a tenth of an onboarding's client CPU). The adapter sets the same base URL before it sends.
        # Setting `url` clears path and query parameters in place, and a request builder hands its own dicts
        # to the requests it builds: work on copies.
        info.path_parameters = {**info.path_parameters, "baseurl": adapter.base_url}
        info.query_parameters = dict(info.query_parameters)
        info.url = info.url
        raw = await adapter.send_primitive_async(info, "bytes", {"XXX": ODataError})
        return json.loads(raw) if raw else None

    async def batch(self, calls: list[BatchCall], *, label: str,
                     outer_policy: Policy = Policy.IDEMPOTENT) -> list[BatchOutcome]:
        """Send `calls` as JSON $batch requests (≤ 20 each), each retried under its own policy."""
        return await run_batch(self.client.request_adapter, calls, settings=self.settings,
                               translate=self._translate, outer_policy=outer_policy, label=label)

    # ---- reads -------------------------------------------------------------------------

    # Reads parse Graph's JSON (json_state) rather than SDK models: the first SDK deserialisation
    # of a directory object imports ~1,300 model modules (seconds of CPU) before any answer is used.

    async def _get_json(self, operation: str, policy: Policy, builder: Any,
                        fields: list[str] | None = None) -> dict[str, Any] | None:
        info = builder.to_get_request_information(_select(builder, fields) if fields else None)
        return await self.call(operation, policy, lambda: self.send_json(info))

    async def organization(self) -> Organization:
        page = await self._get_json("read organization", Policy.IDEMPOTENT, self.client.organization,
                                    ["id", "displayName", "verifiedDomains"])
        return organization_from_json(page)

    async def me(self) -> Me:
        user = await self._get_json("read signed-in user", Policy.IDEMPOTENT, self.client.me,
                                    ["id", "userPrincipalName"]) or {}
        return Me(_s(user.get("id")), user.get("userPrincipalName") or "")

    async def my_directory_role_template_ids(self) -> frozenset[str]:
        """Role template IDs of the signed-in user's directory roles (direct or via groups).
        https://learn.microsoft.com/en-us/graph/api/user-list-transitivememberof"""
        builder = self.client.me.transitive_member_of.graph_directory_role
        roles: list[Any] = []
        page = await self.call("read your directory roles", Policy.IDEMPOTENT,
                                lambda: builder.get(_select(builder, ["id", "displayName", "roleTemplateId"])))
        while page is not None:
            roles.extend(page.value or [])
            if not page.odata_next_link:
                break
            next_builder = builder.with_url(page.odata_next_link)
            page = await self.call("read your directory roles", Policy.IDEMPOTENT, next_builder.get)
        return frozenset(_s(r.role_template_id) for r in roles if r.role_template_id)

    async def _get_all_json(self, operation: str, builder: Any, fields: list[str] | None = None
                            ) -> list[dict[str, Any]]:
        """Every item of a collection, following @odata.nextLink (https://learn.microsoft.com/en-us/graph/paging)."""
        items: list[dict[str, Any]] = []
        page = await self._get_json(operation, Policy.IDEMPOTENT, builder, fields) or {}
        while True:
            items.extend(page.get("value") or [])
            link = page.get("@odata.nextLink")
            if not link:
                return items
            page = await self._get_json(operation, Policy.IDEMPOTENT, builder.with_url(link)) or {}

    async def delegated_admin_roles(self) -> dict[str, frozenset[str]]:
        """customer tenant ID -> the Entra role template IDs the signed-in partner user holds there through
        active GDAP relationships: the roles of each active access assignment whose security group the user
        is a member of. Delegated DelegatedAdminRelationship.Read.All; read in the partner tenant.
        https://learn.microsoft.com/en-us/graph/api/tenantrelationship-list-delegatedadminrelationships
        https://learn.microsoft.com/en-us/graph/api/delegatedadminrelationship-list-accessassignments"""
        relationships = self.client.tenant_relationships.delegated_admin_relationships
        active = [r for r in await self._get_all_json("read GDAP relationships", relationships)
                  if r.get("status") == "active"]
        groups = {_s(g.get("id")) for g in await self._get_all_json(
            "read your groups", self.client.me.transitive_member_of.graph_group, ["id"])}
        limit = asyncio.Semaphore(16)  # one read per relationship: many at a time, not hundreds

        async def assignments_of(rel: dict[str, Any]) -> list[dict[str, Any]]:
            async with limit:
                return await self._get_all_json(
                    "read GDAP access assignments",
                    relationships.by_delegated_admin_relationship_id(str(rel["id"])).access_assignments)

        roles: dict[str, set[str]] = {}
        for rel, assignments in zip(active, await asyncio.gather(*map(assignments_of, active)), strict=True):
            tenant = roles.setdefault(_s((rel.get("customer") or {}).get("tenantId")), set())
            for a in assignments:
                container = _s((a.get("accessContainer") or {}).get("accessContainerId"))
                if a.get("status") == "active" and container in groups:
                    tenant.update(_s(r.get("roleDefinitionId"))
                                  for r in (a.get("accessDetails") or {}).get("unifiedRoles") or [])
        return {t: frozenset(r) for t, r in roles.items()}

    async def resource_service_principal(self, app_id: str) -> ResourceServicePrincipal | None:
        try:
            sp = await self._get_json(f"read service principal of {app_id}", Policy.IDEMPOTENT,
                                      self.sp_builder(app_id), _RESOURCE_SP_FIELDS)
        except GraphNotFound:
            return None
        return json_state.resource_service_principal(sp) if sp else None

    async def resource_service_principal_by_id(self, object_id: str) -> ResourceServicePrincipal | None:
        """A resource API's service principal by object ID: the one a grant or assignment names.
        https://learn.microsoft.com/en-us/graph/api/serviceprincipal-get"""
        if object_id in self._resources_by_id:
            return self._resources_by_id[object_id]
        try:
            sp = await self._get_json(f"read service principal {object_id}", Policy.IDEMPOTENT,
                                      self.client.service_principals.by_service_principal_id(object_id),
                                      _RESOURCE_SP_FIELDS)
        except GraphNotFound:
            return None
        if not sp:
            return None
        self._resources_by_id[object_id] = found = json_state.resource_service_principal(sp)
        return found

    async def application_by_unique_name(self, unique_name: str, *,
                                         policy: Policy = Policy.IDEMPOTENT) -> Application | None:
        try:
            app = await self._get_json("read application", policy, self.app_builder(unique_name),
                                       _APP_FIELDS)
        except GraphNotFound:
            if Policy.REPLICATION_LAG in policy:
                raise
            return None
        return json_state.application(app) if app else None

    async def service_principal(self, app_id: str, *, policy: Policy = Policy.IDEMPOTENT
                                ) -> ServicePrincipal | None:
        try:
            sp = await self._get_json("read service principal", policy, self.sp_builder(app_id), ["id", "appId"])
        except GraphNotFound:
            if Policy.REPLICATION_LAG in policy:
                raise
            return None
        return json_state.service_principal(sp) if sp else None

    async def app_role_assignments(self, sp_id: str) -> tuple[AppRoleAssignment, ...]:
        """The app role assignments the service principal holds (every page), from Graph's JSON.
        https://learn.microsoft.com/en-us/graph/api/serviceprincipal-list-approleassignments"""
        builder = self.client.service_principals.by_service_principal_id(sp_id).app_role_assignments
        return await self._pages("read app role assignments", builder, json_state.assignments,
                                 Policy.IDEMPOTENT | Policy.REPLICATION_LAG)

    async def permission_grants(self, client_sp_id: str) -> tuple[PermissionGrant, ...]:
        """The delegated grants whose client is this service principal (every page), from Graph's JSON: the
        SDK's model of a grant collection imports msgraph's Entity tree (seconds of CPU the first time).
        https://learn.microsoft.com/en-us/graph/api/oauth2permissiongrant-list"""
        builder = self.client.oauth2_permission_grants
        params = Oauth2PermissionGrantsRequestBuilder.Oauth2PermissionGrantsRequestBuilderGetQueryParameters(
            filter=f"clientId eq '{client_sp_id}'")
        info = builder.to_get_request_information(RequestConfiguration(query_parameters=params))
        return await self._pages("read delegated grants", builder, json_state.grants, Policy.IDEMPOTENT, info)

    async def _pages(self, operation: str, builder: Any, parse: Any, policy: Policy,
                     first: Any = None) -> tuple[Any, ...]:
        """Every page of a collection read, each parsed by `parse` (json_state)."""
        info = first if first is not None else builder.to_get_request_information()
        page = await self.call(operation, policy, lambda: self.send_json(info)) or {}
        out = list(parse(page))
        while link := json_state.next_link(page):
            page = await self._get_json(operation, Policy.IDEMPOTENT, builder.with_url(link)) or {}
            out.extend(parse(page))
        return tuple(out)

    # ---- writes ------------------------------------------------------------------------

    async def upsert_application(self, unique_name: str, *, display_name: str, sign_in_audience: str,
                                 required: frozenset[RequiredAccess], tags: tuple[str, ...],
                                 public_client: bool = False) -> Application:
        """Create or update by uniqueName: exactly one app however often it runs or is retried.
        PATCH + Prefer: create-if-missing answers 201 with the app, or 204 when it updated one.
        https://learn.microsoft.com/en-us/graph/api/application-upsert"""
        body = GraphApplication(display_name=display_name, sign_in_audience=sign_in_audience,
                                required_resource_access=_rra_models(required), tags=list(tags),
                                service_principal_lock_configuration=ServicePrincipalLockConfiguration(
                                    is_enabled=True, all_properties=True),
                                is_fallback_public_client=public_client)
        if public_client:
            # The browser sign-in (auth code + PKCE) redirects to http://localhost on any port.
            # https://learn.microsoft.com/en-us/entra/identity-platform/reply-url#localhost-exceptions
            body.public_client = PublicClientApplication(redirect_uris=["http://localhost"])
        builder = self.app_builder(unique_name)
        config: RequestConfiguration = RequestConfiguration()
        config.headers.add("Prefer", "create-if-missing")
        try:
            created = await self.call("create or update application", Policy.IDEMPOTENT | Policy.REPLICATION_LAG,
                                       lambda: self.send_json(builder.to_patch_request_information(body, config)))
        except GraphConflict:
            # The upsert's lookup missed an app with this uniqueName that its create then collided with:
            # a replica behind the primary (often our own lost-response write). Wait until it is readable
            # and update it by ID; the plan decides afterwards whether it is ours (tags).
            existing = await self.application_by_unique_name(unique_name,
                                                             policy=Policy.AFTER_CREATE | Policy.IDEMPOTENT)
            assert existing is not None
            by_id = self.client.applications.by_application_id(existing.id)
            await self.call("update application", Policy.IDEMPOTENT | Policy.REPLICATION_LAG,
                             lambda: self.send_json(by_id.to_patch_request_information(body)))
            created = None
        if created and created.get("appId"):
            return json_state.application(created)
        app = await self.application_by_unique_name(unique_name, policy=Policy.AFTER_CREATE | Policy.IDEMPOTENT)
        assert app is not None
        return app

    async def create_service_principal(self, app_id: str, *, app_is_new: bool = True) -> ServicePrincipal:
        """POST /servicePrincipals; if it already exists (a retry after a lost response, or a
        concurrent run) adopt the existing one instead of failing. `app_is_new`: the app was just
        created, so "does not reference a valid application object" means replication lag and is
        retried; for an existing API (a first-party resource) it means the appId is unknown."""
        body = GraphServicePrincipal(app_id=app_id)
        policy = Policy.AFTER_CREATE if app_is_new else Policy.THROTTLING
        info = self.client.service_principals.to_post_request_information(body)
        try:
            sp = await self.call("create service principal", policy | Policy.TRANSIENT_NETWORK,
                                  lambda: self.send_json(info))
        except GraphConflict:
            sp = None
        if sp and sp.get("id"):
            return json_state.service_principal(sp)
        existing = await self.service_principal(app_id, policy=Policy.AFTER_CREATE | Policy.IDEMPOTENT)
        assert existing is not None
        return existing

    async def create_resource_service_principal(self, app_id: str) -> ResourceServicePrincipal:
        """Instantiate a Microsoft first-party API (e.g. Exchange Online) in the tenant.
        https://learn.microsoft.com/en-us/graph/api/serviceprincipal-post-serviceprincipals"""
        await self.create_service_principal(app_id, app_is_new=False)
        # JSON, not the SDK's ServicePrincipal: parsing that model imported ~1,300 model modules, 1.5 s of
        # CPU in every process that onboarded a tenant without the Exchange Online service principal.
        sp = await self._get_json("read new resource service principal", Policy.AFTER_CREATE | Policy.IDEMPOTENT,
                                  self.sp_builder(app_id), _RESOURCE_SP_FIELDS)
        if not sp:
            raise GraphNotFound("read new resource service principal", 404, None, f"no service principal for {app_id}")
        return json_state.resource_service_principal(sp)

    async def assign_app_role(self, *, principal_id: str, resource_id: str, app_role_id: str) -> bool:
        """Grant one application permission; False when it was already granted.
        https://learn.microsoft.com/en-us/graph/api/serviceprincipal-post-approleassignedto"""
        body = GraphAppRoleAssignment(principal_id=uuid.UUID(principal_id), resource_id=uuid.UUID(resource_id),
                                      app_role_id=uuid.UUID(app_role_id))
        builder = self.client.service_principals.by_service_principal_id(resource_id).app_role_assigned_to
        try:
            await self.call("grant application permission", Policy.AFTER_CREATE | Policy.TRANSIENT_NETWORK,
                             lambda: builder.post(body))
        except GraphConflict:
            return False
        return True

    async def create_or_update_grant(self, *, client_id: str, resource_id: str, scopes: tuple[str, ...],
                                     grant_id: str | None) -> str:
        """One AllPrincipals grant per client/resource pair; update it rather than add a second.
        https://learn.microsoft.com/en-us/graph/api/oauth2permissiongrant-post"""
        scope = " ".join(scopes)
        if grant_id is None:
            body = OAuth2PermissionGrant(client_id=client_id, consent_type="AllPrincipals",
                                         resource_id=resource_id, scope=scope)
            try:
                grant = await self.call("grant delegated permissions",
                                         Policy.AFTER_CREATE | Policy.TRANSIENT_NETWORK,
                                         lambda: self.client.oauth2_permission_grants.post(body))
                return _opaque(grant.id) if grant and grant.id else ""
            except GraphConflict:
                # Most often the run's own earlier write (a lost response, a resent batch) that the replica
                # we read from has not seen yet: wait for it, then merge into it.
                existing = await self._conflicting_grant(client_id, resource_id)
                grant_id = existing.id
                scope = " ".join(sorted(existing.scopes | set(scopes)))
        item = self.client.oauth2_permission_grants.by_o_auth2_permission_grant_id(grant_id)
        await self.call("update delegated grant", Policy.AFTER_CREATE | Policy.IDEMPOTENT,
                         lambda: item.patch(OAuth2PermissionGrant(scope=scope)))
        return grant_id

    async def _conflicting_grant(self, client_id: str, resource_id: str) -> PermissionGrant:
        """The AllPrincipals grant a 409 says exists, once the replica we read from has it (Graph's
        uniqueness check sees the primary; reads may not yet: devblogs "designing for eventual consistency")."""

        async def find() -> PermissionGrant:
            found = [g for g in await self.permission_grants(client_id)
                     if g.resource_id == resource_id and g.consent_type == "AllPrincipals"]
            if not found:
                raise GraphNotFound("read the conflicting delegated grant", 404, "Request_ResourceNotFound",
                                    "the grant Graph reported as existing is not readable yet")
            return found[0]

        return await run_with_policy("read the conflicting delegated grant", Policy.REPLICATION_LAG, find,
                                     self.settings)

    async def add_password(self, app_object_id: str, *, display_name: str, end: datetime) -> NewSecret:
        """addPassword is not idempotent: a retry after a lost response would leave an orphan
        secret nobody holds. So a transport failure is not retried here; the caller
        reconciles by the run-unique display name (see apply.secret)."""
        body = AddPasswordPostRequestBody(password_credential=PasswordCredential(display_name=display_name,
                                                                                  end_date_time=end))
        builder = self.client.applications.by_application_id(app_object_id).add_password
        cred = await self.call("add client secret", Policy.AFTER_CREATE | Policy.UNSAFE_WRITE,
                                lambda: builder.post(body))
        if cred is None:
            raise GraphError("add client secret", None, None, "Graph answered addPassword without the secret")
        return NewSecret(_s(cred.key_id), cred.secret_text or "", cred.end_date_time, cred.display_name or "")

    async def key_credentials_for_update(self, app_object_id: str) -> list[dict[str, Any]]:
        """The app's keyCredentials as JSON, for a read-modify-write: PATCH replaces the whole
        collection, so every existing certificate must be sent back. A single-object GET with
        $select=keyCredentials is the read that returns each `key` value.
        https://learn.microsoft.com/en-us/graph/api/resources/keycredential"""
        builder = self.client.applications.by_application_id(app_object_id)
        info = builder.to_get_request_information(_select(builder, ["keyCredentials"]))
        body = await self.call("read certificates", Policy.AFTER_CREATE | Policy.IDEMPOTENT,
                                lambda: self.send_json(info))
        return [c for c in (body or {}).get("keyCredentials") or [] if isinstance(c, dict)]

    async def app_secret_policy(self, app_object_id: str) -> SecretPolicy | None:
        """The app's own appManagementPolicy (None: none assigned; readable=False: not allowed to
        read it, which needs Policy.Read.All + Application.Read.All).
        https://learn.microsoft.com/en-us/graph/api/application-list-appmanagementpolicies"""
        builder = self.client.applications.by_application_id(app_object_id).app_management_policies
        info = builder.to_get_request_information()
        try:
            page = await self.call("read the app's app management policy", Policy.IDEMPOTENT,
                                    lambda: self.send_json(info))
        except GraphForbidden:
            return SecretPolicy(readable=False)
        return app_policy_from_json(page)

    async def replace_key_credentials(self, app_object_id: str, key_credentials: list[dict[str, Any]]) -> None:
        """PATCH /applications/{id} with the whole keyCredentials collection. The way to add an
        app's first certificate (addKey needs proof of possession of an existing key).
        https://learn.microsoft.com/en-us/graph/api/application-update
        https://learn.microsoft.com/en-us/graph/api/application-addkey
        Not retried after a dropped connection: the caller re-reads and matches by thumbprint
        (apply/certificate.py), since a concurrent change may have happened in between."""
        builder = self.client.applications.by_application_id(app_object_id)
        info = builder.to_patch_request_information(GraphApplication())
        info.set_stream_content(json.dumps({"keyCredentials": key_credentials}).encode(), "application/json")
        await self.call("add certificate", Policy.AFTER_CREATE, lambda: self.send_json(info))

    async def remove_password(self, app_object_id: str, key_id: str) -> None:
        """POST removePassword; a secret that is not there (any more) counts as removed: a retry after a lost
        answer meets its own committed removal as 400 "No password credential found with keyId".
        https://learn.microsoft.com/en-us/graph/api/application-removepassword"""
        builder = self.client.applications.by_application_id(app_object_id).remove_password
        body = RemovePasswordPostRequestBody(key_id=uuid.UUID(key_id))
        try:
            await self.call("remove client secret", Policy.IDEMPOTENT, lambda: builder.post(body))
        except GraphNotFound:
            return
        except GraphBadRequest as exc:
            if "no password credential found" not in exc.one_line().lower():
                raise
