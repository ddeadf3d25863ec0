"""Issue 14: Ctrl-C / SIGTERM while nothing can have changed yet (waiting for the device-code approval)
ends the process at once: one line, exit 130 (143), no traceback, and the tenant untouched."""

from __future__ import annotations

import signal

import pytest

from .conftest import CONTOSO, kodo_apps, signal_cli_when, tenant_state


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_one_signal_at_the_approval_wait_ends_the_process(sim, tmp_path, signum, code):
    sim.set_sign_in(tenant=CONTOSO, manual=True)  # nobody approves: the CLI waits at the device code
    # Once the code is out, the CLI polls the token endpoint from its worker thread; the signal comes then.
    returncode, out, err = signal_cli_when(sim, ["onboard", "--yes", "--tenant", CONTOSO, "--credentials-out",
                                            str(tmp_path / "c.json")], sim.pending_device_codes, signum,
                                      settle_s=0.3, answer_within_s=10)  # it used to wait for the code
    assert returncode == code
    after_prompt = err.split("To sign in", 1)[1].splitlines()[1:]  # (the manifest's lint warnings come before)
    assert [line for line in after_prompt if line.strip()] == [
        f"interrupted ({'Ctrl-C' if signum == signal.SIGINT else 'SIGTERM'}) before any change; nothing was changed"]
    assert "Traceback" not in err and out == ""
    assert kodo_apps(tenant_state(sim)) == []


def test_one_ctrl_c_mid_apply_records_what_changed_and_how_to_continue(sim, kodo, tmp_path):
    """Once the tenant is being changed, Ctrl-C unwinds the flow: the audit record names what was done,
    one line says so with the command to continue, exit 130; running that command converges."""
    import json

    from kodo_provision.simulator import Faults

    from .conftest import assert_converged

    sim.set_faults(Faults(latency_ms=400))  # an apply of several seconds: time to press Ctrl-C in it
    creds = tmp_path / "c.json"
    returncode, _out, err = signal_cli_when(
        sim, ["onboard", "--yes", "--tenant", CONTOSO, "--credentials-out", str(creds)],
        lambda: [r for r in sim.request_log if r.route == "applications.upsert"], signal.SIGINT)
    assert returncode == 130, err
    (line,) = [x for x in err.splitlines() if x.startswith("interrupted")]
    assert "change(s) confirmed in Contoso" in line and "kodo-provision onboard --yes --tenant" in line
    assert "Traceback" not in err
    (audit,) = tmp_path.glob("kodo-audit-*.json")
    record = json.loads(audit.read_text())
    assert record["status"] == "failed" and "interrupted" in record["error"]
    apps = kodo_apps(tenant_state(sim))  # the upsert was sent, so the app may exist: then the record names it
    assert record["app"]["client_id"] == (apps[0]["appId"] if apps else None)
    sim.set_faults(Faults())
    kodo("onboard", "--yes", "--credentials-out", str(creds))
    assert_converged(sim, CONTOSO, creds)


def test_one_ctrl_c_mid_offboard_then_the_same_command_finishes(sim, kodo, tmp_path):
    """Offboarding is level-based: interrupted after its first removal (exit 130, one line naming the
    command), the same command removes the rest."""
    from kodo_provision.simulator import Faults

    creds = tmp_path / "c.json"
    kodo("onboard", "--yes", "--credentials-out", str(creds))
    sim.set_faults(Faults(latency_ms=300))
    returncode, _out, err = signal_cli_when(sim, ["offboard", "--yes", "--tenant", CONTOSO],
                                      lambda: [r for r in sim.request_log if r.method == "DELETE"], signal.SIGINT)
    assert returncode == 130, err
    (line,) = [x for x in err.splitlines() if x.startswith("interrupted")]
    assert "kodo-provision offboard --yes --tenant" in line and "Traceback" not in err
    assert kodo_apps(tenant_state(sim)), "interrupted before the app itself was removed"
    sim.set_faults(Faults())
    kodo("offboard", "--yes")
    state = tenant_state(sim)
    assert kodo_apps(state) == [] and not [a for a in state["appRoleAssignments"]
                                           if a["principalDisplayName"] == "KODO for Microsoft 365"]
