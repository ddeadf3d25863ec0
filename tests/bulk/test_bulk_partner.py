"""Issue 13 acceptance: a CSP partner onboards customers in which its sign-in app was never consented.

The simulator is as strict as Entra here: a partner admin's refresh token gets AADSTS65001 in every
customer until the client is consented there, and only Partner Center's application-consent API (on the
strength of a GDAP role) consents the partner's own app without a customer admin.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kodo_provision.auth import ADMIN_SCOPES
from kodo_provision.cli.main import main
from kodo_provision.simulator import Faults, Scenario

from .conftest import (
    PARTNER,
    PARTNER_UPN,
    customer,
    customer_id,
    journal_events,
    report,
    sigkill_bulk_when,
    start,
    write_tenants_csv,
)
from .test_bulk import assert_onboarded, devicecode_requests

GA, PRA, APP_ADMIN, CLOUD_APP_ADMIN = ("Global Administrator", "Privileged Role Administrator",
                                       "Application Administrator", "Cloud Application Administrator")
PARTIAL = 8
GRAPH_CLI_TOOLS = "14d82eec-204b-4c2f-b7e8-296a70dab67e"


def fleet(n_ga: int = 40, n_pra: int = 3, n_caa: int = 3, n_none: int = 4, slow_every: int = 5,
          propagation_s: float = 5.0) -> tuple[Scenario, dict[str, list[str]]]:
    """A partner with n customers in Partner Center: GA in the first n_ga, PRA + App Admin in the next n_pra,
    Cloud App Admin only in n_caa, no GDAP relationship in the last n_none; every `slow_every`-th customer
    takes `propagation_s` for a pushed consent to reach its token service."""
    n = n_ga + n_pra + n_caa + n_none
    kinds = ["ga"] * n_ga + ["pra"] * n_pra + ["caa"] * n_caa + ["none"] * n_none
    roles = {"ga": [GA], "pra": [PRA, APP_ADMIN], "caa": [CLOUD_APP_ADMIN]}
    partner: dict[str, Any] = {
        "id": "7e1c4b1e-2a57-4c43-9d1e-ffffffffffff", "domain": PARTNER, "display_name": "MSP Partner",
        "sign_in_user": PARTNER_UPN, "partner_center": {"customers": [customer(i) for i in range(n)]},
        "users": [{"upn": PARTNER_UPN, "roles": [GA],
                   "partner_access": [{"tenant": customer(i), "roles": roles[k]}
                                      for i, k in enumerate(kinds) if k != "none"]}]}
    tenants = [partner] + [{
        "id": customer_id(i), "domain": customer(i), "display_name": f"Customer {i:03d}",
        "sign_in_user": f"admin@{customer(i)}", "users": [{"upn": f"admin@{customer(i)}", "roles": [GA]}],
        "consent_propagation_s": propagation_s if i % slow_every == 0 else 0.0} for i in range(n)]
    groups: dict[str, list[str]] = {}
    for i, k in enumerate(kinds):
        groups.setdefault(k, []).append(customer(i))
    return Scenario.model_validate({"tenants": tenants, "sign_in": {"interval": 0, "default_tenant": PARTNER}}), groups


def partner_app_ids(sim) -> list[str]:
    state = sim.tenant(PARTNER).dump()
    return [a["appId"] for a in state["applications"] if a.get("uniqueName") == "kodo-provisioning-partner-signin"]


def assert_fleet_result(sim, out: Path, groups: dict[str, list[str]]) -> None:
    data = report(out)
    by_tenant = {t["tenant"]: t for t in data["tenants"]}
    (app_id,) = partner_app_ids(sim)
    for tenant in groups["ga"] + groups["pra"]:
        assert_onboarded(sim, out, tenant, by_tenant[tenant])
        assert by_tenant[tenant]["partner_consent"] == app_id
        grants = [g for g in sim.tenant(tenant).dump()["oauth2PermissionGrants"]]
        sp = next(s for s in sim.tenant(tenant).dump()["servicePrincipals"] if s["appId"] == app_id)
        assert len([g for g in grants if g["clientId"] == sp["id"]]) == 1, "one consent grant per customer"
    for tenant in groups["caa"]:
        entry = by_tenant[tenant]
        assert entry["status"] == "failed" and entry["exit_status"] == 4
        assert "Cloud Application Administrator" in entry["error"]
        assert "Global Administrator, or Privileged Role Administrator together with" in entry["error"]
    for tenant in groups["caa"] + groups["none"]:
        state = sim.tenant(tenant).dump()
        assert state["applications"] == [] and state["oauth2PermissionGrants"] == [], f"{tenant} was touched"
        assert not [s for s in state["servicePrincipals"] if s["appId"] == app_id]
    for tenant in groups["none"]:
        assert "no active GDAP relationship" in by_tenant[tenant]["error"]
    verified = len(groups["ga"]) + len(groups["pra"])
    assert data["summary"]["succeeded"] == verified


def test_all_customers_onboards_every_customer_the_partner_may_onboard(bulk_run, tmp_path):
    scenario, groups = fleet()
    with start(scenario) as sim:
        run = bulk_run(sim, "--all-customers", "--out", "out", "--yes", "--concurrency", "16", expect=PARTIAL)
        assert devicecode_requests(sim) <= 2
        assert_fleet_result(sim, tmp_path / "out", groups)
        assert "43 succeeded, 7 failed" in run.out
        pushes = [r for r in sim.request_log if r.kind == "partner" and r.method == "POST"]
        assert len(pushes) == 43 and {r.status for r in pushes} == {201}, "consent pushed once, only where allowed"
        # A later run remembers the partner sign-in app: one prompt, consent present (nothing pushed again).
        sim.clear_request_log()
        bulk_run(sim, "--all-customers", "--out", "again", "--yes", "--concurrency", "16", expect=PARTIAL)
        assert devicecode_requests(sim) == 1
        assert {r.status for r in sim.request_log if r.kind == "partner" and r.method == "POST"} == {409}
        assert len(partner_app_ids(sim)) == 1


def test_the_same_fleet_from_a_tenants_file(bulk_run, tmp_path):
    scenario, groups = fleet()
    tenants = [customer(i) for i in range(50)]
    with start(scenario) as sim:
        run = bulk_run(sim, str(write_tenants_csv(tmp_path / "t.csv", tenants)), "--out", "out", "--yes",
                       "--concurrency", "16", expect=PARTIAL)
        assert devicecode_requests(sim) <= 2
        assert_fleet_result(sim, tmp_path / "out", groups)
        assert "43 succeeded, 7 failed" in run.out


def test_partner_center_refusing_is_one_line_and_no_customer_changes(bulk_run, tmp_path):
    """GDAP relationships, but Partner Center refuses (the user is not in AdminAgents, or the tenant is no
    partner there): one line, exit 4; only the sign-in app may exist in the partner tenant."""
    scenario, groups = fleet(n_ga=2, n_pra=0, n_caa=0, n_none=0)
    data = scenario.model_dump()
    data["tenants"][0]["partner_center"] = None
    with start(Scenario.model_validate(data)) as sim:
        run = bulk_run(sim, "--all-customers", "--out", "out", "--yes", expect=4)
        (error,) = [line for line in run.err.splitlines() if line.startswith("error:")]
        assert "Partner Center refused to list customers (HTTP 403" in error and "AdminAgents" in error
        for tenant in groups["ga"]:
            state = sim.tenant(tenant).dump()
            assert state["applications"] == [] and state["oauth2PermissionGrants"] == []


def test_a_tenants_file_of_customers_and_strangers(bulk_run, tmp_path):
    scenario, groups = fleet(n_ga=6, n_pra=1, n_caa=1, n_none=1, slow_every=3)
    stranger = "fabrikam-not-a-customer.onmicrosoft.com"
    tenants = [*groups["ga"], *groups["pra"], *groups["caa"], *groups["none"]]
    with start(scenario) as sim:
        run = bulk_run(sim, str(write_tenants_csv(tmp_path / "t.csv", [*tenants, stranger])), "--out", "out", "--yes",
                       expect=PARTIAL)
        assert devicecode_requests(sim) <= 2
        assert_fleet_result(sim, tmp_path / "out", groups)
        entry = {t["tenant"]: t for t in report(tmp_path / "out")["tenants"]}[stranger]
        assert "not a customer of this partner in Partner Center" in entry["error"]
        assert "7 succeeded, 3 failed" in run.out


def test_all_customers_refused_for_an_operator_who_is_not_a_partner(bulk_run, tmp_path):
    scenario, _groups = fleet(n_ga=2, n_pra=0, n_caa=0, n_none=0)
    with start(scenario) as sim:
        sim.set_sign_in(tenant=PARTNER, user=f"admin@{customer(0)}")  # a customer's own admin signs in
        run = bulk_run(sim, "--all-customers", "--out", "out", "--yes", expect=2)
        (error,) = [line for line in run.err.splitlines() if line.startswith("error:")]
        assert "no GDAP relationships" in error and " — " in error
        assert sim.tenant(customer(1)).dump()["applications"] == []
        assert partner_app_ids(sim) == []


def test_sigkill_mid_run_then_resume_consents_and_onboards_exactly_once(bulk_run, tmp_path):
    scenario, groups = fleet(n_ga=10, n_pra=1, n_caa=1, n_none=0, slow_every=4, propagation_s=2.0)
    out = tmp_path / "out"
    with start(scenario, Faults(latency_ms=40)) as sim:

        def consent_pushed_for_a_running_tenant(events: list[dict]) -> bool:
            finished = {e["tenant"] for e in events if e["event"] == "tenant_finished"}
            consented = {e["tenant"] for e in events if e["event"] == "partner_consent"}
            return len(finished) >= 2 and bool(consented - finished)

        sigkill_bulk_when(sim, tmp_path, ["--all-customers"], out, consent_pushed_for_a_running_tenant)
        journaled = {e["tenant"] for e in journal_events(out / "journal.jsonl") if e["event"] == "partner_consent"}
        sim.clear_request_log()
        bulk_run(sim, "--all-customers", "--out", "out", "--yes", "--resume", expect=PARTIAL)
        assert devicecode_requests(sim) == 1, "the partner sign-in app set up by the killed run is remembered"
        pushed_again = {r.path.split("/")[3] for r in sim.request_log if r.kind == "partner" and r.method == "POST"}
        assert not pushed_again & {sim.tenant(t).id for t in journaled}, "consent pushes not repeated where present"
        assert_fleet_result(sim, out, groups | {"none": []})
        assert not list(out.glob(".kodo-credentials-*.tmp"))


def test_without_a_partner_route_each_unconsented_tenant_gets_its_admin_consent_url(bulk_run, tmp_path):
    """--no-partner-center (or an operator who is no CSP partner): AADSTS65001 per tenant, with the v2
    admin-consent URL of that tenant and client in the report; once an admin consented, --only-failed."""
    scenario, groups = fleet(n_ga=3, n_pra=0, n_caa=0, n_none=0)
    tenants = groups["ga"]
    tenants_file = str(write_tenants_csv(tmp_path / "t.csv", tenants))
    with start(scenario) as sim:
        run = bulk_run(sim, tenants_file, "--out", "out", "--yes", "--no-partner-center", expect=PARTIAL)
        entries = {t["tenant"]: t for t in report(tmp_path / "out")["tenants"]}
        for tenant in tenants:
            url = entries[tenant]["admin_consent_url"]
            assert url.startswith(f"{sim.url}/{tenant}/v2.0/adminconsent?client_id={GRAPH_CLI_TOOLS}&scope=")
            assert "AADSTS65001" in entries[tenant]["error"] and f"  {tenant}: {url}" in run.out
            assert sim.tenant(tenant).dump()["applications"] == []
        assert partner_app_ids(sim) == [], "no partner app without the partner route"
        sim.grant_consent(tenants[0], GRAPH_CLI_TOOLS, list(ADMIN_SCOPES))  # the admin opened the URL
        bulk_run(sim, tenants_file, "--out", "out", "--yes", "--no-partner-center", "--only-failed", expect=PARTIAL)
        entry = {t["tenant"]: t for t in report(tmp_path / "out")["tenants"]}[tenants[0]]
        assert_onboarded(sim, tmp_path / "out", tenants[0], entry)


def kodo(sim, *args: str, expect: int = 0) -> None:
    """Another kodo-provision command, in-process against `sim`."""
    code = main([*args, "--authority-host", sim.url, "--graph-endpoint", sim.url, "--ca-bundle",
                 str(sim.ca_bundle_path)])
    assert code == expect


def test_partner_app_setup_show_remove_consent_and_remove(bulk_run, tmp_path, capfd):
    scenario, groups = fleet(n_ga=2, n_pra=0, n_caa=0, n_none=0)
    with start(scenario) as sim:
        kodo(sim, "partner-app", "setup", "--home-tenant", PARTNER)
        (app_id,) = partner_app_ids(sim)
        capfd.readouterr()
        kodo(sim, "partner-app", "show", "--home-tenant", PARTNER, "--output", "json")
        shown = json.loads(capfd.readouterr().out)
        assert shown["client_id"] == app_id and "user_impersonation" in shown["delegated_permissions"][
            "Microsoft Partner Center"]
        sim.clear_request_log()
        bulk_run(sim, str(write_tenants_csv(tmp_path / "t.csv", groups["ga"])), "--out", "out", "--yes",
                 "--home-tenant", PARTNER)
        assert devicecode_requests(sim) == 1, "set up ahead: the bulk run has one prompt"
        customer0 = groups["ga"][0]
        main(["partner-app", "remove-consent", "--tenant", customer0, "--home-tenant", PARTNER, "--authority-host",
              sim.url, "--graph-endpoint", sim.url, "--partner-center-endpoint", sim.url, "--ca-bundle",
              str(sim.ca_bundle_path)])
        assert not [s for s in sim.tenant(customer0).dump()["servicePrincipals"] if s["appId"] == app_id]
        assert [s for s in sim.tenant(groups["ga"][1]).dump()["servicePrincipals"] if s["appId"] == app_id]
        kodo(sim, "partner-app", "remove", "--home-tenant", PARTNER)
        assert partner_app_ids(sim) == []
        capfd.readouterr()
        kodo(sim, "partner-app", "show", "--home-tenant", PARTNER, "--output", "json")
        assert json.loads(capfd.readouterr().out)["client_id"] is None


def test_offboard_reports_and_removes_the_partner_consent(bulk_run, tmp_path, capfd):
    scenario, groups = fleet(n_ga=1, n_pra=0, n_caa=0, n_none=0)
    tenant = groups["ga"][0]
    with start(scenario) as sim:
        bulk_run(sim, str(write_tenants_csv(tmp_path / "t.csv", [tenant])), "--out", "out", "--yes")
        (app_id,) = partner_app_ids(sim)
        capfd.readouterr()
        kodo(sim, "offboard", "--tenant", tenant, "--yes", "--client-id", app_id)
        out = capfd.readouterr().out
        assert sim.tenant(tenant).dump()["applications"] == []
        assert [s for s in sim.tenant(tenant).dump()["servicePrincipals"] if s["appId"] == app_id]
        kodo(sim, "offboard", "--tenant", tenant, "--yes", "--client-id", app_id)
        assert "--partner-consent removes it" in capfd.readouterr().out, out
        kodo(sim, "offboard", "--tenant", tenant, "--yes", "--partner-consent", "--client-id", app_id)
        assert not [s for s in sim.tenant(tenant).dump()["servicePrincipals"] if s["appId"] == app_id]
        assert sim.tenant(tenant).dump()["oauth2PermissionGrants"] == []


def test_a_remembered_partner_app_deleted_in_entra_is_set_up_again(bulk_run, tmp_path):
    scenario, groups = fleet(n_ga=2, n_pra=0, n_caa=0, n_none=0)
    tenants_file = str(write_tenants_csv(tmp_path / "t.csv", groups["ga"]))
    with start(scenario) as sim:
        bulk_run(sim, tenants_file, "--out", "first", "--yes")
        (old,) = partner_app_ids(sim)
        partner = sim.tenant(PARTNER)
        with sim.core.lock:  # someone deletes it in the admin center
            tenant = sim.core.directory.tenants[partner.id]
            for oid in [o for o, a in tenant.applications.items() if a.data["appId"] == old]:
                del tenant.applications[oid]
        bulk_run(sim, tenants_file, "--out", "second", "--yes")
        (new,) = partner_app_ids(sim)
        assert new != old
        assert {t["partner_consent"] for t in report(tmp_path / "second")["tenants"]} == {new}


def test_after_login_with_the_partner_app_bulk_asks_nothing(bulk_run, tmp_path, monkeypatch):
    """First run 2 prompts, later runs 1, and none after `kodo-provision login --client-id <partner app>`."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    scenario, groups = fleet(n_ga=2, n_pra=0, n_caa=0, n_none=0)
    with start(scenario) as sim:
        kodo(sim, "partner-app", "setup")
        (app_id,) = partner_app_ids(sim)
        kodo(sim, "login", "--client-id", app_id, "--allow-unencrypted-cache")
        sim.clear_request_log()
        bulk_run(sim, str(write_tenants_csv(tmp_path / "t.csv", groups["ga"])), "--out", "out", "--yes")
        assert devicecode_requests(sim) == 0
        for tenant in groups["ga"]:
            assert {t["tenant"]: t for t in report(tmp_path / "out")["tenants"]}[tenant]["status"] == "succeeded"


def test_one_ctrl_c_mid_bulk_writes_the_report_and_resume_finishes(bulk_run, tmp_path):
    """Issue 14: SIGINT while customers are being onboarded: exit 130, one line with how to continue, the
    report names what finished; --resume onboards the rest exactly once."""
    import signal

    scenario, groups = fleet(n_ga=8, n_pra=0, n_caa=0, n_none=0, slow_every=3, propagation_s=2.0)
    out = tmp_path / "out"
    with start(scenario, Faults(latency_ms=40)) as sim:

        def some_finished(events: list[dict]) -> bool:
            return len({e["tenant"] for e in events if e["event"] == "tenant_finished"}) >= 2

        code, err = sigkill_bulk_when(sim, tmp_path, ["--all-customers"], out, some_finished, signum=signal.SIGINT)
        assert code == 130, err
        assert err.strip().splitlines()[-1] == "interrupted; continue with the same command and --resume"
        assert "Traceback" not in err
        assert {t["status"] for t in report(out)["tenants"]} >= {"succeeded"}
        bulk_run(sim, "--all-customers", "--out", "out", "--yes", "--resume")
        assert_fleet_result(sim, out, groups | {"pra": [], "caa": [], "none": []})


def test_the_remembered_partner_app_signs_in_at_its_own_tenant(bulk_run, tmp_path):
    """Another tenant's admin on the same machine is not asked to consent the partner's app in their own
    tenant: the remembered app signs in at the partner tenant, where they have no access (AADSTS50020)."""
    scenario, groups = fleet(n_ga=1, n_pra=0, n_caa=0, n_none=0)
    with start(scenario) as sim:
        kodo(sim, "partner-app", "setup")
        (app_id,) = partner_app_ids(sim)
        sim.set_sign_in(user=f"admin@{groups['ga'][0]}")  # whoever approves any device code now
        run = bulk_run(sim, str(write_tenants_csv(tmp_path / "t.csv", groups["ga"])), "--out", "out", "--yes",
                       expect=3)
        (error,) = [line for line in run.err.splitlines() if line.startswith("error:")]
        assert "AADSTS50020" in error
        customer = sim.tenant(groups["ga"][0]).dump()
        assert not [s for s in customer["servicePrincipals"] if s["appId"] == app_id], "no consent in their tenant"
