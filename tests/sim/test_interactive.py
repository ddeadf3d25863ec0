"""The confirmation an interactive terminal gets, and the one-prompt-per-run promise."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from .conftest import CONTOSO, assert_converged, kodo_apps, tenant_state


def run_on_terminal(sim, tmp_path, answer: str) -> subprocess.CompletedProcess:
    """The CLI as a user runs it: stdin is a terminal, and the user types `answer`."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kodo_provision.cli.main", "onboard", "--tenant", CONTOSO,
             "--authority-host", sim.url, "--graph-endpoint", sim.url, "--ca-bundle", str(sim.ca_bundle_path)],
            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, text=True)
        os.write(master, answer.encode())
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(master)
        os.close(slave)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_terminal_user_who_says_no_changes_nothing(sim, tmp_path, monkeypatch):
    """In-process: the Environment stands for a person at a terminal who types "n" (issue 17: no pty needed).
    The streams it is given are the command's stdin, stdout and stderr."""
    import io

    from kodo_provision.cli.main import main
    from kodo_provision.environment import Environment

    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    person = Environment(stdin=io.StringIO("n\n"), stdout=out, stderr=err, terminal=True)
    code = main(["onboard", "--tenant", CONTOSO, "--authority-host", sim.url, "--graph-endpoint", sim.url,
                 "--ca-bundle", str(sim.ca_bundle_path), "--ca-bundle-only"], environment=person)
    assert code == 2, err.getvalue()
    assert "Apply these changes?" in err.getvalue()
    assert "create app registration" in out.getvalue()  # the plan was shown first
    assert kodo_apps(tenant_state(sim)) == []


def test_terminal_user_who_says_yes_is_onboarded(sim, tmp_path):
    result = run_on_terminal(sim, tmp_path, "y\n")
    assert result.returncode == 0, result.stderr
    assert_converged(sim, CONTOSO, tmp_path / f"kodo-credentials-{CONTOSO}.json")


def test_exactly_one_device_code_prompt_per_run(sim, kodo):
    """msgraph asks for CAE tokens; without enable_cae at sign-in, azure-identity's separate CAE
    cache would prompt a second time (graph-facts §4)."""
    run = kodo("onboard", "--yes")
    assert run.err.count("To sign in, open") == 1
    assert len([r for r in sim.request_log if r.path.endswith("/devicecode")]) == 1


def test_ssl_cert_file_alone_trusts_every_connection(sim, kodo, tmp_path, monkeypatch):
    """One CA setting reaches both stacks (requests ignores SSL_CERT_FILE on its own)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(sim.ca_bundle_path))
    kodo("onboard", "--yes", "--authority-host", sim.url, "--graph-endpoint", sim.url, endpoints=False)
    assert_converged(sim, CONTOSO, tmp_path / f"kodo-credentials-{CONTOSO}.json")


def test_traceback_output_never_carries_the_secret(sim, tmp_path):
    """--traceback re-raises for a full traceback; even then no secret or token is printed.
    The new secret is refused for longer than the verification budget, so the run fails after
    the secret exists (and is in the credentials file)."""
    from kodo_provision.simulator import Faults

    sim.set_faults(Faults(new_secret_delay_ms=60_000))
    proc = subprocess.run(
        [sys.executable, "-m", "kodo_provision.cli.main", "onboard", "--yes", "--traceback", "--tenant", CONTOSO,
         "--verify-budget", "5", "--log-level", "debug", "--authority-host", sim.url, "--graph-endpoint", sim.url,
         "--ca-bundle", str(sim.ca_bundle_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr
    secret = __import__("json").loads((tmp_path / f"kodo-credentials-{CONTOSO}.json").read_text())["client_secret"]
    assert secret not in proc.stdout + proc.stderr
    assert "eyJ" not in proc.stdout + proc.stderr
