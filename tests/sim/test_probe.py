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
    assert found["directory"]["state"] == "error" and "HTTP 404" in found["directory"]["detail"], found
    assert found["mail"]["state"] == "not_probed" and "could not be read (HTTP 404)" in found["mail"]["detail"]
    assert found["sharepoint"]["state"] == "ok"  # reads without a mailbox are unaffected


@pytest.mark.parametrize("bad", ["not-an-address", "ü@contoso.onmicrosoft.com", "a@b.c\r\nX-Evil: 1"])
def test_a_probe_mailbox_that_is_no_upn_is_refused_before_sign_in(sim, kodo, bad):
    run = kodo("verify", "--probe", "--probe-mailbox", bad, expect=2)
    assert "is not a user principal name" in run.err
    assert not [r for r in sim.request_log if r.kind == "login"]


def test_probe_mailbox_without_probe_is_refused(sim, kodo):
    run = kodo("verify", "--probe-mailbox", MAILBOX, expect=2)
    assert "it needs --probe" in run.err


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


def test_a_real_directorys_users_guests_aliases_and_missing_onedrives(tmp_path, monkeypatch, capfd):
    """The mailbox read is a member's: guests (outside addresses) and users without a mailbox are passed over;
    Graph addresses it by ID, EWS by its SMTP address (not the UPN); a user without OneDrive is "not probed"."""
    from kodo_provision.cli.main import main
    from kodo_provision.simulator import Faults, Scenario, Simulator
    from tests.virtual_time import virtual_time

    data = Scenario.default().model_dump()
    contoso = next(t for t in data["tenants"] if t["domain"] == CONTOSO)
    contoso["users"].insert(0, {"upn": "aaron_fabrikam.com#EXT#@contoso.onmicrosoft.com", "mail": "aaron@fabrikam.com",
                                "user_type": "Guest"})
    for user in contoso["users"]:
        user["mailbox"] = user["upn"] != MAILBOX and user.get("user_type") != "Guest"
        if user["upn"] == "appadmin@contoso.onmicrosoft.com":
            user.update(mail="app.admin@contoso.com", onedrive=False)
    contoso["exchange"]["ews_enabled"] = True
    monkeypatch.chdir(tmp_path)
    with Simulator(scenario=Scenario.model_validate(data), faults=Faults()) as sim:
        common = ["--tenant", CONTOSO, "--authority-host", sim.url, "--graph-endpoint", sim.url,
                  "--ca-bundle", str(sim.ca_bundle_path), "--ca-bundle-only", "--exchange-endpoint", sim.url]

        def verify(*extra: str, expect: int) -> dict[str, dict]:
            capfd.readouterr()
            assert main(["verify", "--probe", "--output", "json", *extra, *common],
                        environment=virtual_time()) == expect
            return {p["name"]: p for p in json.loads(capfd.readouterr().out)["probes"]}

        assert main(["onboard", "--yes", *common], environment=virtual_time()) == 0
        found = verify(expect=0)  # a OneDrive not provisioned is "not probed": a warning
        assert found["mail"]["state"] == found["ews"]["state"] == "ok"  # EWS found app.admin@contoso.com
        assert found["mail"]["detail"].endswith(" of appadmin@contoso.onmicrosoft.com")
        assert found["onedrive"]["state"] == "not_probed" and "no OneDrive" in found["onedrive"]["detail"]
        found = verify("--probe-mailbox", MAILBOX, expect=0)
    assert found["mail"]["state"] == found["ews"]["state"] == "not_probed"
    assert "--probe-mailbox" in found["mail"]["action"]


def test_the_export_probe_needs_the_directory_read_it_makes_first(sim, kodo):
    """Without User.Read.All the mailbox ID cannot be read: "missing", not "blocked"."""
    kodo("onboard", "--yes", "--manifest", "kodo-graph")
    state = tenant_state(sim)
    users_role = next(r["id"] for s in state["servicePrincipals"] if s["displayName"] == "Microsoft Graph"
                      for r in s["appRoles"] if r["value"] == "User.Read.All")
    sim.tenant(CONTOSO).delete_app_role_assignment(
        next(a["id"] for a in state["appRoleAssignments"] if a["appRoleId"] == users_role))
    found = probes(kodo, sim, "--manifest", "kodo-graph", "--token-budget", "0", "--probe-mailbox", MAILBOX,
                   expect=6)
    assert found["directory"]["state"] == found["mailbox_export"]["state"] == "missing"
    assert "User.Read.All" in found["mailbox_export"]["detail"]
    assert found["mail"]["state"] == "ok"  # the UPN as given, read without the directory
