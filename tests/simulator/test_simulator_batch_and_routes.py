"""$batch, unknown routes, path normalisation, request log and the /_sim control API."""

from __future__ import annotations

import pytest
from conftest import ADMIN_SCOPES, CONTOSO, GRAPH_CLI_TOOLS, graph_client, run, sign_in, token_of
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph_core.requests.batch_request_content import BatchRequestContent

from kodo_provision.simulator import Faults


def test_batch_with_depends_on_and_failed_dependency(sim, raw):
    token = token_of(sign_in(sim))
    body = {"requests": [
        {"id": "1", "method": "POST", "url": "/applications", "body": {"displayName": "batched"},
         "headers": {"Content-Type": "application/json"}},
        {"id": "2", "method": "GET", "url": "/organization", "dependsOn": ["1"]},
        {"id": "3", "method": "GET", "url": "/applications/00000000-0000-0000-0000-00000000dead"},
        {"id": "4", "method": "GET", "url": "/me", "dependsOn": ["3"]},
    ]}
    r = raw("POST", "/v1.0/$batch", token, json=body)
    assert r.status_code == 200
    by_id = {x["id"]: x for x in r.json()["responses"]}
    assert by_id["1"]["status"] == 201 and by_id["1"]["body"]["displayName"] == "batched"
    assert by_id["2"]["status"] == 200 and by_id["3"]["status"] == 404 and by_id["4"]["status"] == 424
    logged = [x for x in sim.request_log if x.in_batch]
    dead = "/applications/00000000-0000-0000-0000-00000000dead"
    assert [x.path for x in logged] == ["/applications", "/organization", dead]


def test_batch_limit_and_throttled_items(sim, raw):
    token = token_of(sign_in(sim))
    items = [{"id": str(i), "method": "GET", "url": "/organization"} for i in range(21)]
    r = raw("POST", "/v1.0/$batch", token, json={"requests": items})
    assert r.status_code == 400 and r.json()["error"]["code"] == "BadRequest"
    sim.set_faults(Faults(throttle_rate=0.5, retry_after_s=2, seed=5))
    r = raw("POST", "/v1.0/$batch", token, json={"requests": items[:20]})
    statuses = [x["status"] for x in r.json()["responses"]]
    assert r.status_code == 200 and 429 in statuses and 200 in statuses
    throttled = next(x for x in r.json()["responses"] if x["status"] == 429)
    assert throttled["headers"]["Retry-After"] == "2"


def test_batch_through_the_sdk(sim):
    c = graph_client(sim, sign_in(sim))

    async def go():
        content = BatchRequestContent()
        content.add_request_information(c.organization.to_get_request_information())
        content.add_request_information(c.me.to_get_request_information())
        return await c.batch.post(content)

    result = run(go())
    assert sorted(r.status for r in result.responses.values()) == [200, 200]


def test_unknown_route_is_graph_400_not_a_stack_trace(sim, raw):
    token = token_of(sign_in(sim))
    r = raw("GET", "/v1.0/foo/bar", token)
    assert r.status_code == 400 and r.json()["error"]["code"] == "BadRequest"
    assert r.json()["error"]["message"] == "Resource not found for the segment 'foo'."
    r = raw("GET", "/v1.0/applications/x/bogus", token)
    assert r.json()["error"]["message"] == "Resource not found for the segment 'bogus'."
    r = raw("PUT", "/v1.0/applications", token, json={})
    assert r.status_code == 405


def test_double_slash_and_beta_prefix(sim, raw):
    token = token_of(sign_in(sim))
    assert raw("GET", "/v1.0//organization", token).status_code == 200
    assert raw("GET", "/beta/organization", token).json()["@odata.context"].endswith("/beta/$metadata#organization")


def test_client_request_id_and_request_log_fields(sim, raw):
    token = token_of(sign_in(sim))
    r = raw("GET", "/v1.0/applications/nope", token, headers={"client-request-id": "abc"})
    err = r.json()["error"]
    assert err["innerError"]["client-request-id"] == "abc"
    assert r.headers["request-id"] == err["innerError"]["request-id"]
    rec = sim.request_log[-1]
    assert (rec.method, rec.path, rec.kind, rec.status, rec.tenant_id, rec.in_batch) == (
        "GET", "/applications/nope", "graph", 404, sim.tenant(CONTOSO).id, False)
    assert rec.request_id == r.headers["request-id"] and rec.end >= rec.start and rec.duration_ms >= 0
    assert {x.kind for x in sim.request_log} == {"login", "graph"}


def test_control_endpoints(sim, raw):
    assert raw("GET", "/_sim/info").json()["url"] == sim.url
    assert raw("PATCH", "/_sim/faults", json={"latency_ms": 5}).json()["latency_ms"] == 5
    assert sim.faults.latency_ms == 5
    assert raw("PUT", "/_sim/faults", json={}).json()["latency_ms"] == 0
    assert raw("PATCH", "/_sim/faults", json={"bogus": 1}).status_code == 400
    # A device code approved by another process through /_sim.
    assert raw("POST", "/_sim/sign-in", json={"tenant": CONTOSO, "manual": True}).status_code == 204
    dc = raw("POST", f"/{CONTOSO}/oauth2/v2.0/devicecode",
             data={"client_id": GRAPH_CLI_TOOLS, "scope": " ".join(ADMIN_SCOPES)}).json()
    assert raw("GET", "/_sim/device-codes").json()[0]["user_code"] == dc["user_code"]
    r = raw("POST", f"/_sim/device-codes/{dc['user_code']}/approve", json={"upn": "pra@contoso.onmicrosoft.com"})
    assert r.status_code == 204
    tok = raw("POST", f"/{CONTOSO}/oauth2/v2.0/token", data={
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code", "client_id": GRAPH_CLI_TOOLS,
        "device_code": dc["device_code"]}).json()
    assert tok["scope"] == " ".join(ADMIN_SCOPES) and tok["refresh_token"] and tok["client_info"]
    assert raw("POST", "/_sim/device-codes/NOPE/decline").status_code == 404
    state = raw("GET", f"/_sim/state/{CONTOSO}").json()
    assert state["id"] == sim.tenant(CONTOSO).id and "servicePrincipals" in state
    assert set(raw("GET", "/_sim/state").json()["tenants"]) == {t.id for t in sim.core.directory.tenants.values()}
    assert raw("GET", "/_sim/requests").json()[-1]["path"].endswith("/token")
    assert raw("POST", "/_sim/faults/lose-next-response", json={"kind": "write"}).status_code == 204
    assert raw("POST", "/_sim/reset").status_code == 204
    assert [r.path for r in sim.request_log] == []


def test_default_scenario_first_party_catalogue(sim):
    state = sim.tenant("fabrikam.onmicrosoft.com").dump()
    app_ids = {s["appId"] for s in state["servicePrincipals"]}
    assert "00000002-0000-0ff1-ce00-000000000000" not in app_ids
    contoso = sim.tenant(CONTOSO).dump()
    graph = next(s for s in contoso["servicePrincipals"] if s["appId"] == "00000003-0000-0000-c000-000000000000")
    roles = {r["value"]: r["id"] for r in graph["appRoles"]}
    assert roles["Application.ReadWrite.All"] == "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9"
    assert roles["Mail.ReadWrite"] == "e2a3a72e-5f79-4c64-b1b1-878b674786c9"
    scopes = {s["value"]: s["id"] for s in graph["oauth2PermissionScopes"]}
    assert scopes["User.Read"] == "e1fe6dd8-ba31-4d61-89e7-88639da4683d"


def test_odata_error_for_batch_sdk_misuse_is_graph_shaped(sim):
    c = graph_client(sim, sign_in(sim))
    with pytest.raises(ODataError) as err:
        run(c.applications.by_application_id("missing").get())
    assert err.value.error.inner_error is not None


def test_instance_discovery_and_device_login_page(sim, raw):
    authorize = f"{sim.url}/contoso.onmicrosoft.com/oauth2/v2.0/authorize"
    r = raw("GET", "/common/discovery/instance", params={"api-version": "1.1", "authorization_endpoint": authorize})
    discovered = r.json()["tenant_discovery_endpoint"]
    assert discovered == f"{sim.url}/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
    assert "/_sim/device-codes/" in raw("GET", "/devicelogin").text
    assert raw("GET", "/contoso.onmicrosoft.com/nothing/here").status_code == 404
