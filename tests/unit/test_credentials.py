"""Credentials file: 0600 from the first byte, atomic, never another tenant's."""

from __future__ import annotations

import json
import os
import stat

import pytest

from kodo_provision.credentials.store import check_owner, held_secret, read_credentials, write_credentials
from kodo_provision.errors import UsageError


def test_written_0600_and_valid_json(tmp_path):
    path = tmp_path / "sub" / "c.json"
    old_umask = os.umask(0)
    try:
        write_credentials(path, {"tenant_id": "t", "client_secret": "s3cr3t-value"})
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["client_secret"] == "s3cr3t-value"
    assert [p.name for p in path.parent.iterdir()] == ["c.json"]  # no temp file left behind


def test_replace_keeps_0600(tmp_path):
    path = tmp_path / "c.json"
    write_credentials(path, {"tenant_id": "t", "n": 1})
    write_credentials(path, {"tenant_id": "t", "n": 2})
    assert read_credentials(path)["n"] == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_other_tenants_file_is_refused(tmp_path):
    with pytest.raises(UsageError, match="belongs to tenant other"):
        check_owner(tmp_path / "c.json", {"tenant_id": "other"}, {"mine"})
    check_owner(tmp_path / "c.json", {"tenant_id": "mine"}, {"mine"})
    check_owner(tmp_path / "c.json", None, {"mine"})


def test_held_secret_needs_secret_and_key(tmp_path):
    assert held_secret({"client_id": "c"}) is None
    held = held_secret({"client_id": "C", "client_secret": "x", "secret_key_id": "K",
                        "secret_expires_at": "2027-05-26T00:00:00+00:00"})
    assert held.key_id == "k" and held.client_id == "c" and held.expires_at.year == 2027


def test_unreadable_file_is_a_usage_error(tmp_path):
    path = tmp_path / "c.json"
    path.write_text("{not json")
    with pytest.raises(UsageError):
        read_credentials(path)


def test_a_killed_writers_temp_file_is_removed_by_the_next_write(tmp_path):
    """Issue 14: SIGKILL between writing the temp file and renaming it leaves a file that may hold a whole
    secret. The next write of the same file removes it; a live writer's temp file (this process) stays."""
    import os
    import subprocess

    gone = subprocess.Popen(["true"])
    gone.wait()  # its PID names no process now
    path = tmp_path / "kodo-credentials.json"
    stale = tmp_path / f".{path.name}.{gone.pid}.abc123.tmp"
    live = tmp_path / f".{path.name}.{os.getpid()}.def456.tmp"
    stale.write_text('{"client_secret": "left behind"}')
    live.write_text("{}")
    write_credentials(path, {"tenant_id": "t"})
    assert not stale.exists() and live.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == [live.name]


def test_log_files_are_private_and_never_followed_through_a_symlink(tmp_path):
    """Issue 15: --log-file and the bulk journal: mode 0600, no symlink following (O_NOFOLLOW)."""
    import os
    import stat

    import pytest

    from kodo_provision.credentials.store import open_private_log
    from kodo_provision.errors import UsageError

    log = tmp_path / "run.log"
    with open_private_log(log, "--log-file") as handle:
        handle.write("line\n")
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
    loose = tmp_path / "loose.log"
    loose.write_text("")
    loose.chmod(0o644)
    open_private_log(loose, "--log-file").close()
    assert stat.S_IMODE(os.stat(loose).st_mode) == 0o600
    victim = tmp_path / "victim"
    victim.write_text("theirs\n")
    link = tmp_path / "link.log"
    link.symlink_to(victim)
    with pytest.raises(UsageError, match="symbolic link"):
        open_private_log(link, "--log-file")
    assert victim.read_text() == "theirs\n"


def test_an_interrupted_run_stays_pending_for_the_horizon_after_a_later_hand_off(tmp_path, monkeypatch):
    """Issue 14: a killed run's request still in flight can commit after the next run handed off its own
    credential; the interrupted run stays in the pending record for PENDING_HORIZON so the next command
    still removes what lands late. The run that handed off goes at once; an older entry goes after the
    horizon."""
    from datetime import UTC, datetime, timedelta

    from kodo_provision import environment
    from kodo_provision.credentials.store import (
        PENDING_HORIZON,
        clear_pending_runs,
        mark_pending_runs,
        read_pending_runs,
    )

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))

    class At:
        def __init__(self, when: datetime) -> None:
            self.when = when

        def monotonic(self) -> float:
            return 0.0

        def now(self) -> datetime:
            return self.when

        async def sleep(self, seconds: float) -> None:
            return None

    start = datetime(2026, 12, 7, tzinfo=UTC)
    with environment.using(environment.Environment(clock=At(start))):
        mark_pending_runs("t", "app", frozenset({"killed"}))
        mark_pending_runs("t", "app", frozenset({"killed", "next"}))  # the next run keeps killed's time
    with environment.using(environment.Environment(clock=At(start + timedelta(minutes=1)))):
        clear_pending_runs("t", "app", handed_off=frozenset({"next"}))
        assert read_pending_runs("t", "app") == {"killed"}
    with environment.using(environment.Environment(clock=At(start + PENDING_HORIZON + timedelta(seconds=1)))):
        clear_pending_runs("t", "app", handed_off=frozenset({"later"}))
        assert read_pending_runs("t", "app") == frozenset()
