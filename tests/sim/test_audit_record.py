"""Issue 8: per tenant and run, a 0600 JSON audit record next to the credentials: who, when,
which objects were created or changed, which permissions were granted, Graph request IDs; no secret."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from .conftest import CONTOSO, assert_converged, tenant_state, without_sign_in_consent

ADMIN_OBJECT_ID = "0a0a0a0a-0000-4000-8000-000000000001"


def audit_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"kodo-audit-{CONTOSO}-*.json"))


def test_audit_record_lists_every_created_object_and_no_secret(sim, kodo, tmp_path):
    before = tenant_state(sim)
    run = kodo("onboard", "--yes", "--output", "json")
    (path,) = audit_files(tmp_path)
    assert run.json()["audit_file"] == str(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    record = json.loads(path.read_text())
    converged = assert_converged(sim, CONTOSO, tmp_path / f"kodo-credentials-{CONTOSO}.json")
    after = without_sign_in_consent(converged["state"])  # the sign-in's own consent is Entra's record

    # Every object the run created, compared with the simulator's state (new IDs since `before`).
    new_ids = set()
    for collection in ("applications", "servicePrincipals", "appRoleAssignments", "oauth2PermissionGrants"):
        old = {o["id"] for o in before[collection]}
        new_ids |= {o["id"] for o in after[collection] if o["id"] not in old}
    new_ids.add(converged["creds"]["secret_key_id"])
    assert set(record["created_object_ids"]) == new_ids
    assert len(record["created_object_ids"]) == len(new_ids)

    assert record["signed_in"] == {"user_principal_name": "admin@contoso.onmicrosoft.com",
                                   "object_id": ADMIN_OBJECT_ID}
    assert record["tenant"]["id"] == converged["creds"]["tenant_id"] and record["tenant"]["requested"] == CONTOSO
    assert record["app"]["client_id"] == converged["app"]["appId"]
    assert record["status"] == "verified" and record["manifest_version"] == "2026.11.1"
    granted = {(g["resource_app_id"], g["permission"], g["type"]) for g in record["permissions_granted"]}
    assert len(granted) == 10  # 8 application permissions + 2 delegated scopes
    assert ("00000003-0000-0000-c000-000000000000", "User.Read", "delegated") in granted
    # Request IDs: every Graph round trip of this run that the simulator logged.
    logged = {r.request_id for r in sim.request_log if r.kind == "graph" and not r.in_batch}
    assert record["graph_request_ids"] and set(record["graph_request_ids"]) <= logged
    assert record["secret"]["key_id"] == converged["creds"]["secret_key_id"]
    text = path.read_text()
    assert converged["creds"]["client_secret"] not in text and "secretText" not in text
    assert "eyJ" not in text  # no token


def test_second_run_records_no_changes(sim, kodo, tmp_path):
    kodo("onboard", "--yes")
    kodo("onboard", "--yes")
    first, second = sorted((json.loads(p.read_text()) for p in audit_files(tmp_path)),
                           key=lambda r: r["started_at"])  # two runs may share a second: not by name
    assert first["run_id"] != second["run_id"]
    assert second["changes"] == [] and second["created_object_ids"] == [] and second["permissions_granted"] == []
    assert second["graph_request_ids"]  # the reads are still traceable
