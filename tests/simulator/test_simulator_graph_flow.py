"""The onboarding chain through the real msgraph-sdk, and the app-only token that proves it."""

from __future__ import annotations

import pytest
from conftest import (
    CONTOSO,
    EXCHANGE_APP_ID,
    FABRIKAM,
    GRAPH_APP_ID,
    GRAPH_CLI_TOOLS,
    app_only,
    claims,
    graph_client,
    run,
    sign_in,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.applications.applications_request_builder import ApplicationsRequestBuilder
from msgraph.generated.applications.item.add_password.add_password_post_request_body import (
    AddPasswordPostRequestBody,
)
from msgraph.generated.applications.item.remove_password.remove_password_post_request_body import (
    RemovePasswordPostRequestBody,
)
from msgraph.generated.models.app_role_assignment import AppRoleAssignment
from msgraph.generated.models.application import Application
from msgraph.generated.models.o_auth2_permission_grant import OAuth2PermissionGrant
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.password_credential import PasswordCredential
from msgraph.generated.models.required_resource_access import RequiredResourceAccess
from msgraph.generated.models.resource_access import ResourceAccess
from msgraph.generated.models.service_principal import ServicePrincipal


def upsert_cfg() -> RequestConfiguration:
    cfg = RequestConfiguration()
    cfg.headers.add("Prefer", "create-if-missing")
    return cfg


async def onboard(c, name: str = "kodo-backup"):
    graph = await c.service_principals_with_app_id(GRAPH_APP_ID).get()
    roles = {r.value: r.id for r in graph.app_roles}
    rra = [RequiredResourceAccess(resource_app_id=GRAPH_APP_ID, resource_access=[
        ResourceAccess(id=roles["Mail.Read"], type="Role"), ResourceAccess(id=roles["User.Read.All"], type="Role")])]
    app = await c.applications_with_unique_name(name).patch(
        Application(display_name="KODO Backup", required_resource_access=rra), upsert_cfg())
    pw = await c.applications.by_application_id(app.id).add_password.post(
        AddPasswordPostRequestBody(password_credential=PasswordCredential(display_name="kodo")))
    sp = await c.service_principals.post(ServicePrincipal(app_id=app.app_id))
    for value in ("Mail.Read", "User.Read.All"):
        await c.service_principals.by_service_principal_id(graph.id).app_role_assigned_to.post(
            AppRoleAssignment(principal_id=sp.id, resource_id=graph.id, app_role_id=roles[value]))
    grant = await c.oauth2_permission_grants.post(OAuth2PermissionGrant(
        client_id=sp.id, consent_type="AllPrincipals", resource_id=graph.id, scope="User.Read"))
    return graph, app, pw, sp, grant


def test_full_onboarding_chain_and_app_only_roles(sim):
    cred = sign_in(sim)
    c = graph_client(sim, cred)
    graph, app, pw, sp, grant = run(onboard(c))
    assert pw.secret_text and pw.hint == pw.secret_text[:3] and pw.key_id

    state = sim.tenant(CONTOSO).dump()
    stored = next(a for a in state["applications"] if a["id"] == app.id)
    assert stored["uniqueName"] == "kodo-backup"
    assert stored["passwordCredentials"][0]["secretText"] is None  # only metadata is kept
    assert {a["appRoleId"] for a in state["appRoleAssignments"] if a["principalId"] == sp.id} == {
        "810c84a8-4a9e-49e6-bf7d-12d183f40d01", "df021288-bdef-4463-88db-98f22de89214"}
    assert [g["scope"] for g in state["oauth2PermissionGrants"] if g["clientId"] == sp.id] == ["User.Read"]

    async def read_back():
        got = await c.applications_with_app_id(app.app_id).get()
        assigned = await c.service_principals.by_service_principal_id(sp.id).app_role_assignments.get()
        grants = await c.oauth2_permission_grants.get()
        return got, assigned, grants

    got, assigned, grants = run(read_back())
    assert got.id == app.id and got.required_resource_access[0].resource_app_id == GRAPH_APP_ID
    assert len(assigned.value) == 2 and len([g for g in grants.value if g.client_id == sp.id]) == 1

    token = app_only(sim, CONTOSO, app.app_id, pw.secret_text).get_token("https://graph.microsoft.com/.default")
    c_ = claims(token.token)
    assert sorted(c_["roles"]) == ["Mail.Read", "User.Read.All"]
    assert c_["tid"] == sim.tenant(CONTOSO).id and c_["oid"] == sp.id and c_["idtyp"] == "app"


def test_upsert_twice_updates_and_without_prefer_is_404(sim):
    c = graph_client(sim, sign_in(sim))

    async def go():
        first = await c.applications_with_unique_name("u1").patch(Application(display_name="One"), upsert_cfg())
        second = await c.applications_with_unique_name("u1").patch(Application(display_name="Two"), upsert_cfg())
        with pytest.raises(ODataError) as missing:
            await c.applications_with_unique_name("nope").patch(Application(display_name="X"))
        return first, second, missing.value

    first, second, missing = run(go())
    assert first.display_name == "One" and second is None  # 204 on update
    assert missing.response_status_code == 404 and missing.error.code == "Request_ResourceNotFound"
    apps = [a for a in sim.tenant(CONTOSO).dump()["applications"] if a["uniqueName"] == "u1"]
    assert len(apps) == 1 and apps[0]["displayName"] == "Two"


def test_patch_replaces_required_resource_access_whole(sim):
    c = graph_client(sim, sign_in(sim))

    async def go():
        rra = lambda rid: [RequiredResourceAccess(resource_app_id=GRAPH_APP_ID,  # noqa: E731
                                                  resource_access=[ResourceAccess(id=rid, type="Role")])]
        app = await c.applications.post(Application(display_name="R", required_resource_access=rra(
            "810c84a8-4a9e-49e6-bf7d-12d183f40d01")))
        await c.applications.by_application_id(app.id).patch(Application(required_resource_access=rra(
            "df021288-bdef-4463-88db-98f22de89214")))
        return await c.applications.by_application_id(app.id).get()

    app = run(go())
    ids = [str(ra.id) for r in app.required_resource_access for ra in r.resource_access]
    assert ids == ["df021288-bdef-4463-88db-98f22de89214"]


def test_filter_select_top_and_paging(sim):
    c = graph_client(sim, sign_in(sim))

    async def go():
        for i in range(5):
            await c.applications.post(Application(display_name=f"app-{i}"))
        q = ApplicationsRequestBuilder.ApplicationsRequestBuilderGetQueryParameters(
            filter="displayName eq 'app-3'", select=["id", "displayName"])
        filtered = await c.applications.get(RequestConfiguration(query_parameters=q))
        page = await c.applications.get(RequestConfiguration(
            query_parameters=ApplicationsRequestBuilder.ApplicationsRequestBuilderGetQueryParameters(top=2)))
        names = [a.display_name for a in page.value]
        link = page.odata_next_link
        while link:
            nxt = await c.applications.with_url(link).get()
            names += [a.display_name for a in nxt.value]
            link = nxt.odata_next_link
        return filtered, names

    filtered, names = run(go())
    assert [a.display_name for a in filtered.value] == ["app-3"]
    assert filtered.value[0].app_id is None  # not selected
    assert names == [f"app-{i}" for i in range(5)]


def test_remove_password_and_delete_to_deleted_items_then_purge(sim, raw):
    cred = sign_in(sim)
    c = graph_client(sim, cred)

    async def go():
        app = await c.applications.post(Application(display_name="gone"))
        pw = await c.applications.by_application_id(app.id).add_password.post(
            AddPasswordPostRequestBody(password_credential=PasswordCredential(display_name="p")))
        await c.applications.by_application_id(app.id).remove_password.post(
            RemovePasswordPostRequestBody(key_id=pw.key_id))
        after = await c.applications.by_application_id(app.id).get()
        await c.applications.by_application_id(app.id).delete()
        return app, after

    app, after = run(go())
    assert after.password_credentials == []
    assert [d["id"] for d in sim.tenant(CONTOSO).dump()["deletedItems"]] == [app.id]
    token = cred.get_token(*["https://graph.microsoft.com/.default"], enable_cae=True).token
    assert raw("GET", f"/v1.0/applications/{app.id}", token).status_code == 404
    assert raw("DELETE", f"/v1.0/directory/deletedItems/{app.id}", token).status_code == 204
    assert sim.tenant(CONTOSO).dump()["deletedItems"] == []


def test_service_principal_errors_and_first_party_creation(sim):
    c = graph_client(sim, sign_in(sim, FABRIKAM))

    async def go():
        with pytest.raises(ODataError) as unknown:
            await c.service_principals.post(ServicePrincipal(app_id="11111111-2222-3333-4444-555555555555"))
        with pytest.raises(ODataError) as missing:
            await c.service_principals_with_app_id(EXCHANGE_APP_ID).get()
        exo = await c.service_principals.post(ServicePrincipal(app_id=EXCHANGE_APP_ID))
        with pytest.raises(ODataError) as dup:
            await c.service_principals.post(ServicePrincipal(app_id=EXCHANGE_APP_ID))
        return unknown.value, missing.value, exo, dup.value

    unknown, missing, exo, dup = run(go())
    assert unknown.response_status_code == 400 and unknown.error.code == "Request_BadRequest"
    assert "does not reference a valid application object" in unknown.error.message
    assert missing.response_status_code == 404
    assert {r.value for r in exo.app_roles} >= {"full_access_as_app"}
    assert "https://outlook.office365.com" in exo.service_principal_names
    assert dup.response_status_code == 409 and dup.error.code == "Request_MultipleObjectsWithSameKeyValue"


def test_duplicate_assignment_unknown_role_and_second_grant(sim):
    c = graph_client(sim, sign_in(sim))

    async def go():
        graph, app, pw, sp, grant = await onboard(c)
        with pytest.raises(ODataError) as dup:
            await c.service_principals.by_service_principal_id(graph.id).app_role_assigned_to.post(
                AppRoleAssignment(principal_id=sp.id, resource_id=graph.id,
                                  app_role_id="810c84a8-4a9e-49e6-bf7d-12d183f40d01"))
        with pytest.raises(ODataError) as unknown_role:
            await c.service_principals.by_service_principal_id(sp.id).app_role_assignments.post(
                AppRoleAssignment(principal_id=sp.id, resource_id=graph.id,
                                  app_role_id="12345678-1234-1234-1234-123456789012"))
        with pytest.raises(ODataError) as second:
            await c.oauth2_permission_grants.post(OAuth2PermissionGrant(
                client_id=sp.id, consent_type="AllPrincipals", resource_id=graph.id, scope="Mail.Read"))
        await c.oauth2_permission_grants.by_o_auth2_permission_grant_id(grant.id).patch(
            OAuth2PermissionGrant(scope="User.Read Mail.Read"))
        patched = await c.oauth2_permission_grants.by_o_auth2_permission_grant_id(grant.id).get()
        return dup.value, unknown_role.value, second.value, patched

    dup, unknown_role, second, patched = run(go())
    assert dup.response_status_code == 400 and dup.error.code == "Request_BadRequest"
    assert dup.error.message == "Permission being assigned already exists on the object."
    assert unknown_role.response_status_code == 400
    assert unknown_role.error.message.startswith("Permission being assigned was not found on application")
    assert second.response_status_code == 409 and second.error.code == "Request_MultipleObjectsWithSameKeyValue"
    assert patched.scope == "User.Read Mail.Read"


def test_app_management_policy_caps_secret_lifetime(sim, raw):
    cred = sign_in(sim, scopes=[*__import__("conftest").ADMIN_SCOPES, "https://graph.microsoft.com/Policy.Read.All"])
    c = graph_client(sim, cred)
    import datetime as dt

    async def go():
        app = await c.applications.post(Application(display_name="p"))
        end = dt.datetime.now(dt.UTC) + dt.timedelta(days=3650)
        with pytest.raises(ODataError) as too_long:
            await c.applications.by_application_id(app.id).add_password.post(AddPasswordPostRequestBody(
                password_credential=PasswordCredential(display_name="p", end_date_time=end)))
        ok = await c.applications.by_application_id(app.id).add_password.post(AddPasswordPostRequestBody(
            password_credential=PasswordCredential(end_date_time=dt.datetime.now(dt.UTC) + dt.timedelta(days=30))))
        policy = await c.policies.default_app_management_policy.get()
        return too_long.value, ok, policy

    too_long, ok, policy = run(go())
    assert too_long.response_status_code == 400 and too_long.error.code == "CredentialInvalidLifetimeAsPerAppPolicy"
    assert ok.secret_text
    restriction = policy.application_restrictions.password_credentials[0]
    assert restriction.restriction_type.value == "passwordLifetime"
    assert restriction.max_lifetime.days == 730


def test_organization_me_and_directory_roles(sim):
    c = graph_client(sim, sign_in(sim, upn="appadmin@contoso.onmicrosoft.com"))

    async def go():
        org = await c.organization.get()
        me = await c.me.get()
        roles = await c.me.transitive_member_of.graph_directory_role.get()
        return org, me, roles

    org, me, roles = run(go())
    assert org.value[0].id == sim.tenant(CONTOSO).id
    assert {d.name for d in org.value[0].verified_domains} == {CONTOSO, "contoso.com"}
    assert me.user_principal_name == "appadmin@contoso.onmicrosoft.com"
    assert [(r.display_name, r.role_template_id) for r in roles.value] == [
        ("Application Administrator", "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3")]


def test_revoke_assignment_grant_and_delete_sp_cascade(sim):
    c = graph_client(sim, sign_in(sim))

    async def go():
        graph, app, pw, sp, grant = await onboard(c)
        assigned = await c.service_principals.by_service_principal_id(graph.id).app_role_assigned_to.get()
        mine = [a for a in assigned.value if str(a.principal_id) == sp.id]
        await c.service_principals.by_service_principal_id(graph.id).app_role_assigned_to.by_app_role_assignment_id(
            mine[0].id).delete()
        await c.service_principals.by_service_principal_id(sp.id).app_role_assignments.by_app_role_assignment_id(
            mine[1].id).delete()
        await c.oauth2_permission_grants.by_o_auth2_permission_grant_id(grant.id).delete()
        await c.service_principals.post(ServicePrincipal(app_id=app.app_id))  # already exists: 409
        return sp

    with pytest.raises(ODataError) as err:
        run(go())
    assert err.value.response_status_code == 409
    state = sim.tenant(CONTOSO).dump()
    sp = next(s for s in state["servicePrincipals"] if s["displayName"] == "KODO Backup")
    # (the scenario's own automation app keeps its assignments)
    assert [a for a in state["appRoleAssignments"] if a["principalId"] == sp["id"]] == []
    # Left: only Entra's record of the admin's consent to the sign-in client (Graph CLI Tools).
    assert [g["clientId"] for g in state["oauth2PermissionGrants"]] == [
        s["id"] for s in state["servicePrincipals"] if s["appId"] == GRAPH_CLI_TOOLS]
    sim.tenant(CONTOSO).delete_service_principal(sp["id"])
    assert not any(s["displayName"] == "KODO Backup" for s in sim.tenant(CONTOSO).dump()["servicePrincipals"])


def test_unexpected_exception_is_a_graph_shaped_500(sim, raw, monkeypatch):
    from kodo_provision.simulator.graph import router

    def boom(ctx):
        raise RuntimeError("bug")

    monkeypatch.setattr(router, "ROUTES", [router.Route("GET", __import__("re").compile("/organization"), boom,
                                                        "boom"), *router.ROUTES])
    from conftest import token_of

    r = raw("GET", "/v1.0/organization", token_of(sign_in(sim)))
    assert r.status_code == 500 and r.json()["error"]["code"] == "InternalServerError"
    assert "Traceback" not in r.text
