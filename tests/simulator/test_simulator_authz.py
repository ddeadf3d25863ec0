"""Authorization like Entra: 401 for bad tokens, 403 for missing scopes or directory roles.

https://learn.microsoft.com/en-us/entra/identity/enterprise-apps/grant-admin-consent
"""

from __future__ import annotations

import pytest
from conftest import (
    ADMIN_SCOPES,
    CONTOSO,
    EXCHANGE_APP_ID,
    GRAPH_APP_ID,
    GRAPH_CLI_TOOLS,
    graph_client,
    run,
    sign_in,
    token_of,
)
from msgraph.generated.models.app_role_assignment import AppRoleAssignment
from msgraph.generated.models.application import Application
from msgraph.generated.models.o_auth2_permission_grant import OAuth2PermissionGrant
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.service_principal import ServicePrincipal

from kodo_provision.simulator import Scenario, Simulator

MAIL_READ = "810c84a8-4a9e-49e6-bf7d-12d183f40d01"
FULL_ACCESS_AS_APP = "dc890d15-9560-4a4c-9b7f-a736ec74ec40"


def test_no_token_and_garbage_token_are_401(sim, raw):
    r = raw("GET", "/v1.0/applications")
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert r.json()["error"]["message"] == "Access token is empty."
    assert r.headers["request-id"] == r.json()["error"]["innerError"]["request-id"]
    assert "WWW-Authenticate" in r.headers
    r = raw("GET", "/v1.0/applications", token="not.a.jwt")
    assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_token_of_another_simulator_is_401(sim, raw):
    other_scenario = Scenario.default() | Scenario.model_validate({"sign_in": {"interval": 0}})
    with Simulator(other_scenario, proxy_port=None) as other:
        foreign = token_of(sign_in(other))
    r = raw("GET", "/v1.0/me", token=foreign)
    assert r.status_code == 401 and "Invalid signature" in r.json()["error"]["message"]


def test_token_for_another_audience_is_401(sim, raw):
    cred = sign_in(sim, scopes=["https://outlook.office365.com/EWS.AccessAsUser.All"])
    r = raw("GET", "/v1.0/me", token=token_of(cred, "https://outlook.office365.com/EWS.AccessAsUser.All"))
    assert r.status_code == 401 and "Invalid audience" in r.json()["error"]["message"]


def consented_before(sim, tenant: str = CONTOSO) -> None:
    """An admin consented the public client earlier, so a plain user gets a token (and meets Graph's 403)."""
    sim.grant_consent(tenant, GRAPH_CLI_TOOLS, [s.rsplit("/", 1)[1] for s in ADMIN_SCOPES])


def test_plain_user_cannot_create_apps(sim):
    consented_before(sim)
    c = graph_client(sim, sign_in(sim, upn="user@contoso.onmicrosoft.com"))
    with pytest.raises(ODataError) as err:
        run(c.applications.post(Application(display_name="nope")))
    assert err.value.response_status_code == 403
    assert err.value.error.code == "Authorization_RequestDenied"
    assert err.value.error.message == "Insufficient privileges to complete the operation."
    assert sim.tenant(CONTOSO).dump()["applications"] == []


def test_plain_user_can_when_users_may_register_apps(sim):
    scenario = Scenario.default() | Scenario.model_validate({"sign_in": {"interval": 0}})
    scenario.tenants[0].settings.users_can_register_apps = True
    with Simulator(scenario, proxy_port=None) as lenient:
        consented_before(lenient)
        c = graph_client(lenient, sign_in(lenient, upn="user@contoso.onmicrosoft.com"))
        app = run(c.applications.post(Application(display_name="mine")))
        run(c.applications.by_application_id(app.id).patch(Application(notes="owner may edit")))
        assert lenient.tenant(CONTOSO).dump()["applications"][0]["notes"] == "owner may edit"


def test_missing_scope_is_403(sim):
    scopes = ["https://graph.microsoft.com/User.Read"]
    c = graph_client(sim, sign_in(sim, scopes=scopes), scopes=scopes)
    with pytest.raises(ODataError) as err:
        run(c.applications.post(Application(display_name="nope")))
    assert err.value.response_status_code == 403


async def _setup(c, resource_app_id):
    app = await c.applications.post(Application(display_name="client"))
    sp = await c.service_principals.post(ServicePrincipal(app_id=app.app_id))
    resource = await c.service_principals_with_app_id(resource_app_id).get()
    return sp, resource


def test_application_administrator_cannot_grant_graph_app_roles(sim):
    c = graph_client(sim, sign_in(sim, upn="appadmin@contoso.onmicrosoft.com"))

    async def go():
        sp, graph = await _setup(c, GRAPH_APP_ID)
        with pytest.raises(ODataError) as graph_err:
            await c.service_principals.by_service_principal_id(graph.id).app_role_assigned_to.post(
                AppRoleAssignment(principal_id=sp.id, resource_id=graph.id, app_role_id=MAIL_READ))
        _, exo = await _setup(c, EXCHANGE_APP_ID)
        ok = await c.service_principals.by_service_principal_id(exo.id).app_role_assigned_to.post(
            AppRoleAssignment(principal_id=sp.id, resource_id=exo.id, app_role_id=FULL_ACCESS_AS_APP))
        grant = await c.oauth2_permission_grants.post(OAuth2PermissionGrant(
            client_id=sp.id, consent_type="AllPrincipals", resource_id=graph.id, scope="User.Read"))
        return graph_err.value, ok, grant

    graph_err, ok, grant = run(go())
    assert graph_err.response_status_code == 403 and graph_err.error.code == "Authorization_RequestDenied"
    assert ok.app_role_id.hex and grant.scope == "User.Read"  # other resources and delegated grants are fine


@pytest.mark.parametrize("upn", ["pra@contoso.onmicrosoft.com", "admin@contoso.onmicrosoft.com"])
def test_privileged_role_admin_and_global_admin_grant_graph_app_roles(sim, upn):
    # The client app is registered by an Application Administrator: a Privileged Role Administrator
    # has no microsoft.directory/applications/create permission (permissions reference).
    app_admin = graph_client(sim, sign_in(sim, upn="appadmin@contoso.onmicrosoft.com"))
    sp, graph = run(_setup(app_admin, GRAPH_APP_ID))
    c = graph_client(sim, sign_in(sim, upn=upn))
    assignment = run(c.service_principals.by_service_principal_id(graph.id).app_role_assigned_to.post(
        AppRoleAssignment(principal_id=sp.id, resource_id=graph.id, app_role_id=MAIL_READ)))
    assert str(assignment.app_role_id) == MAIL_READ


def test_privileged_role_admin_cannot_register_apps(sim):
    c = graph_client(sim, sign_in(sim, upn="pra@contoso.onmicrosoft.com"))
    with pytest.raises(ODataError) as err:
        run(c.applications.post(Application(display_name="nope")))
    assert err.value.response_status_code == 403
