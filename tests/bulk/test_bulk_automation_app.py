"""Bulk with the operator's automation app (`--auth client-secret`): no prompt, a token per tenant."""

from __future__ import annotations

from kodo_provision.simulator import Scenario

from .conftest import report, start
from .test_bulk import assert_onboarded, devicecode_requests

APP_ID = "5e1a7c2d-0000-4000-8000-00000000a001"
SECRET = "sim-automation-secret-8Q~not-a-real-secret-0001"
CONTOSO, FABRIKAM, PARTNER = "contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com", "msp-partner.onmicrosoft.com"


def test_automation_app_onboards_where_consented_and_names_what_is_missing_elsewhere(bulk_run, tmp_path,
                                                                                    monkeypatch):
    monkeypatch.setenv("KODO_AUTH_CLIENT_SECRET", SECRET)
    path = tmp_path / "t.csv"
    path.write_text(f"tenant\n{CONTOSO}\n{FABRIKAM}\n{PARTNER}\n")
    log_file = tmp_path / "events.jsonl"
    with start(Scenario.default()) as sim:
        run = bulk_run(sim, str(path), "--out", "out", "--yes", "--auth", "client-secret",
                       "--auth-client-id", APP_ID, "--log-level", "debug", "--log-file", str(log_file), expect=8)
        assert devicecode_requests(sim) == 0, "nobody signs in"
        by_tenant = {t["tenant"]: t for t in report(tmp_path / "out")["tenants"]}
        contoso = by_tenant[CONTOSO]
        assert_onboarded(sim, tmp_path / "out", CONTOSO, contoso)
        assert contoso["signed_in_via"] == "automation app" and contoso["signed_in_as"] == f"app {APP_ID}"
        fabrikam = by_tenant[FABRIKAM]
        assert fabrikam["status"] == "failed" and fabrikam["exit_status"] == 4
        assert "DelegatedPermissionGrant.ReadWrite.All" in fabrikam["error"]
        partner = by_tenant[PARTNER]
        assert partner["status"] == "failed" and partner["exit_status"] == 3, partner
        assert "AADSTS700016" in partner["error"] and "consent to it there" in partner["hint"]
        for tenant in (FABRIKAM, PARTNER):
            state = sim.tenant(tenant).dump()
            assert not [a for a in state["applications"] if "kodo-provision" in (a.get("tags") or [])]
    everything = run.out + run.err + log_file.read_text() + (tmp_path / "out" / "report.json").read_text()
    assert SECRET not in everything


def test_automation_app_options_are_checked_before_anything(bulk_run, tmp_path, monkeypatch):
    monkeypatch.delenv("KODO_AUTH_CLIENT_SECRET", raising=False)
    path = tmp_path / "t.csv"
    path.write_text(f"tenant\n{CONTOSO}\n")
    with start(Scenario.default()) as sim:
        run = bulk_run(sim, str(path), "--out", "out", "--yes", "--auth", "client-secret",
                       "--auth-client-id", APP_ID, expect=2)
        assert "KODO_AUTH_CLIENT_SECRET" in run.err
        assert not [r for r in sim.request_log if r.kind == "login"]
