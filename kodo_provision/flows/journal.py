"""Audit records written ahead: a run that changes a tenant has a record on disk before its first change.

A process that is killed (SIGKILL, a crash, a power cut) cannot write its audit record at the end, yet
security teams still need to know what it changed. So the record is written with status "running"
before the first change, rewritten (atomically, 0600) after each change, and replaced by the full
record when the run ends. Each running record is also listed per user in the state folder
(credentials.state_dir()/runs/); the next command of the tool, from any folder, finds the records of
runs whose process is gone and marks them "interrupted", naming itself as the run that found them.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from pathlib import Path
from typing import Any

from .. import environment
from ..credentials.store import process_gone, state_dir, write_credentials

RUNNING, INTERRUPTED = "running", "interrupted"


def _registry() -> Path:
    return state_dir() / "runs"


def _entry(run_id: str) -> Path:
    return _registry() / f"{run_id}.json"


class RunJournal:
    """The audit record of one run while it runs."""

    def __init__(self, path: Path, header: dict[str, Any]) -> None:
        self.path = path
        self.record: dict[str, Any] = {**header, "status": RUNNING, "process": _this_process(), "changes": []}

    def begin(self) -> RunJournal:
        """Write the record (status running) and list it in the state folder; before the first change."""
        registry = _registry()
        registry.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_credentials(_entry(self.record["run_id"]), {"audit_file": str(self.path.resolve()),
                                                          "process": self.record["process"]})
        self._write()
        return self

    def changed(self, change: dict[str, Any]) -> None:
        """One change confirmed by Microsoft: on disk before the run goes on."""
        self.record["changes"].append(change)
        self._write()

    def finish(self, record: dict[str, Any]) -> Path:
        """Replace the record with the run's final one and unlist it."""
        write_credentials(self.path, record)
        forget_run(self.record["run_id"])
        return self.path

    def _write(self) -> None:
        self.record["updated_at"] = environment.clock().now().isoformat()
        write_credentials(self.path, self.record)


def forget_run(run_id: str) -> None:
    """The run's record is final: nothing left for a later run to settle."""
    with contextlib.suppress(FileNotFoundError):
        _entry(run_id).unlink()


def _this_process() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname()}


def _process_gone(process: dict[str, Any]) -> bool:
    """True only when certain: the same host and no such process (credentials.store.process_gone)."""
    return process.get("host") == socket.gethostname() and process_gone(process.get("pid"))


def settle_abandoned_runs(found_by: str) -> list[Path]:
    """Mark the running records of runs whose process is gone as interrupted; returns their paths."""
    settled: list[Path] = []
    for entry in sorted(_registry().glob("*.json")) if _registry().is_dir() else []:
        try:
            listed = json.loads(entry.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not _process_gone(listed.get("process") or {}):
            continue
        path = Path(str(listed.get("audit_file", "")))
        with contextlib.suppress(OSError, ValueError):
            record = json.loads(path.read_text(encoding="utf-8"))
            if record.get("status") == RUNNING:
                record.update(status=INTERRUPTED, error="the process ended before the run finished (killed or "
                              f"crashed); found by run {found_by} at {environment.clock().now().isoformat()}")
                write_credentials(path, record)
                settled.append(path)
        entry.unlink(missing_ok=True)
    return settled
