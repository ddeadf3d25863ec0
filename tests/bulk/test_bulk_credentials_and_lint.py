"""Issue 8 in bulk: certificates per tenant, manifest lint before the sign-in, admin actions per tenant."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

from tests.sim.conftest import kodo_apps, tenant_state
from tests.sim.test_certificate import cert_roles

from .conftest import customer, many_tenants, report, start
from .test_bulk import devicecode_requests

GRAPH = "https://graph.microsoft.com"


def test_certificates_by_default_and_a_secret_where_the_file_asks(bulk_run, tmp_path, monkeypatch):
    monkeypatch.setenv("KODO_TEST_PFX", "pfx-pass-1234")
    tenants = [customer(i) for i in range(3)]
    path = tmp_path / "t.csv"
    path.write_text(f"tenant,credential\n{tenants[0]},\n{tenants[1]},certificate\n{tenants[2]},secret\n")
    with start(many_tenants(3)) as sim:
        bulk_run(sim, str(path), "--out", "out", "--yes", "--credential", "certificate",
                 "--pfx-password-env", "KODO_TEST_PFX")
        by_tenant = {t["tenant"]: t for t in report(tmp_path / "out")["tenants"]}
        for tenant in tenants[:2]:
            entry = by_tenant[tenant]
            assert entry["status"] == "succeeded" and entry["verification"] == "passed"
            assert entry["credential_type"] == "certificate" and entry["certificate_thumbprint"]
            app = kodo_apps(tenant_state(sim, tenant))[0]
            assert app.get("passwordCredentials", []) == [], "a certificate tenant gets no secret"
            [key] = app["keyCredentials"]
            assert base64.b64decode(key["customKeyIdentifier"]).hex().upper() == entry["certificate_thumbprint"]
            creds_file = Path(entry["credentials_file"])
            creds = json.loads(creds_file.read_text())
            for file in (creds["certificate_path"], creds["certificate_pfx_path"]):
                assert Path(file).parent == tmp_path / "out"
                assert stat.S_IMODE(os.stat(file).st_mode) == 0o600
            assert "Files.ReadWrite.All" in cert_roles(sim, creds, GRAPH), "the certificate gets a token"
        secret_entry = by_tenant[tenants[2]]
        assert secret_entry["credential_type"] == "secret"
        app = kodo_apps(tenant_state(sim, tenants[2]))[0]
        assert app.get("keyCredentials", []) == [] and len(app["passwordCredentials"]) == 1


def test_ews_admin_action_is_named_per_tenant_with_its_client_id(bulk_run, tmp_path):
    tenants = [customer(i) for i in range(2)]
    path = tmp_path / "t.csv"
    path.write_text("tenant\n" + "".join(f"{t}\n" for t in tenants))
    with start(many_tenants(2)) as sim:
        run = bulk_run(sim, str(path), "--out", "out", "--yes")
        for entry in report(tmp_path / "out")["tenants"]:
            actions = [n for n in entry["notes"] if "Set-OrganizationConfig" in n]
            assert len(actions) == 1 and entry["client_id"] in actions[0], entry["notes"]
        assert "KP102" in run.err or "KP103" in run.err, "lint warnings are shown before the run"
        assert "2 tenant(s) need a tenant-admin action" in run.out


def test_a_manifest_lint_error_in_one_row_refuses_the_run_before_sign_in(bulk_run, tmp_path):
    bad = tmp_path / "bad.yaml"
    # Schema-valid, but a case variant of a Graph permission: lint error KP203, not a load error.
    bundled = (Path(__file__).parents[2] / "manifests" / "kodo.yaml").read_text()
    assert "- Mail.ReadWrite\n" in bundled
    bad.write_text(bundled.replace("- Mail.ReadWrite\n", "- mail.readwrite\n", 1))
    path = tmp_path / "t.csv"
    path.write_text(f"tenant,manifest\n{customer(0)},\n{customer(1)},bad.yaml\n")
    with start(many_tenants(2)) as sim:
        run = bulk_run(sim, str(path), "--out", "out", "--yes", expect=2)
        assert devicecode_requests(sim) == 0, "refused before the sign-in prompt"
        assert all(kodo_apps(tenant_state(sim, t)) == [] for t in (customer(0), customer(1)))
    assert run.err.count("error:") == 1 and "KP203" in run.err and "manifest lint found 1 error" in run.err


def test_pfx_password_without_certificates_is_refused(bulk_run, tmp_path):
    path = tmp_path / "t.csv"
    path.write_text(f"tenant\n{customer(0)}\n")
    with start(many_tenants(1)) as sim:
        run = bulk_run(sim, str(path), "--out", "out", "--yes", "--pfx-password-env", "X", expect=2)
        assert "--pfx-password-env needs --credential certificate" in run.err and devicecode_requests(sim) == 0
