"""Issue 5 acceptance: `kodo-provision bulk` through the real CLI against the simulator."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from kodo_provision.simulator import Faults
from tests.sim.conftest import assert_converged, kodo_apps, tenant_state

from .conftest import (
    PARTNER,
    customer,
    journal_events,
    many_tenants,
    report,
    sigkill_bulk_when,
    start,
    write_tenants_csv,
)

PARTIAL = 8


def devicecode_requests(sim) -> int:
    return len([r for r in sim.request_log if r.kind == "login" and r.path.endswith("/devicecode")])


def assert_onboarded(sim, out: Path, tenant: str, entry: dict) -> dict:
    creds_path = out / f"kodo-credentials-{tenant}.json"
    result = assert_converged(sim, tenant, creds_path)
    assert entry["status"] == "succeeded" and entry["verification"] == "passed"
    assert entry["client_id"] == result["creds"]["client_id"] == result["app"]["appId"]
    assert entry["tenant_id"] == sim.tenant(tenant).id == result["creds"]["tenant_id"]
    assert entry["credentials_file"] == str(creds_path)
    # One working secret, the one in the credentials file: nothing orphaned.
    assert [c["keyId"] for c in result["app"]["passwordCredentials"]] == [result["creds"]["secret_key_id"]]
    return result


def test_a_partners_first_run_onboards_the_45_reachable_of_50(bulk_run, tmp_path):
    tenants = [customer(i) for i in range(50)]
    with start(many_tenants(50, access=45)) as sim:
        run = bulk_run(sim, str(write_tenants_csv(tmp_path / "t.csv", tenants)), "--out", "out", "--yes",
                       "--concurrency", "16", expect=PARTIAL)
        out = tmp_path / "out"
        # First run: the default public client, then the partner's own sign-in app (set up by this run).
        assert devicecode_requests(sim) == 2, "two operator prompts on a partner's first run, none per tenant"
        data = report(out)
        assert data["summary"] == {"total": 50, "succeeded": 45, "failed": 5, "planned": 0, "pending": 0}
        by_tenant = {t["tenant"]: t for t in data["tenants"]}
        secrets = []
        for tenant in tenants[:45]:
            secrets.append(assert_onboarded(sim, out, tenant, by_tenant[tenant])["creds"]["client_secret"])
            assert by_tenant[tenant]["signed_in_via"] == "operator"
        for tenant in tenants[45:]:
            entry = by_tenant[tenant]
            assert entry["status"] == "failed" and "no active GDAP relationship" in entry["error"]
            assert "per-tenant-device-code" in entry["hint"] and entry["partner_consent"] is None
            assert kodo_apps(tenant_state(sim, tenant)) == [], "an unreachable tenant is not touched"
            assert not (out / f"kodo-credentials-{tenant}.json").exists()
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert [r["tenant"] for r in rows] == tenants and {r["status"] for r in rows} == {"succeeded", "failed"}
    assert "To sign in, open" in run.err and "45 succeeded, 5 failed" in run.out
    assert run.err.count("succeeded customer") == 45
    assert not any(s in run.out + run.err + (out / "report.json").read_text() for s in secrets)


def test_per_tenant_device_code_signs_in_to_the_unreachable_ones(bulk_run, tmp_path):
    tenants = [customer(i) for i in range(4)]
    with start(many_tenants(4, access=2)) as sim:
        run = bulk_run(sim, str(write_tenants_csv(tmp_path / "t.csv", tenants)), "--out", "out", "--yes",
                       "--auth", "per-tenant-device-code")
        assert devicecode_requests(sim) == 2 + 2, "a partner's first run (2), then one per unreachable tenant"
        data = report(tmp_path / "out")
        by_tenant = {t["tenant"]: t for t in data["tenants"]}
        for tenant in tenants:
            assert_onboarded(sim, tmp_path / "out", tenant, by_tenant[tenant])
        assert [by_tenant[t]["signed_in_via"] for t in tenants] == ["operator"] * 2 + ["per-tenant sign-in"] * 2
        assert f"[{tenants[2]}] To sign in, open" in run.err and f"[{tenants[3]}] To sign in, open" in run.err
        assert "no active GDAP relationship" in " ".join(by_tenant[tenants[2]]["notes"])


def test_a_faulty_tenant_does_not_break_the_others_and_only_failed_retries_it(bulk_run, tmp_path):
    tenants = [customer(i) for i in range(4)]
    scenario = many_tenants(4, roles={1: ["Application Administrator"]})
    with start(scenario, Faults(replication_lag_ms=300, replication_lag_random=True, seed=5)) as sim:
        tenants_file = str(write_tenants_csv(tmp_path / "t.csv", tenants))
        bulk_run(sim, tenants_file, "--out", "out", "--yes", expect=PARTIAL)
        data = report(tmp_path / "out")
        by_tenant = {t["tenant"]: t for t in data["tenants"]}
        bad = by_tenant[tenants[1]]
        assert bad["status"] == "failed" and bad["exit_status"] == 4
        # Refused by the GDAP role check, before any change (not even the partner app's consent).
        assert "Privileged Role Administrator" in bad["error"] and "Application Administrator" in bad["error"]
        assert not [a for a in sim.tenant(tenants[1]).dump()["applications"] if a.get("uniqueName")]
        assert sim.tenant(tenants[1]).dump()["servicePrincipals"] == [
            s for s in sim.tenant(tenants[1]).dump()["servicePrincipals"] if s["appOwnerOrganizationId"] != sim.tenant(
                "msp-partner.onmicrosoft.com").id], "the partner app is not consented where the role cannot do the job"
        for tenant in (tenants[0], tenants[2], tenants[3]):
            assert_onboarded(sim, tmp_path / "out", tenant, by_tenant[tenant])

        sim.clear_request_log()
        run = bulk_run(sim, tenants_file, "--out", "out", "--yes", "--only-failed", expect=PARTIAL)
        touched = {r.tenant_id for r in sim.request_log if r.kind == "graph"} - {sim.tenant(PARTNER).id}
        assert touched <= {sim.tenant(tenants[1]).id}, "only the failed tenant is re-run"
        assert devicecode_requests(sim) == 1, "the partner sign-in app is remembered: one prompt"
        again = {t["tenant"]: t for t in report(tmp_path / "out")["tenants"]}
        assert again[tenants[0]]["client_id"] == by_tenant[tenants[0]]["client_id"]
        assert again[tenants[1]]["status"] == "failed" and "3 succeeded, 1 failed" in run.out


def test_plan_changes_nothing(bulk_run, tmp_path):
    tenants = [customer(i) for i in range(3)]
    with start(many_tenants(3)) as sim:
        before = {t: tenant_state(sim, t) for t in tenants}
        run = bulk_run(sim, str(write_tenants_csv(tmp_path / "t.csv", tenants)), "--out", "out", "--plan")
        for tenant in tenants:
            assert tenant_state(sim, tenant) == before[tenant]
            assert f"Plan for {tenant}" in run.out
        assert "consent the partner sign-in app in this customer through Partner Center" in run.out
        assert not [a for a in tenant_state(sim, PARTNER)["applications"] if a.get("uniqueName")], \
            "--plan does not set the partner sign-in app up"
        assert "3 planned" in run.out and not (tmp_path / "out" / "journal.jsonl").exists()
        # Issue 16: a header on every column of the summary table (a plan has no client ID yet).
        header = next(line for line in run.out.splitlines() if "tenant" in line and "status" in line)
        cells = [c.strip() for c in header.strip("┃│ ").split("┃")]
        assert cells == ["tenant", "status", "changes planned", "error / hint"], cells

        # Once a run has consented the app in a customer, --plan shows that customer's real plan.
        bulk_run(sim, str(write_tenants_csv(tmp_path / "one.csv", tenants[:1])), "--out", "first", "--yes")
        run = bulk_run(sim, str(write_tenants_csv(tmp_path / "t.csv", tenants)), "--out", "first", "--plan")
        assert f"Plan for Customer 000 ({sim.tenant(tenants[0]).id}): nothing to change" in run.out
        assert f"Plan for {tenants[1]}" in run.out and "3 planned" in run.out


def test_a_bad_tenants_file_changes_nothing(bulk_run, tmp_path):
    with start(many_tenants(1)) as sim:
        path = tmp_path / "t.csv"
        path.write_text("tenant,colour\nnot a tenant,\n")
        run = bulk_run(sim, str(path), "--out", "out", "--yes", expect=2)
        assert "line 1: unknown column(s) 'colour'" in run.err and "line 2:" in run.err
        # Issue 16: the error line, then each problem on a line of its own.
        lines = run.err.strip().splitlines()
        assert lines[0].startswith("error: tenants file") and "problem(s)" in lines[0], lines
        assert [x.strip().split(":")[0] for x in lines[1:]] == ["line 1", "line 2"], lines
        assert devicecode_requests(sim) == 0


def test_sigkill_mid_run_then_resume_onboards_every_tenant_exactly_once(bulk_run, tmp_path):
    n = 12
    tenants = [customer(i) for i in range(n)]
    with start(many_tenants(n), Faults(latency_ms=40)) as sim:
        tenants_file = str(write_tenants_csv(tmp_path / "t.csv", tenants))
        out = tmp_path / "out"

        def two_finished_one_running(events: list[dict]) -> bool:
            finished = {e["tenant"] for e in events if e["event"] == "tenant_finished"}
            started = {e["tenant"] for e in events if e["event"] == "tenant_started"}
            return len(finished) >= 2 and bool(started - finished)

        sigkill_bulk_when(sim, tmp_path, [tenants_file], out, two_finished_one_running)
        finished_before = {e["tenant"] for e in journal_events(out / "journal.jsonl")
                           if e["event"] == "tenant_finished"}
        assert 2 <= len(finished_before) < n

        run = bulk_run(sim, tenants_file, "--out", "out", "--yes", "--resume")
        data = report(out)
        assert data["summary"]["succeeded"] == n
        by_tenant = {t["tenant"]: t for t in data["tenants"]}
        for tenant in tenants:
            assert_onboarded(sim, out, tenant, by_tenant[tenant])
        resumed = [e["tenant"] for e in journal_events(out / "journal.jsonl")
                   if e["event"] == "tenant_started"]
        assert not finished_before & set(resumed[len(resumed) - (n - len(finished_before)):]), \
            "finished tenants are skipped on --resume"
        assert not list(out.glob(".kodo-credentials-*.tmp"))
        assert f"{n} succeeded" in run.out
        # Issue 14: the audit record a killed tenant run left "running" is marked interrupted by the resume.
        records = [json.loads(p.read_text()) for p in out.rglob("kodo-audit-*.json")]
        assert not [r for r in records if r["status"] == "running"]
        assert {r["tenant"]["requested"] for r in records if r["status"] == "verified"} == set(tenants)


def test_a_failed_row_names_what_already_exists_and_how_to_finish(bulk_run, tmp_path):
    """Issue 14: a tenant that fails after creating objects (here: its policy forbids client secrets, found
    when adding one) lists the objects in its row, with the command that continues."""
    tenants = [customer(i) for i in range(2)]
    scenario = many_tenants(2)
    data = scenario.model_dump()
    data["tenants"][2]["app_management_policy"]["password_addition_blocked"] = True  # customer001
    with start(type(scenario).model_validate(data)) as sim:
        bulk_run(sim, str(write_tenants_csv(tmp_path / "t.csv", tenants)), "--out", "out", "--yes", expect=PARTIAL)
        row = {t["tenant"]: t for t in report(tmp_path / "out")["tenants"]}[tenants[1]]
        app = next(a for a in sim.tenant(tenants[1]).dump()["applications"] if a.get("uniqueName"))
        assert row["status"] == "failed" and row["client_id"] == app["appId"]
        assert any("service principal" in c for c in row["changes"]), row["changes"]
        assert "already done in this tenant" in row["hint"] and "--only-failed" in row["hint"]


def test_report_csv_holds_no_cell_a_spreadsheet_would_evaluate(bulk_run, tmp_path):
    """Issue 15: tenant names come from the customer's directory; `=HYPERLINK(...)` must stay text."""
    import csv

    tenants = [customer(i) for i in range(3)]
    scenario = many_tenants(3)
    data = scenario.model_dump()
    hostile = ['=HYPERLINK("https://evil.example","x")', "+1+1", "@SUM(A1)"]
    for entry, name in zip(data["tenants"][1:4], hostile, strict=True):
        entry["display_name"] = name
    with start(type(scenario).model_validate(data)) as sim:
        bulk_run(sim, str(write_tenants_csv(tmp_path / "t.csv", tenants)), "--out", "out", "--yes")
    rows = list(csv.DictReader((tmp_path / "out" / "report.csv").open(encoding="utf-8")))
    assert sorted(r["tenant_name"] for r in rows) == sorted("'" + n for n in hostile)
    assert not [cell for r in rows for cell in r.values() if cell and cell[0] in "=+-@\t\r"]
