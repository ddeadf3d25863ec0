"""Fault knobs: replication lag, throttling, 5xx, per-tenant rate limit, lost responses, latency."""

from __future__ import annotations

import time

import httpx
import pytest
from conftest import CONTOSO, GRAPH_APP_ID, graph_client, run, sign_in, token_of
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.applications.item.add_password.add_password_post_request_body import (
    AddPasswordPostRequestBody,
)
from msgraph.generated.models.app_role_assignment import AppRoleAssignment
from msgraph.generated.models.application import Application
from msgraph.generated.models.o_auth2_permission_grant import OAuth2PermissionGrant
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.password_credential import PasswordCredential
from msgraph.generated.models.service_principal import ServicePrincipal

from kodo_provision.simulator import Faults


def test_replication_lag_errors_then_consistency(sim):
    c = graph_client(sim, sign_in(sim))
    sim.set_faults(Faults(replication_lag_ms=60_000))

    async def go():
        cfg = RequestConfiguration()
        cfg.headers.add("Prefer", "create-if-missing")
        app = await c.applications_with_unique_name("lagging").patch(Application(display_name="L"), cfg)
        errors = {}
        for name, call in {
            "get": c.applications.by_application_id(app.id).get(),
            "addPassword": c.applications.by_application_id(app.id).add_password.post(
                AddPasswordPostRequestBody(password_credential=PasswordCredential())),
            "sp": c.service_principals.post(ServicePrincipal(app_id=app.app_id)),
        }.items():
            with pytest.raises(ODataError) as e:
                await call
            errors[name] = e.value
        # The uniqueName path always sees it: a retried upsert updates instead of duplicating.
        again = await c.applications_with_unique_name("lagging").patch(Application(display_name="L2"), cfg)
        return app, errors, again

    app, errors, again = run(go())
    assert errors["get"].response_status_code == 404 and errors["get"].error.code == "Request_ResourceNotFound"
    assert errors["addPassword"].response_status_code == 404
    assert errors["sp"].response_status_code == 400
    assert "does not reference a valid application object" in errors["sp"].error.message
    assert again is None and len(sim.tenant(CONTOSO).dump()["applications"]) == 1

    sim.settle_replication()  # the app is replicated now; the SP created next is not

    async def later():
        sp = await c.service_principals.post(ServicePrincipal(app_id=app.app_id))
        graph = await c.service_principals_with_app_id(GRAPH_APP_ID).get()
        with pytest.raises(ODataError) as assign:
            await c.service_principals.by_service_principal_id(graph.id).app_role_assigned_to.post(
                AppRoleAssignment(principal_id=sp.id, resource_id=graph.id,
                                  app_role_id="810c84a8-4a9e-49e6-bf7d-12d183f40d01"))
        with pytest.raises(ODataError) as grant:
            await c.oauth2_permission_grants.post(OAuth2PermissionGrant(
                client_id=sp.id, consent_type="AllPrincipals", resource_id=graph.id, scope="User.Read"))
        return assign.value, grant.value

    assign, grant = run(later())
    assert assign.response_status_code == 404 and grant.response_status_code == 400


def test_random_replication_lag_is_reproducible(sim):
    sim.set_faults(Faults(replication_lag_ms=1000, replication_lag_random=True, seed=7))
    a = [sim.core.faults.replication_delay() for _ in range(3)]
    sim.set_faults(Faults(replication_lag_ms=1000, replication_lag_random=True, seed=7))
    assert a == [sim.core.faults.replication_delay() for _ in range(3)] and all(0 <= x <= 1 for x in a)


def test_throttling_429_with_retry_after(sim):
    c = graph_client(sim, sign_in(sim))
    sim.set_faults(Faults(throttle_rate=1.0, retry_after_s=7))
    with pytest.raises(ODataError) as err:
        run(c.applications.get())
    assert err.value.response_status_code == 429 and err.value.error.code == "TooManyRequests"
    assert err.value.response_headers["retry-after"] == "7"
    # Login is not throttled.
    assert sign_in(sim)


def test_sdk_retry_handler_honours_retry_after(sim):
    c = graph_client(sim, sign_in(sim), retries=3)
    sim.set_faults(Faults(throttle_rate=0.5, retry_after_s=0, seed=3))
    for _ in range(4):
        run(c.applications.get())
    statuses = [r.status for r in sim.request_log if r.kind == "graph"]
    assert 429 in statuses and statuses[-1] == 200


def test_server_errors_503_504(sim, raw):
    token = token_of(sign_in(sim))
    sim.set_faults(Faults(server_error_rate=1.0, seed=1))
    codes = {raw("GET", "/v1.0/applications", token).status_code for _ in range(12)}
    assert codes == {503, 504}


def test_per_tenant_rate_limit(sim, raw):
    token = token_of(sign_in(sim))
    sim.set_faults(Faults(tenant_rps=3))
    codes = [raw("GET", "/v1.0/organization", token).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]


def test_lost_response_commits_the_write(sim):
    c = graph_client(sim, sign_in(sim))
    sim.lose_next_response("applications.create")
    with pytest.raises(httpx.TransportError):
        run(c.applications.post(Application(display_name="committed")))
    assert [a["displayName"] for a in sim.tenant(CONTOSO).dump()["applications"]] == ["committed"]
    assert sim.request_log[-1].error_code == "LostResponse"
    # Aliases: "createServicePrincipal", "addPassword" ...; the next write goes through.
    app = run(c.applications.post(Application(display_name="second")))
    sim.lose_next_response("createServicePrincipal")
    with pytest.raises(httpx.TransportError):
        run(c.service_principals.post(ServicePrincipal(app_id=app.app_id)))
    assert any(s["appId"] == app.app_id for s in sim.tenant(CONTOSO).dump()["servicePrincipals"])


def test_lost_response_rate_drops_only_writes(sim, raw):
    token = token_of(sign_in(sim))
    sim.set_faults(Faults(lost_response_rate=1.0))
    assert raw("GET", "/v1.0/applications", token).status_code == 200
    with pytest.raises(httpx.TransportError):
        raw("POST", "/v1.0/applications", token, json={"displayName": "x"})


def test_latency(sim, raw):
    token = token_of(sign_in(sim))
    sim.set_faults(Faults(latency_ms=150))
    t = time.monotonic()
    assert raw("GET", "/v1.0/organization", token).status_code == 200
    assert time.monotonic() - t >= 0.15
    assert sim.request_log[-1].duration_ms >= 150


def test_a_change_is_not_visible_to_reads_during_the_lag(sim):
    c = graph_client(sim, sign_in(sim))
    app = run(c.applications.post(Application(display_name="before")))
    sim.set_faults(Faults(replication_lag_ms=60_000))

    async def go():
        await c.applications.by_application_id(app.id).patch(Application(display_name="after"))
        return await c.applications.by_application_id(app.id).get()

    assert run(go()).display_name == "before"  # the read replica has not caught up
    assert sim.tenant(CONTOSO).dump()["applications"][0]["displayName"] == "after"  # committed
    sim.settle_replication()
    assert run(c.applications.by_application_id(app.id).get()).display_name == "after"
