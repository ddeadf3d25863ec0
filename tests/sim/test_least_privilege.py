"""Issue 15: the read-only commands ask for no write scope; directory roles come from the token's `wids`.
What a client asks for is read from the simulator's request log (the `scope` of each sign-in request)."""

from __future__ import annotations

from .conftest import kodo_apps, tenant_state

WRITE = ("ReadWrite", "RoleManagement")


def sign_in_scopes(sim) -> list[str]:
    """Every scope the sign-in requests since the log was cleared asked for."""
    return [s for r in sim.request_log if r.kind == "login" and r.scopes for s in r.scopes.split()]


def test_plan_and_verify_sign_in_without_a_write_scope(sim, kodo):
    kodo("onboard", "--yes")
    for command in (["plan"], ["verify"]):
        sim.clear_request_log()
        kodo(*command)
        asked = sign_in_scopes(sim)
        assert any(s.endswith("/Directory.Read.All") for s in asked), asked
        assert [s for s in asked if any(w in s for w in WRITE)] == [], (command, asked)


def test_onboard_still_asks_for_what_it_writes_with(sim, kodo):
    kodo("onboard", "--yes")
    asked = sign_in_scopes(sim)
    assert any(s.endswith("/Application.ReadWrite.All") for s in asked), asked
    assert len(kodo_apps(tenant_state(sim))) == 1
