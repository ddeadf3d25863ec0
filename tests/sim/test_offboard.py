"""Issue 4: offboard removes exactly KODO's app and what it was granted; idempotent; look-alikes survive."""

from __future__ import annotations

from .conftest import CONTOSO, UNIQUE_NAME, assert_converged, kodo_apps, tenant_state
from .lifecycle_helpers import creds_file, graph_as_admin

DISPLAY_NAME = "KODO for Microsoft 365"


def test_offboard_then_plan_shows_everything_to_create_again(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    result = assert_converged(sim, CONTOSO, creds_file(tmp_path))
    run = kodo("offboard", "--yes")
    assert f"Client ID     {result['app']['appId']}" in run.out
    assert "delete app registration" in run.out and "Offboarded" in run.out
    # Issue 16: a removal is marked "-" wherever it is shown (the plan, the steps as they are applied).
    steps = [x.strip() for x in run.out.splitlines() if x.strip()[:1] in "+~-" or x.strip()[:3].strip(". ").isdigit()]
    assert steps and all(" - " in f" {x} " for x in steps), steps
    assert not [x for x in steps if x.startswith("+")], steps
    # One name per API: the manifest's, as onboard's plan and lint show it (not the tenant's display name).
    assert "revoke application permission Azure AD Graph / Directory.Read.All" in run.out
    assert "Windows Azure Active Directory" not in run.out
    state = tenant_state(sim)
    assert kodo_apps(state) == []
    assert [s for s in state["servicePrincipals"] if s["id"] == result["sp_id"]] == []
    assert [a for a in state["appRoleAssignments"] if a["principalId"] == result["sp_id"]] == []
    assert [g for g in state["oauth2PermissionGrants"] if g["clientId"] == result["sp_id"]] == []
    assert [d["id"] for d in state["deletedItems"]] == [result["app"]["id"]]  # soft delete

    plan = kodo("plan", "--output", "json", "--detailed-exitcode", expect=2).json()
    kinds = [s["kind"] for s in plan["steps"]]
    assert {s["change"] for s in plan["steps"]} == {"+"}  # everything to add again
    assert kinds[:2] == ["upsert_application", "create_service_principal"] and plan["steps"][0]["create"]
    assert kinds.count("grant_app_role") == 8 and kinds.count("grant_delegated") == 2 and kinds[-1] == "add_secret"
    assert plan["app"]["client_id"] is None and plan["app"]["unique_name"] == UNIQUE_NAME


def test_offboard_twice_is_a_no_op(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    kodo("offboard", "--yes")
    sim.clear_request_log()
    again = kodo("offboard", "--yes", "--output", "json").json()
    assert again["status"] == "nothing_to_do" and again["plan"]["steps"] == []
    assert [r for r in sim.request_log if r.kind == "graph" and r.method in ("DELETE", "PATCH")] == []


def test_purge_removes_the_deleted_item_also_later(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    app_id = kodo_apps(tenant_state(sim))[0]["id"]
    kodo("offboard", "--yes")
    assert [d["id"] for d in tenant_state(sim)["deletedItems"]] == [app_id]
    run = kodo("offboard", "--yes", "--purge", "--output", "json").json()
    assert [s["kind"] for s in run["plan"]["steps"]] == ["purge_application"]
    assert tenant_state(sim)["deletedItems"] == []
    assert kodo("offboard", "--yes", "--purge", "--output", "json").json()["status"] == "nothing_to_do"


def test_offboard_purge_in_one_run(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    kodo("offboard", "--yes", "--purge")
    state = tenant_state(sim)
    assert kodo_apps(state) == [] and state["deletedItems"] == []


def test_an_unrelated_app_with_the_same_display_name_survives(sim, kodo, tmp_path):
    foreign = graph_as_admin(sim, "POST", "/applications", {"displayName": DISPLAY_NAME})
    assert foreign.status_code == 201, foreign.text
    foreign_id = foreign.json()["id"]
    kodo("onboard", "--yes")
    assert len([a for a in tenant_state(sim)["applications"] if a["displayName"] == DISPLAY_NAME]) == 2
    verify = kodo("verify")
    assert "1 other app(s) named 'KODO for Microsoft 365' are not KODO's and are ignored" in verify.out
    kodo("offboard", "--yes", "--purge")
    kodo("offboard", "--yes", "--purge")
    apps = tenant_state(sim)["applications"]
    assert [a["id"] for a in apps if a["displayName"] == DISPLAY_NAME] == [foreign_id]


def test_an_app_with_our_unique_name_but_not_our_tag_is_refused(sim, kodo, tmp_path):
    made = graph_as_admin(sim, "PATCH", f"/applications(uniqueName='{UNIQUE_NAME}')",
                          {"displayName": "Someone else's"}, headers={"Prefer": "create-if-missing"})
    assert made.status_code in (201, 204), made.text
    run = kodo("offboard", "--yes", expect=2)
    assert "not tagged kodo-provision" in run.err
    assert len(kodo_apps(tenant_state(sim))) == 1


def test_app_name_addresses_its_own_app(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    kodo("onboard", "--yes", "--app-name", "KODO Contoso EU", "--credentials-out", str(tmp_path / "eu.json"))
    eu = kodo_apps(tenant_state(sim), "kodo-cloud-backup-kodo-contoso-eu")
    assert len(eu) == 1 and eu[0]["displayName"] == "KODO Contoso EU" and "kodo-provision" in eu[0]["tags"]
    plan = kodo("plan", "--app-name", "KODO Contoso EU", "--credentials", str(tmp_path / "eu.json"),
                "--output", "json").json()
    assert plan["app"]["client_id"] == eu[0]["appId"] and plan["changes"] == 0
    kodo("offboard", "--yes", "--app-name", "KODO Contoso EU")
    assert kodo_apps(tenant_state(sim), "kodo-cloud-backup-kodo-contoso-eu") == []
    assert len(kodo_apps(tenant_state(sim))) == 1  # the default app is untouched
    kodo("verify")


def test_offboard_without_terminal_or_yes_is_refused(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    run = kodo("offboard", expect=2)
    assert "--dry-run" in run.err and "To sign in" not in run.err
    dry = kodo("offboard", "--dry-run")
    assert "Dry run: nothing was changed." in dry.out
    assert len(kodo_apps(tenant_state(sim))) == 1
