"""Golden files: the human plan rendering and the plan's JSON form (schema_version 1).

The plans are built from the unit-test fixtures (fixed IDs, fixed clock), so the text is stable.
A change here is a change users and scripts see: review the diff, then regenerate with
KODO_UPDATE_GOLDEN=1 .venv/bin/pytest tests/golden, and bump PLAN_SCHEMA_VERSION for any
incompatible JSON change.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from kodo_provision.manifest.resolve import resolve
from kodo_provision.output.console import render_plan
from kodo_provision.plan.diff import diff
from kodo_provision.plan.model import PLAN_SCHEMA_VERSION, Plan
from kodo_provision.plan.offboard import offboard_plan
from kodo_provision.state.model import AppRoleAssignment, TenantState

from ..unit.conftest import AAD, EXO, GRAPH, GRAPH_ROLES, GRAPH_SCOPES, sp
from ..unit.test_plan import MANIFEST, NOW, converged

GOLDEN = Path(__file__).parent
DIRECTORY_READ_ALL = "7ab1d382-f21e-4acd-a863-ba3e13f7da61"
LABEL = "Contoso (6f1c4b1e-2a57-4c43-9d1e-1c0ffee00001)"


def tenant_sps():
    return {
        GRAPH: sp(GRAPH, "Microsoft Graph", GRAPH_ROLES, GRAPH_SCOPES, "https://graph.microsoft.com"),
        AAD: sp(AAD, "Windows Azure Active Directory", {"Directory.Read.All": "5778995a-e1bf-45b8-affa-663a9f3f4d04"},
                {"User.Read.All": "c582532d-9d9e-43bd-a97c-2667a28ce295"}, "https://graph.windows.net"),
        EXO: sp(EXO, "Office 365 Exchange Online", {"full_access_as_app": "dc890d15-9560-4a4c-9b7f-a736ec74ec40"},
                {}, "https://outlook.office365.com"),
    }


def fresh() -> Plan:
    sps = tenant_sps()
    del sps[EXO]  # a tenant without Exchange Online: its SP is created first
    return diff(resolve(MANIFEST, sps), TenantState(), held_secret=None, now=NOW)


def drift(prune: bool) -> Plan:
    sps = tenant_sps()
    desired = resolve(MANIFEST, sps)
    actual, held = converged(desired)
    graph = sps[GRAPH]
    grants = tuple(replace(g, scopes=g.scopes | {"Mail.Read"}) if g.resource_id == graph.id else g
                   for g in actual.grants)
    extra = AppRoleAssignment("extra-1", graph.id, DIRECTORY_READ_ALL)  # granted in the portal, not in the manifest
    actual = replace(actual, resource_service_principals=sps, grants=grants,
                     app_role_assignments=(*actual.app_role_assignments[1:], extra))
    return diff(desired, actual, held_secret=held, now=NOW, prune=prune)


def offboard() -> Plan:
    sps = tenant_sps()
    desired = resolve(MANIFEST, sps)
    actual, _ = converged(desired)
    return offboard_plan(replace(actual, resource_service_principals=sps), desired.unique_name, purge=True)


CASES = {"fresh": fresh, "drift": lambda: drift(False), "drift_prune": lambda: drift(True), "offboard": offboard,
         "converged": Plan}


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("KODO_UPDATE_GOLDEN") == "1":
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with KODO_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; review, then KODO_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("case", sorted(CASES))
def test_human_plan_rendering(case):
    check(f"plan_{case}.txt", render_plan(CASES[case](), LABEL))


@pytest.mark.parametrize("case", sorted(CASES))
def test_plan_json(case):
    plan = CASES[case]().to_dict()
    assert plan["schema_version"] == PLAN_SCHEMA_VERSION
    check(f"plan_{case}.json", json.dumps(plan, indent=2, sort_keys=True) + "\n")


def test_plan_json_schema_shape():
    """Every step kind and its keys, from all cases: the contract scripts rely on."""
    shape: dict[str, list[str]] = {}
    for build in CASES.values():
        for step in build().to_dict()["steps"]:
            shape.setdefault(step["kind"], sorted(step))
    top = sorted(fresh().to_dict())
    check("plan_schema.json", json.dumps({"schema_version": PLAN_SCHEMA_VERSION, "plan": top,
                                          "steps": dict(sorted(shape.items()))}, indent=2) + "\n")
