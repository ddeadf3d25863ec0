"""The replication model: session consistency for delegated callers, lag for everyone else.

Entra writes go to a primary replica; Graph keeps a logical session with affinity to one
secondary replica that reads the session's own writes, as long as its requests stay in one
datacenter (https://learn.microsoft.com/en-us/entra/architecture/architecture, "Data consistency").
Delegated access often sees consistency across requests; app-only requests may not
(https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/).
"""

from __future__ import annotations

import pytest
from azure.core.exceptions import ClientAuthenticationError
from conftest import CONTOSO, GRAPH_APP_ID, app_only, claims, graph_client, run, sign_in
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

LAG = 60_000  # longer than any test: nothing replicates unless settle_replication() says so
MAIL_READ = "810c84a8-4a9e-49e6-bf7d-12d183f40d01"
APPLICATION_READ_ALL = "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30"
SESSION = Faults(replication_lag_ms=LAG, replication_model="session")


def upsert_cfg() -> RequestConfiguration:
    cfg = RequestConfiguration()
    cfg.headers.add("Prefer", "create-if-missing")
    return cfg


async def status_of(call) -> int:
    """200 when the awaited SDK call succeeds, else the Graph error status."""
    try:
        await call
    except ODataError as exc:
        return exc.response_status_code
    return 200


def test_default_model_is_global(sim):
    """Existing fault tests rely on every request waiting for the lag."""
    assert Faults().replication_model == "global" and Faults().affinity_loss_rate == 0


def test_same_session_reads_its_writes_and_makes_dependent_writes(sim):
    c = graph_client(sim, sign_in(sim))
    sim.set_faults(SESSION)

    async def chain():
        graph = await c.service_principals_with_app_id(GRAPH_APP_ID).get()
        app = await c.applications_with_unique_name("rw").patch(Application(display_name="RW"), upsert_cfg())
        got = await c.applications.by_application_id(app.id).get()
        sp = await c.service_principals.post(ServicePrincipal(app_id=app.app_id))
        assignment = await c.service_principals.by_service_principal_id(graph.id).app_role_assigned_to.post(
            AppRoleAssignment(principal_id=sp.id, resource_id=graph.id, app_role_id=MAIL_READ))
        grant = await c.oauth2_permission_grants.post(OAuth2PermissionGrant(
            client_id=sp.id, consent_type="AllPrincipals", resource_id=graph.id, scope="User.Read"))
        assigned = await c.service_principals.by_service_principal_id(sp.id).app_role_assignments.get()
        grants = await c.service_principals.by_service_principal_id(sp.id).oauth2_permission_grants.get()
        await c.applications.by_application_id(app.id).patch(Application(display_name="RW 2"))
        renamed = await c.applications.by_application_id(app.id).get()
        return app, got, sp, assignment, grant, assigned, grants, renamed

    app, got, sp, assignment, grant, assigned, grants, renamed = run(chain())
    assert got.id == app.id
    assert [a.id for a in assigned.value] == [assignment.id] and [g.id for g in grants.value] == [grant.id]
    assert renamed.display_name == "RW 2"
    state = sim.tenant(CONTOSO).dump()
    assert [s["id"] for s in state["servicePrincipals"] if s["appId"] == app.app_id] == [sp.id]


def test_other_user_sees_new_and_changed_objects_only_after_the_lag(sim):
    admin = graph_client(sim, sign_in(sim))
    other = graph_client(sim, sign_in(sim, upn="appadmin@contoso.onmicrosoft.com"))
    sim.set_faults(Faults(replication_lag_ms=0, replication_model="session"))
    old = run(admin.applications_with_unique_name("seen").patch(Application(display_name="Old"), upsert_cfg()))
    sim.set_faults(SESSION)

    async def go():
        new = await admin.applications_with_unique_name("unseen").patch(Application(display_name="N"),
                                                                         upsert_cfg())
        await admin.applications.by_application_id(old.id).patch(Application(display_name="Changed"))
        other_get = await status_of(other.applications.by_application_id(new.id).get())
        other_view = await other.applications.by_application_id(old.id).get()
        admin_view = await admin.applications.by_application_id(old.id).get()
        return new, other_get, other_view.display_name, admin_view.display_name

    new, other_get, other_name, admin_name = run(go())
    assert other_get == 404 and other_name == "Old" and admin_name == "Changed"

    sim.settle_replication()
    after = run(other.applications.by_application_id(new.id).get())
    assert after.id == new.id and run(other.applications.by_application_id(old.id).get()).display_name == "Changed"


def test_app_only_token_reflects_new_role_assignments_only_after_the_lag(sim):
    """The token service is another principal: the session's fresh assignment is not in `roles` yet."""
    c = graph_client(sim, sign_in(sim))
    sim.set_faults(Faults(replication_lag_ms=0, replication_model="session"))

    async def setup():
        graph = await c.service_principals_with_app_id(GRAPH_APP_ID).get()
        app = await c.applications_with_unique_name("tok").patch(Application(display_name="T"), upsert_cfg())
        pw = await c.applications.by_application_id(app.id).add_password.post(
            AddPasswordPostRequestBody(password_credential=PasswordCredential(display_name="t")))
        sp = await c.service_principals.post(ServicePrincipal(app_id=app.app_id))
        await c.service_principals.by_service_principal_id(graph.id).app_role_assigned_to.post(
            AppRoleAssignment(principal_id=sp.id, resource_id=graph.id, app_role_id=APPLICATION_READ_ALL))
        return graph, app, pw, sp

    graph, app, pw, sp = run(setup())
    sim.set_faults(SESSION)
    run(c.service_principals.by_service_principal_id(graph.id).app_role_assigned_to.post(
        AppRoleAssignment(principal_id=sp.id, resource_id=graph.id, app_role_id=MAIL_READ)))
    assigned = run(c.service_principals.by_service_principal_id(sp.id).app_role_assignments.get())
    assert len(assigned.value) == 2  # the writing session sees both

    scope = "https://graph.microsoft.com/.default"
    token = app_only(sim, CONTOSO, app.app_id, pw.secret_text).get_token(scope).token
    assert claims(token)["roles"] == ["Application.Read.All"]

    # An app-only Graph caller has no session either: a new object of the admin's is not there yet.
    fresh = run(c.applications_with_unique_name("fresh").patch(Application(display_name="F"), upsert_cfg()))
    app_client = graph_client(sim, app_only(sim, CONTOSO, app.app_id, pw.secret_text), scopes=[scope])
    assert run(status_of(app_client.applications.by_application_id(fresh.id).get())) == 404

    sim.settle_replication()
    token = app_only(sim, CONTOSO, app.app_id, pw.secret_text).get_token(scope).token
    assert claims(token)["roles"] == ["Application.Read.All", "Mail.Read"]


def test_token_service_does_not_know_a_new_app_before_the_lag(sim):
    c = graph_client(sim, sign_in(sim))
    sim.set_faults(SESSION)

    async def setup():
        app = await c.applications_with_unique_name("new").patch(Application(display_name="N"), upsert_cfg())
        pw = await c.applications.by_application_id(app.id).add_password.post(
            AddPasswordPostRequestBody(password_credential=PasswordCredential(display_name="n")))
        await c.service_principals.post(ServicePrincipal(app_id=app.app_id))
        return app, pw

    app, pw = run(setup())
    with pytest.raises(ClientAuthenticationError, match="AADSTS700016"):
        app_only(sim, CONTOSO, app.app_id, pw.secret_text).get_token("https://graph.microsoft.com/.default")


def test_affinity_loss_makes_a_same_session_read_miss(sim):
    c = graph_client(sim, sign_in(sim))
    sim.set_faults(Faults(replication_lag_ms=LAG, replication_model="session", affinity_loss_rate=1.0))

    async def go():
        app = await c.applications_with_unique_name("lost").patch(Application(display_name="L"), upsert_cfg())
        get = await status_of(c.applications.by_application_id(app.id).get())
        sp = await status_of(c.service_principals.post(ServicePrincipal(app_id=app.app_id)))
        return get, sp

    assert run(go()) == (404, 400)


def test_partial_affinity_loss_is_seeded(sim):
    c = graph_client(sim, sign_in(sim))

    def reads(seed: int) -> list[int]:
        sim.set_faults(SESSION)
        app = run(c.applications_with_unique_name("half").patch(Application(display_name="H"), upsert_cfg()))
        # A write that itself lost affinity would belong to another datacenter's session: keep it home.
        sim.set_faults(SESSION.model_copy(update={"affinity_loss_rate": 0.5, "seed": seed}))

        async def go():
            return [await status_of(c.applications.by_application_id(app.id).get()) for _ in range(16)]

        return run(go())

    first = reads(11)
    assert set(first) == {200, 404}
    sim.reset()
    c = graph_client(sim, sign_in(sim))
    assert reads(11) == first
