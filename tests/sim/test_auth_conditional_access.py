"""Issue 6/8: a sign-in blocked by Conditional Access is explained in one line, points to the
alternative sign-in, exits 3 and changes nothing.

The simulator answers like Entra: after the user approves the device code, the token endpoint
refuses with AADSTS53003 ("Access has been blocked by Conditional Access policies") when the tenant
blocks the device-code flow (an "Authentication flows" policy); a policy blocking every user
sign-in makes the browser flow end in an access_denied redirect with the same code.
https://learn.microsoft.com/en-us/entra/identity/conditional-access/concept-authentication-flows
"""

from __future__ import annotations

import sys
import webbrowser
from pathlib import Path

import pytest

from kodo_provision.errors import ExitStatus
from kodo_provision.simulator import Faults, Scenario, Simulator
from kodo_provision.simulator.scenario import ConditionalAccess

from .conftest import CONTOSO, FABRIKAM, assert_converged, kodo_apps, tenant_state

FAKE_BROWSER = Path(__file__).with_name("fake_browser.py")


def _scenario(**policy: bool) -> Scenario:
    base = Scenario.default()
    tenants = [t.model_copy(update={"conditional_access": ConditionalAccess(**policy)}) if t.domain == CONTOSO
               else t for t in base.tenants]
    return base.model_copy(update={"tenants": tenants})


@pytest.fixture
def sim(request):
    """The default scenario with a Conditional Access policy in contoso (the test's parameter)."""
    with Simulator(scenario=_scenario(**request.param), faults=Faults()) as simulator:
        yield simulator


@pytest.fixture
def browser(sim, tmp_path, monkeypatch):
    launcher = tmp_path / "browser"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_BROWSER}" "$1"\n')
    launcher.chmod(0o755)
    monkeypatch.setenv("KODO_FAKE_BROWSER_CA", sim.ca_bundle_path)
    monkeypatch.setenv("KODO_FAKE_BROWSER_LOG", str(tmp_path / "browser.log"))
    monkeypatch.setenv("BROWSER", str(launcher))
    monkeypatch.setattr(webbrowser, "_tryorder", None)  # webbrowser reads $BROWSER once per process
    monkeypatch.setattr(webbrowser, "_browsers", {})


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    assert " — " in lines[0], f"no hint in: {lines[0]}"
    return lines[0]


def assert_unchanged(sim, tenant: str = CONTOSO) -> None:
    state = tenant_state(sim, tenant)
    assert kodo_apps(state) == [] and state["oauth2PermissionGrants"] == []
    assert not any(r.kind == "graph" for r in sim.request_log), "no Graph request after a refused sign-in"


BLOCK_DEVICE_CODE = pytest.mark.parametrize("sim", [{"block_device_code_flow": True}], indirect=True)
BLOCK_ALL = pytest.mark.parametrize("sim", [{"block_user_sign_in": True}], indirect=True)


@BLOCK_DEVICE_CODE
def test_device_code_blocked_points_to_the_browser(sim, kodo):
    run = kodo("onboard", "--yes", expect=ExitStatus.SIGN_IN_FAILED)
    line = one_error_line(run.err)
    assert "blocked by Conditional Access (AADSTS53003)" in line
    assert "--auth browser" in line.split(" — ", 1)[1]
    assert_unchanged(sim)


@BLOCK_DEVICE_CODE
def test_the_browser_sign_in_gets_past_a_device_code_block(sim, kodo, browser, tmp_path):
    kodo("onboard", "--yes", "--auth", "browser")
    assert_converged(sim, CONTOSO, tmp_path / f"kodo-credentials-{CONTOSO}.json")


@BLOCK_DEVICE_CODE
def test_the_policy_is_the_tenants_own(sim, kodo, tmp_path):
    kodo("onboard", "--yes", tenant=FABRIKAM)  # no policy there: device code works
    assert_converged(sim, FABRIKAM, tmp_path / f"kodo-credentials-{FABRIKAM}.json")


@BLOCK_ALL
def test_browser_blocked_too_points_to_the_admin_and_the_automation_app(sim, kodo, browser):
    run = kodo("onboard", "--yes", "--auth", "browser", expect=ExitStatus.SIGN_IN_FAILED)
    line = one_error_line(run.err)
    assert "blocked by Conditional Access (AADSTS53003)" in line
    hint = line.split(" — ", 1)[1]
    assert "tenant admin" in hint and "--auth client-secret|certificate" in hint
    assert_unchanged(sim)


@BLOCK_ALL
def test_device_code_under_a_policy_blocking_all_sign_ins(sim, kodo):
    run = kodo("onboard", "--yes", expect=ExitStatus.SIGN_IN_FAILED)
    assert "AADSTS53003" in one_error_line(run.err)
    assert_unchanged(sim)


@BLOCK_DEVICE_CODE
def test_bulk_blocked_device_code_points_to_the_automation_app(sim, kodo, tmp_path):
    """Issue 16: bulk has no --auth browser; its hint names what bulk accepts (the operator's automation app)."""
    tenants = tmp_path / "t.csv"
    tenants.write_text(f"tenant\n{CONTOSO}\n")
    run = kodo("bulk", str(tenants), "--out", str(tmp_path / "out"), "--yes", "--home-tenant", CONTOSO,
               tenant=None, expect=ExitStatus.SIGN_IN_FAILED)
    line = one_error_line(run.err)
    assert "blocked by Conditional Access (AADSTS53003)" in line
    hint = line.split(" — ", 1)[1]
    assert hint.startswith("the tenant's policy may block the device-code flow: run bulk with your automation app "
                           "(--auth client-secret|certificate)"), hint
    assert_unchanged(sim)
