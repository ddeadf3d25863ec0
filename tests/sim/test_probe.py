"""Issue 18: `verify --probe` proves data access with the KODO app's own token, one read per granted API,
and tells "blocked by a tenant setting" (with the admin's fix) from "permission missing", per simulator switch."""

from __future__ import annotations

import json

import pytest

from .conftest import CONTOSO, kodo_apps, tenant_state

MAILBOX = "admin@contoso.onmicrosoft.com"  # the first user with a mailbox, by UPN
SEED_PROBES = {"directory", "mail", "onedrive", "sharepoint", "ews", "azure_ad_graph"}


def probes(kodo, sim, *extra: str, expect: int) -> dict[str, dict]:
    run = kodo("verify", "--probe", "--exchange-endpoint", sim.url, "--output", "json", *extra, expect=expect)
    return {p["name"]: p for p in run.json()["probes"]}


def states(found: dict[str, dict]) -> dict[str, str]:
    return {name: p["state"] for name, p in found.items()}


@pytest.fixture
def onboarded(sim, kodo):
    kodo("onboard", "--yes")
    return sim


def test_a_fresh_tenant_reads_everything_but_ews_which_is_blocked_by_default(onboarded, kodo):
    text = kodo("verify", "--probe", "--exchange-endpoint", onboarded.url, expect=6)
    assert "probe_ews: Office 365 Exchange Online: could not read the inbox over EWS of" in text.out, text.out
    assert "the tenant's admin acts as each failed probe line says" in text.err
    found = probes(kodo, onboarded, expect=6)
    assert states(found) == {"directory": "ok", "mail": "ok", "onedrive": "ok", "sharepoint": "ok",
                             "ews": "blocked", "azure_ad_graph": "not_probed"}
    client_id = kodo_apps(tenant_state(onboarded))[0]["appId"]
    assert found["ews"]["action"].startswith("EWS is off for the organization or the app is not allow-listed")
    assert f'-EwsAllowedAppIDs @{{Add="{client_id}"}}' in found["ews"]["action"]
    assert MAILBOX in found["mail"]["detail"]
    assert "kodo-graph" in found["azure_ad_graph"]["action"]


@pytest.mark.parametrize(("exchange", "ews"), [
    ({"ews_enabled": True}, "ok"),                                   # enabled, no allow list
    ({"ews_enabled": False}, "blocked"),                             # switched off
    ({"ews_enabled": True, "ews_allowed_app_ids": ["00000000-0000-0000-0000-00000000beef"]}, "blocked"),
])
def test_ews_follows_the_tenants_ews_settings(onboarded, kodo, exchange, ews):
    onboarded.update_tenant(CONTOSO, exchange=exchange)
    found = probes(kodo, onboarded, expect=0 if ews == "ok" else 6)
    assert found["ews"]["state"] == ews
    assert {n for n, s in states(found).items() if s not in ("ok", "not_probed")} == ({"ews"} - {"ok"} if
                                                                                       ews == "blocked" else set())


def test_an_allow_listed_app_reaches_ews(onboarded, kodo):
    client_id = kodo_apps(tenant_state(onboarded))[0]["appId"]
    onboarded.update_tenant(CONTOSO, exchange={"ews_enabled": True, "ews_allowed_app_ids": [client_id]})
    assert probes(kodo, onboarded, expect=0)["ews"]["state"] == "ok"


def test_an_exchange_application_scope_that_excludes_the_mailbox_blocks_mail_and_ews(onboarded, kodo):
    onboarded.update_tenant(CONTOSO, exchange={"ews_enabled": True, "app_scope_excludes": [MAILBOX]})
    found = probes(kodo, onboarded, expect=6)
    assert states(found) | {"azure_ad_graph": "-"} == {"directory": "ok", "mail": "blocked", "onedrive": "ok",
                                                       "sharepoint": "ok", "ews": "blocked", "azure_ad_graph": "-"}
    assert "Test-ServicePrincipalAuthorization" in found["mail"]["action"]
    assert "Access to OData is disabled" in found["mail"]["detail"]
    # Another mailbox, inside the scope, reads fine.
    other = probes(kodo, onboarded, "--probe-mailbox", "user@contoso.onmicrosoft.com", expect=0)
    assert other["mail"]["state"] == other["ews"]["state"] == "ok"


def test_a_tenant_without_sharepoint_blocks_sites_and_onedrive(onboarded, kodo):
    onboarded.update_tenant(CONTOSO, sharepoint=False, exchange={"ews_enabled": True})
    found = probes(kodo, onboarded, expect=6)
    assert found["sharepoint"]["state"] == found["onedrive"]["state"] == "blocked"
    assert "no SharePoint Online" in found["sharepoint"]["detail"]
    assert found["mail"]["state"] == "ok"


def test_a_revoked_permission_is_missing_not_blocked(onboarded, kodo):
    onboarded.update_tenant(CONTOSO, exchange={"ews_enabled": True})
    state = tenant_state(onboarded)
    mail_role = next(r["id"] for s in state["servicePrincipals"] if s["displayName"] == "Microsoft Graph"
                     for r in s["appRoles"] if r["value"] == "Mail.ReadWrite")
    assignment = next(a for a in state["appRoleAssignments"] if a["appRoleId"] == mail_role)
    onboarded.tenant(CONTOSO).delete_app_role_assignment(assignment["id"])
    found = probes(kodo, onboarded, "--token-budget", "0", expect=6)
    assert found["mail"]["state"] == "missing" and "Mail.ReadWrite" in found["mail"]["detail"]
    assert found["onedrive"]["state"] == "ok"


def test_an_unknown_probe_mailbox_is_an_error_that_names_the_answer(onboarded, kodo):
    found = probes(kodo, onboarded, "--probe-mailbox", "nobody@contoso.onmicrosoft.com", expect=6)
    assert found["mail"]["state"] == "error" and "HTTP 404" in found["mail"]["detail"], found["mail"]
    assert found["sharepoint"]["state"] == "ok"  # reads without a mailbox are unaffected


def test_the_graph_profile_proves_the_mailbox_export_api(sim, kodo):
    kodo("onboard", "--yes", "--manifest", "kodo-graph")
    found = probes(kodo, sim, "--manifest", "kodo-graph", expect=0)
    assert states(found) == {"directory": "ok", "mail": "ok", "mailbox_export": "ok", "onedrive": "ok",
                             "sharepoint": "ok"}
    sim.update_tenant(CONTOSO, exchange={"app_scope_excludes": [MAILBOX]})
    assert probes(kodo, sim, "--manifest", "kodo-graph", expect=6)["mailbox_export"]["state"] == "blocked"


def test_probe_without_a_credentials_file_is_refused_before_sign_in(sim, kodo):
    run = kodo("verify", "--probe", expect=2)
    assert "--probe reads as the KODO app" in run.err and "--credentials" in run.err
    assert not [r for r in sim.request_log if r.kind == "login"]


def test_onboard_probe_hands_off_and_then_names_what_the_tenant_blocks(sim, kodo, tmp_path):
    """onboard --probe: the credentials are written and verified; a blocked read then exits 6 with the fix."""
    run = kodo("onboard", "--yes", "--probe", "--exchange-endpoint", sim.url, expect=6)
    assert (tmp_path / f"kodo-credentials-{CONTOSO}.json").exists()
    assert "probe ews: Office 365 Exchange Online" in run.out and "Set-OrganizationConfig" in run.out
    assert "onboarded, but the app cannot read 1 kind(s) of data it is granted: ews" in run.err
    sim.update_tenant(CONTOSO, exchange={"ews_enabled": True})
    again = kodo("onboard", "--yes", "--probe", "--exchange-endpoint", sim.url, "--output", "json")
    assert {p["name"]: p["state"] for p in again.json()["verification"]["probes"]}["ews"] == "ok"


def test_probes_wait_out_throttling_instead_of_reporting_it(onboarded, kodo):
    """A throttled read (429 with Retry-After) is retried under the throttling policy, not reported as blocked."""
    onboarded.update_tenant(CONTOSO, exchange={"ews_enabled": True})
    onboarded.set_faults(throttle_rate=0.4, retry_after_s=0, seed=7)
    found = probes(kodo, onboarded, expect=0)
    assert {p["state"] for p in found.values()} == {"ok", "not_probed"}
    reads = [r.status for r in onboarded.request_log if r.route and r.route.split(".")[0] in ("users", "sites")]
    assert 429 in reads, reads  # the probes' own reads were throttled, and waited


def test_a_user_without_a_mailbox_is_passed_over_or_not_probed(tmp_path, monkeypatch, capfd):
    """The default mailbox is the first user *with* one; a named user without one is "not probed", with the fix."""
    from kodo_provision.cli.main import main
    from kodo_provision.simulator import Faults, Scenario, Simulator
    from tests.virtual_time import virtual_time

    data = Scenario.default().model_dump()
    contoso = next(t for t in data["tenants"] if t["domain"] == CONTOSO)
    for user in contoso["users"]:
        user["mailbox"] = user["upn"] != MAILBOX  # the first user by UPN has no mailbox
    contoso["exchange"]["ews_enabled"] = True
    monkeypatch.chdir(tmp_path)
    with Simulator(scenario=Scenario.model_validate(data), faults=Faults()) as sim:
        common = ["--tenant", CONTOSO, "--authority-host", sim.url, "--graph-endpoint", sim.url,
                  "--ca-bundle", str(sim.ca_bundle_path), "--ca-bundle-only", "--exchange-endpoint", sim.url]
        assert main(["onboard", "--yes", *common], environment=virtual_time()) == 0
        capfd.readouterr()
        assert main(["verify", "--probe", "--output", "json", *common], environment=virtual_time()) == 0
        found = {p["name"]: p for p in json.loads(capfd.readouterr().out)["probes"]}
        assert found["mail"]["state"] == "ok"
        assert found["mail"]["detail"].endswith(" of appadmin@contoso.onmicrosoft.com")
        assert main(["verify", "--probe", "--probe-mailbox", MAILBOX, "--output", "json", *common],
                    environment=virtual_time()) == 0  # not probed is a warning
        found = {p["name"]: p for p in json.loads(capfd.readouterr().out)["probes"]}
    assert found["mail"]["state"] == found["ews"]["state"] == "not_probed"
    assert "--probe-mailbox" in found["mail"]["action"]
