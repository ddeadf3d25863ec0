"""The simulator's Partner Center (customers, application consent) and GDAP reads, through real MSAL
tokens over TLS. Shapes: Partner Center REST reference and the Graph delegatedAdminRelationship docs."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import DeviceCodeCredential
from conftest import ADMIN_SCOPES, CONTOSO, FABRIKAM, PARTNER, claims, graph_client, run, sign_in, token_of
from msgraph.generated.models.application import Application

from kodo_provision.simulator import Scenario, Simulator

PC = "https://api.partnercenter.microsoft.com/user_impersonation"
GDAP = "https://graph.microsoft.com/DelegatedAdminRelationship.Read.All"
GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"


@pytest.fixture(scope="module")
def psim():
    scenario = Scenario.default() | Scenario.model_validate({"sign_in": {"interval": 0}})
    data = scenario.model_dump()
    for t in data["tenants"]:
        if t["domain"] == PARTNER:
            t["partner_center"] = {"customers": [CONTOSO, FABRIKAM]}
        if t["domain"] == FABRIKAM:
            t["consent_propagation_s"] = 3600.0  # until settle_replication(): no sleeping in tests
    with Simulator(Scenario.model_validate(data)) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def fresh_psim(request):
    if "psim" in request.fixturenames:
        request.getfixturevalue("psim").reset()


def pc(psim, method: str, path: str, token: str, **kwargs):
    import httpx

    with httpx.Client(verify=psim.ca_bundle_path, base_url=psim.url) as client:
        return client.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)


def partner_app(psim) -> Application:
    """A multi-tenant public client of the partner tenant (what Partner Center consents)."""
    c = graph_client(psim, sign_in(psim, PARTNER))
    app = run(c.applications.post(Application(display_name="MSP sign-in", sign_in_audience="AzureADMultipleOrgs",
                                              is_fallback_public_client=True)))
    psim.settle_replication()
    return app


def test_customers_are_listed_with_seek_paging(psim):
    token = token_of(sign_in(psim, PARTNER, scopes=[PC]), PC)
    assert claims(token)["aud"] == "https://api.partnercenter.microsoft.com"
    first = pc(psim, "GET", "/v1/customers?size=1", token).json()
    assert first["items"][0]["companyProfile"]["domain"] == CONTOSO and first["totalCount"] == 1
    nxt = first["links"]["next"]
    header = {h["key"]: h["value"] for h in nxt["headers"]}
    import httpx

    with httpx.Client(verify=psim.ca_bundle_path, base_url=psim.url) as client:
        second = client.get(nxt["uri"], headers={"Authorization": f"Bearer {token}", **header}).json()
    assert [i["companyProfile"]["tenantId"] for i in second["items"]] == [psim.tenant(FABRIKAM).id]
    assert "next" not in second["links"]


def test_a_graph_token_is_refused_and_a_non_partner_has_no_partner_center(psim):
    graph_token = token_of(sign_in(psim, PARTNER))
    refused = pc(psim, "GET", "/v1/customers", graph_token)
    assert refused.status_code == 401 and refused.json()["code"] == 800001
    with pytest.raises(ClientAuthenticationError, match="AADSTS500011"):
        sign_in(psim, CONTOSO, scopes=[PC])  # Partner Center's service principal exists in partner tenants only


def test_application_consent_created_present_removed(psim):
    app = partner_app(psim)
    token = token_of(sign_in(psim, PARTNER, scopes=[PC]), PC)
    body = {"applicationId": app.app_id, "displayName": "MSP sign-in",
            "applicationGrants": [{"enterpriseApplicationId": "00000003-0000-0000-c000-000000000000",
                                   "scope": "User.Read,Application.ReadWrite.All"}]}
    created = pc(psim, "POST", f"/v1/customers/{psim.tenant(CONTOSO).id}/applicationconsents", token, json=body)
    assert created.status_code == 201 and created.json()["applicationId"] == app.app_id
    state = psim.tenant(CONTOSO).dump()
    sp = next(s for s in state["servicePrincipals"] if s["appId"] == app.app_id)
    assert [g["scope"] for g in state["oauth2PermissionGrants"] if g["clientId"] == sp["id"]] == [
        "Application.ReadWrite.All User.Read"]
    again = pc(psim, "POST", f"/v1/customers/{CONTOSO}/applicationconsents", token, json=body)
    assert again.status_code == 409 and again.json()["source"] == "PartnerFD"
    gone = pc(psim, "DELETE", f"/v1/customers/{CONTOSO}/applicationconsents/{app.app_id}", token)
    assert gone.status_code == 204
    assert not [s for s in psim.tenant(CONTOSO).dump()["servicePrincipals"] if s["appId"] == app.app_id]
    assert pc(psim, "DELETE", f"/v1/customers/{CONTOSO}/applicationconsents/{app.app_id}", token).status_code == 404
    assert pc(psim, "POST", f"/v1/customers/{PARTNER}/applicationconsents", token, json=body).status_code == 404


def test_pushed_consent_reaches_sign_ins_after_propagation(psim):
    app = partner_app(psim)
    token = token_of(sign_in(psim, PARTNER, scopes=[PC]), PC)
    body = {"applicationId": app.app_id, "applicationGrants": [
        {"enterpriseApplicationId": "00000003-0000-0000-c000-000000000000", "scope": "User.Read"}]}
    assert pc(psim, "POST", f"/v1/customers/{FABRIKAM}/applicationconsents", token, json=body).status_code == 201
    psim.set_sign_in(tenant=PARTNER, user="partner.admin@msp-partner.onmicrosoft.com")
    cred = DeviceCodeCredential(client_id=app.app_id, tenant_id=PARTNER, authority=psim.url,
                                disable_instance_discovery=True, connection_verify=psim.ca_bundle_path,
                                prompt_callback=lambda *a: None, timeout=20, additionally_allowed_tenants=["*"],
                                disable_automatic_authentication=True)
    cred.authenticate(scopes=["https://graph.microsoft.com/User.Read"])  # the partner admin consents at home
    with pytest.raises(ClientAuthenticationError, match="AADSTS65001"):
        cred.get_token("https://graph.microsoft.com/User.Read", tenant_id=psim.tenant(FABRIKAM).id)
    psim.settle_replication()  # the consent has propagated
    scp = claims(cred.get_token("https://graph.microsoft.com/User.Read openid", tenant_id=psim.tenant(FABRIKAM).id)
                 .token)["scp"]
    assert scp == "User.Read"


def test_gdap_relationships_assignments_and_groups(psim):
    # Before the GDAP scope was ever consented: a token without it is refused. (After a consent, every token
    # of the client carries it: Entra's additive scopes, simulator/consent.py.)
    without_scope = token_of(sign_in(psim, PARTNER))
    assert pc(psim, "GET", "/v1.0/tenantRelationships/delegatedAdminRelationships", without_scope).status_code == 403
    token = token_of(sign_in(psim, PARTNER, scopes=[*ADMIN_SCOPES, GDAP]), *ADMIN_SCOPES, GDAP)
    rels = pc(psim, "GET", "/v1.0/tenantRelationships/delegatedAdminRelationships", token).json()["value"]
    assert {r["customer"]["tenantId"] for r in rels} == {psim.tenant(CONTOSO).id, psim.tenant(FABRIKAM).id}
    assert all(r["status"] == "active" and r["accessDetails"]["unifiedRoles"] == [
        {"roleDefinitionId": GLOBAL_ADMINISTRATOR}] for r in rels)
    assignments = pc(psim, "GET", f"/v1.0/tenantRelationships/delegatedAdminRelationships/{rels[0]['id']}"
                      "/accessAssignments", token).json()["value"]
    (assignment,) = assignments
    groups = pc(psim, "GET", "/v1.0/me/transitiveMemberOf/microsoft.graph.group", token).json()["value"]
    assert assignment["accessContainer"]["accessContainerId"] in {g["id"] for g in groups}
    # Now a sign-in that asks without the GDAP scope still gets it: it was consented (additive scopes).
    again = token_of(sign_in(psim, PARTNER))
    assert pc(psim, "GET", "/v1.0/tenantRelationships/delegatedAdminRelationships", again).status_code == 200
