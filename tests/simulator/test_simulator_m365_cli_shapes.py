"""Request shapes CLI for Microsoft 365 (`m365 login`, `m365 entra app add`) sends, answered like Entra/Graph.

- msal-node polls the token endpoint with grant_type=device_code (the short form);
- every Entra call goes to https://graph.microsoft.com/v1.0/myorganization/...
"""

from __future__ import annotations

from conftest import CONTOSO, GRAPH_APP_ID, GRAPH_CLI_TOOLS, sign_in, token_of


def test_device_code_grant_short_form(sim, raw):
    dc = raw("POST", f"/{CONTOSO}/oauth2/v2.0/devicecode",
             data={"client_id": GRAPH_CLI_TOOLS, "scope": "https://graph.microsoft.com/.default offline_access"})
    assert dc.status_code == 200
    r = raw("POST", f"/{CONTOSO}/oauth2/v2.0/token",
            data={"grant_type": "device_code", "client_id": GRAPH_CLI_TOOLS, "device_code": dc.json()["device_code"]})
    assert r.status_code == 200, r.text
    assert r.json()["access_token"] and r.json()["refresh_token"]
    # A device code is redeemed once, whatever the grant_type spelling.
    again = raw("POST", f"/{CONTOSO}/oauth2/v2.0/token",
                data={"grant_type": "device_code", "client_id": GRAPH_CLI_TOOLS,
                      "device_code": dc.json()["device_code"]})
    assert again.status_code == 400 and again.json()["error"] == "bad_verification_code"


def test_myorganization_alias_reaches_the_same_resources(sim, raw):
    token = token_of(sign_in(sim))
    listed = raw("GET", "/v1.0/myorganization/servicePrincipals",
                 token, params={"$select": "appId,appRoles,id,oauth2PermissionScopes,servicePrincipalNames"})
    assert listed.status_code == 200
    assert GRAPH_APP_ID in {sp["appId"] for sp in listed.json()["value"]}
    assert listed.json() == raw("GET", "/v1.0/servicePrincipals", token, params={
        "$select": "appId,appRoles,id,oauth2PermissionScopes,servicePrincipalNames"}).json()

    app = raw("POST", "/v1.0/myorganization/applications", token, json={"displayName": "via myorganization"})
    assert app.status_code == 201
    secret = raw("POST", f"/v1.0/MyOrganization/applications/{app.json()['id']}/addPassword", token,
                 json={"passwordCredential": {"displayName": "Default"}})
    assert secret.status_code == 200 and secret.json()["secretText"]
    assert raw("GET", f"/v1.0/applications/{app.json()['id']}", token).json()["passwordCredentials"]
    routes = [r.route for r in sim.request_log if r.kind == "graph"]
    assert routes == ["servicePrincipals.list", "servicePrincipals.list", "applications.create",
                      "applications.addPassword", "applications.get"]


def test_myorganization_alias_keeps_graph_errors(sim, raw):
    token = token_of(sign_in(sim))
    r = raw("GET", "/v1.0/myorganization/foo", token)
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "BadRequest"
    assert r.json()["error"]["message"] == "Resource not found for the segment 'foo'."
    # Only a leading segment is an alias: "myorganizationx" is an unknown segment like any other.
    r = raw("GET", "/v1.0/myorganizationx/applications", token)
    assert r.status_code == 400 and "'myorganizationx'" in r.json()["error"]["message"]
