"""The kill and signal tests' CLI processes (tests/cli_processes.py) behave as started processes do."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.cli_processes import CliProcess


def test_a_forked_cli_reports_its_exit_status_output_directory_and_environment(tmp_path: Path):
    proc = CliProcess(["--version"], cwd=tmp_path, env=dict(os.environ))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out.startswith("kodo-provision, version") and err == ""
    proc = CliProcess(["no-such-command"], cwd=tmp_path, env=dict(os.environ))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == "" and err.startswith("error: ")
    # A run in the test's folder and environment: the manifest's relative path is resolved from cwd.
    (tmp_path / "m.yaml").write_text("not: [valid\n")
    proc = CliProcess(["manifest", "lint", "m.yaml"], cwd=tmp_path, env=dict(os.environ))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "m.yaml" in err
    # The test's environment, not the parent's: a CA bundle named there is checked before any request.
    proc = CliProcess(["login", "--tenant", "contoso.onmicrosoft.com"], cwd=tmp_path,
                      env={**os.environ, "REQUESTS_CA_BUNDLE": str(tmp_path / "no-such-ca.pem")})
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and f"CA bundle {tmp_path / 'no-such-ca.pem'} does not exist" in err


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process state from /proc")
def test_an_ended_cli_stays_unreaped_until_its_end_is_read_so_a_late_signal_never_raises(tmp_path: Path):
    """As a Popen child: after the process ends, its pid stays its own (a zombie) until the test has read the
    end, so a signal sent in between is not sent, and never reaches a recycled pid or raises."""
    proc = CliProcess(["--version"], cwd=tmp_path, env=dict(os.environ))
    deadline = time.monotonic() + 60
    while _state(proc.pid) != "Z":
        assert time.monotonic() < deadline, f"process {proc.pid} state {_state(proc.pid)!r}, never a zombie"
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    while _state(proc.pid) == "Z":  # reaped once the end was read (or the pid is another process's by now)
        assert time.monotonic() < deadline, f"process {proc.pid} never reaped"
        time.sleep(0.01)


def _state(pid: int) -> str | None:
    """The process's state letter (R, S, Z, ...), None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def test_a_killed_cli_reports_the_signal_and_the_next_one_runs(tmp_path: Path):
    proc = CliProcess(["login", "--tenant", "contoso.onmicrosoft.com", "--authority-host", "https://127.0.0.1:9",
                       "--sign-in-timeout", "60"], cwd=tmp_path, env=dict(os.environ))
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    proc.stop()  # already ended: nothing to kill, the zygote stays
    again = CliProcess(["--version"], cwd=tmp_path, env=dict(os.environ))
    assert again.wait(timeout=60) == 0
