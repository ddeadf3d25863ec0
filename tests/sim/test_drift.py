"""Issue 4: drift in both directions. Missing grants are repaired by onboard; permissions the
manifest does not list are reported, and revoked only with --prune."""

from __future__ import annotations

from .conftest import CONTOSO, assert_converged, tenant_state
from .lifecycle_helpers import creds_file, graph_as_admin

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
DIRECTORY_READ_ALL = "7ab1d382-f21e-4acd-a863-ba3e13f7da61"  # Graph application permission, not in the manifest


def add_foreign_permissions(sim, result) -> tuple[str, str]:
    """Someone grants KODO's app more than the manifest asks for, in the portal."""
    state = result["state"]
    graph_sp = next(s for s in state["servicePrincipals"] if s["appId"] == GRAPH_APP_ID)
    made = graph_as_admin(sim, "POST", f"/servicePrincipals/{graph_sp['id']}/appRoleAssignedTo",
                          {"principalId": result["sp_id"], "resourceId": graph_sp["id"],
                           "appRoleId": DIRECTORY_READ_ALL})
    assert made.status_code == 201, made.text
    grant = next(g for g in result["grants"] if g["resourceId"] == graph_sp["id"])
    patched = graph_as_admin(sim, "PATCH", f"/oauth2PermissionGrants/{grant['id']}",
                             {"scope": grant["scope"] + " Mail.Read"})
    assert patched.status_code == 204, patched.text
    return made.json()["id"], grant["id"]


def test_extra_permissions_are_reported_and_kept_without_prune(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    result = assert_converged(sim, CONTOSO, creds_file(tmp_path))
    assignment_id, grant_id = add_foreign_permissions(sim, result)
    plan = kodo("plan", "--output", "json", "--detailed-exitcode").json()  # exit 0: nothing to change
    assert plan["steps"] == []
    notes = " ".join(plan["notes"])
    assert "Microsoft Graph / Directory.Read.All" in notes and "Mail.Read" in notes and "--prune" in notes
    run = kodo("onboard", "--yes")
    assert "Note          not in the manifest (kept; `onboard --prune` revokes it)" in run.out
    state = tenant_state(sim)
    assert any(a["id"] == assignment_id for a in state["appRoleAssignments"])
    assert "Mail.Read" in next(g for g in state["oauth2PermissionGrants"] if g["id"] == grant_id)["scope"].split()
    warn = kodo("verify")
    assert "WARN  extra_permission: application permission Microsoft Graph / Directory.Read.All" in warn.out


def test_prune_revokes_exactly_the_extras(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    result = assert_converged(sim, CONTOSO, creds_file(tmp_path))
    assignment_id, grant_id = add_foreign_permissions(sim, result)
    plan = kodo("plan", "--prune", "--output", "json", "--detailed-exitcode", expect=2).json()
    assert sorted(s["kind"] for s in plan["steps"]) == ["revoke_app_role", "revoke_delegated"]
    run = kodo("onboard", "--yes", "--prune", "--output", "json").json()
    assert any("revoke application permission Microsoft Graph / Directory.Read.All" in a for a in run["applied"])
    after = assert_converged(sim, CONTOSO, creds_file(tmp_path))
    assert all(a["id"] != assignment_id for a in after["assignments"]) and len(after["assignments"]) == 8
    assert next(g for g in after["grants"] if g["id"] == grant_id)["scope"].split() == ["User.Read"]
    assert kodo("plan", "--prune", "--output", "json", "--detailed-exitcode").json()["notes"] == []


def test_removed_grant_shows_in_plan_and_onboard_restores_it(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    result = assert_converged(sim, CONTOSO, creds_file(tmp_path))
    kodo("plan", "--detailed-exitcode")
    victim = result["grants"][0]
    sim.tenant(CONTOSO).delete_oauth2_permission_grant(victim["id"])
    plan = kodo("plan", "--output", "json", "--detailed-exitcode", expect=2).json()
    assert [s["kind"] for s in plan["steps"]] == ["grant_delegated"]
    assert plan["steps"][0]["resource_sp_id"] == victim["resourceId"]
    kodo("onboard", "--yes")
    kodo("plan", "--detailed-exitcode")
    kodo("verify")


def test_detailed_exitcode_gives_1_for_every_error_as_terraform_does(sim, kodo):
    """Issue 16: with --detailed-exitcode, 2 means changes pending, so a usage error is 1 (terraform's
    convention); without the flag it stays 2. The line on stderr still says what was wrong."""
    bad_tenant = kodo("plan", "--detailed-exitcode", "--tenant", "not a tenant!", tenant=None, expect=1)
    assert [x for x in bad_tenant.err.splitlines() if x.startswith("error:")]
    unknown_flag = kodo("plan", "--detailed-exitcode", "--no-such-flag", expect=1)
    assert "no such option" in unknown_flag.err.lower()
    kodo("plan", "--tenant", "not a tenant!", tenant=None, expect=2)
    assert not sim.request_log
