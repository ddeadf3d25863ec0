"""Issue 8: `manifest lint` (codes KP101...), offline and as the first step of plan/onboard.
The date is pinned (--as-of / KODO_LINT_DATE) so "retired"/"in N days" is reproducible."""

from __future__ import annotations

from pathlib import Path

import yaml

from .conftest import CONTOSO, kodo_apps, tenant_state

REPO_MANIFEST = Path(__file__).parents[2] / "manifests" / "kodo.yaml"
EWS_COMMAND = 'Set-OrganizationConfig -EwsEnabled $true -EwsAllowedAppIDs @{Add="%s"}'


def write_manifest(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(REPO_MANIFEST.read_text())
    mutate(data)
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def codes(report: dict) -> list[tuple[str, str]]:
    return [(f["code"], f["path"]) for f in report["findings"]]


def test_bundled_manifest_lint_codes_match_the_dates(kodo):
    run = kodo("manifest", "lint", "--as-of", "2026-11-27", "--output", "json", endpoints=False, tenant=None)
    report = run.json()
    assert report["as_of"] == "2026-11-27" and report["errors"] == 0 and report["ok"]
    assert codes(report) == [("KP101", "resources[1].application[0]"), ("KP101", "resources[1].delegated[0]"),
                             ("KP103", "resources[2].application[0]")]
    aad, _, ews = report["findings"]
    assert aad["data"]["milestones"] == [{"date": "2025-08-31", "status": "retired"}]
    assert "453 days ago" in aad["message"]
    assert aad["data"]["replacement"]["permissions"] == ["Directory.Read.All"]
    assert {m["date"]: m["status"] for m in ews["data"]["milestones"]} == {
        "2026-10-01": "blocked_by_default", "2027-04-01": "retired"}
    assert "since 2026-10-01" in ews["message"] and "2027-04-01 (in 125 days)" in ews["message"]
    assert ews["data"]["admin_command"] == EWS_COMMAND % "<client-id>"
    assert all(f["data"]["sources"] for f in report["findings"])


def test_lint_dates_move_with_the_clock(kodo):
    before = kodo("manifest", "lint", "--as-of", "2026-06-01", "--output", "json", endpoints=False,
                  tenant=None).json()
    assert codes(before)[2] == ("KP102", "resources[2].application[0]")
    assert "from 2026-10-01 (in 122 days)" in before["findings"][2]["message"]
    after = kodo("manifest", "lint", "--as-of", "2027-04-02", "--output", "json", endpoints=False,
                 tenant=None).json()
    ews = after["findings"][2]
    assert ews["code"] == "KP101" and "retired on 2027-04-01 (1 day ago)" in ews["message"]
    assert "admin_command" not in ews["data"]  # nothing the admin can do any more


def test_text_output_fills_in_the_client_id(kodo):
    client_id = "0d0d0d0d-1111-4222-8333-444444444444"
    run = kodo("manifest", "lint", str(REPO_MANIFEST), "--as-of", "2026-11-27", "--app-client-id", client_id,
               endpoints=False, tenant=None)
    assert EWS_COMMAND % client_id in run.out
    assert "0 error(s), 3 warning(s) as of 2026-11-27" in run.out


def test_type_mistakes_and_case_variants_are_errors(kodo, tmp_path):
    def mutate(data):
        graph = data["resources"][0]
        graph["application"] = [*graph["application"], "User.Read"]  # delegated-only in Microsoft Graph
        graph["delegated"] = ["user.read"]  # case variant
        data["resources"][2]["delegated"] = ["full_access_as_app"]  # application-only

    path = write_manifest(tmp_path, mutate)
    run = kodo("manifest", "lint", str(path), "--as-of", "2026-11-27", "--output", "json", endpoints=False,
               tenant=None, expect=2)
    report = run.json()
    errors = [(f["code"], f["path"]) for f in report["findings"] if f["severity"] == "error"]
    assert errors == [("KP201", "resources[0].application[6]"), ("KP203", "resources[0].delegated[0]"),
                      ("KP202", "resources[2].delegated[0]")]
    assert not report["ok"]


def test_over_broad_permissions_against_the_purpose(kodo, tmp_path):
    def mutate(data):
        data["purpose"] = "backup"
        data["resources"][0]["application"] = [*data["resources"][0]["application"], "Directory.ReadWrite.All",
                                               "Mail.Send"]

    run = kodo("manifest", "lint", str(write_manifest(tmp_path, mutate)), "--as-of", "2026-11-27", "--output",
               "json", endpoints=False, tenant=None)
    kp301 = [f for f in run.json()["findings"] if f["code"] == "KP301"]
    assert [(f["path"], f["severity"]) for f in kp301] == [("resources[0].application[6]", "warning"),
                                                           ("resources[0].application[7]", "warning")]
    assert "Directory.Read.All" in kp301[0]["hint"]

    def unknown(data):
        data["purpose"] = "archiving"

    run = kodo("manifest", "lint", str(write_manifest(tmp_path, unknown)), "--output", "json", endpoints=False,
               tenant=None)
    assert ("KP302", "purpose") in codes(run.json())


def test_plan_prints_lint_warnings_on_stderr(sim, kodo, monkeypatch):
    """Issue 16: one short line per warning (code, permission, dates, the fix); the bundled manifest's
    acknowledged findings (KP101) as one summary line; the full text is `manifest lint`'s."""
    monkeypatch.setenv("KODO_LINT_DATE", "2026-11-27")
    run = kodo("plan", "--output", "json")
    warnings = [x for x in run.err.splitlines() if x.startswith("warning: KP")]
    assert warnings == ["warning: KP103 full_access_as_app (EWS): blocked by default since 2026-10-01, retired "
                        "2027-04-01 — the tenant admin must allow-list the app (details: kodo-provision manifest lint)"]
    notes = [x for x in run.err.splitlines() if "acknowledged" in x]
    assert len(notes) == 1 and "2 acknowledged lint finding(s) (KP101" in notes[0]
    assert "KP1" not in run.out
    assert run.json()["changes"] > 0  # stdout stays one JSON object


def test_a_manifest_without_acknowledge_shows_each_warning_on_one_line(sim, kodo, tmp_path, monkeypatch):
    monkeypatch.setenv("KODO_LINT_DATE", "2026-11-27")

    def unacknowledged(data):
        data.pop("acknowledge", None)

    run = kodo("plan", "--manifest", str(write_manifest(tmp_path, unacknowledged)))
    warnings = [x for x in run.err.splitlines() if x.startswith("warning: KP")]
    assert [w.split()[1] for w in warnings] == ["KP101", "KP101", "KP103"]
    assert "warning: KP101 Directory.Read.All (Azure AD Graph): retired 2025-08-31 — remove it" in warnings[0]
    assert all(len(w) <= 200 for w in warnings), warnings
    assert "acknowledged" not in run.err


def test_lint_errors_refuse_onboarding_before_sign_in(sim, kodo, tmp_path):
    def mutate(data):
        data["resources"][0]["application"] = [*data["resources"][0]["application"], "User.Read"]

    run = kodo("onboard", "--yes", "--manifest", str(write_manifest(tmp_path, mutate)), expect=2)
    assert "manifest lint found 1 error(s)" in run.err and "KP201" in run.err
    assert "To sign in" not in run.err  # refused before any prompt
    assert kodo_apps(tenant_state(sim)) == []


def test_onboard_prints_the_ews_command_with_the_new_client_id(sim, kodo, monkeypatch):
    monkeypatch.setenv("KODO_LINT_DATE", "2026-11-27")
    run = kodo("onboard", "--yes", "--output", "json")
    client_id = kodo_apps(tenant_state(sim, CONTOSO))[0]["appId"]
    notes = run.json()["notes"]
    assert any(EWS_COMMAND % client_id in n for n in notes), notes
    assert "warning: KP103" in run.err


def test_manifest_lint_shows_acknowledged_findings_in_full(kodo, monkeypatch):
    monkeypatch.setenv("KODO_LINT_DATE", "2026-11-27")
    text = kodo("manifest", "lint", endpoints=False, tenant=None).out
    assert "KP101 warning resources[1].application[0] (acknowledged)" in text
    assert "retired on 2025-08-31" in text and "KP103 warning resources[2].application[0]\n" in text
    data = kodo("manifest", "lint", "--output", "json", endpoints=False, tenant=None).json()
    assert data["acknowledged"] == ["KP101"] and data["warnings"] == 3
