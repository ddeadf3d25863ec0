"""The bulk run's journal: append-only JSON lines, fsync'd per record, so a crash loses nothing.

Records (`event`):
- `pass_started`: written first (before the sign-in) by a run that is not a --resume/--only-failed: a pass
  over every tenant begins, with its manifest version and --prune. Over a folder whose earlier pass finished
  (e.g. a fleet moving to another manifest) what earlier passes finished no longer counts as done; their
  credentials files are reused. Until this pass's `run_started`, the pass counts as unfinished.
- `run_started`: a bulk run began (who signed in, how many tenants).
- `tenant_started`: a tenant's flow is about to change it, with the run ID that names any secret it
  adds (apply/secret.py). Written and fsync'd *before* the first change.
- `tenant_finished`: the tenant's outcome (succeeded or failed), plus the run IDs of earlier
  interrupted attempts whose stray secrets were cleaned up.
- `partner_consent`: the partner sign-in app is consented in the customer (Partner Center answered
  201 or 409), so a resumed run does not push it again.

`--resume` reads it back: tenants with a `tenant_finished` record are skipped; a `tenant_started`
without a matching finish is an interrupted attempt, whose run ID lets the next attempt remove a
secret that was added but never reached a credentials file. A torn last line (killed mid-write)
is ignored: the record it held was never acted on.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..credentials.store import open_private_log

JOURNAL_NAME = "journal.jsonl"


@dataclass
class JournalState:
    """What earlier runs in this output folder did, per tenant."""

    finished: dict[str, dict[str, Any]] = field(default_factory=dict)  # tenant -> last tenant_finished
    interrupted: dict[str, list[str]] = field(default_factory=dict)  # tenant -> run IDs never finished
    runs: int = 0
    passes: int = 0
    consented: dict[str, str] = field(default_factory=dict)  # tenant -> partner sign-in app consented there
    last_run_tenants: int | None = 0  # how many tenants the latest run set out to do (None: not known yet)
    finished_since_last_run: int = 0
    pass_settings: dict[str, Any] = field(default_factory=dict)  # the latest pass: manifest_version, prune

    @property
    def exists(self) -> bool:
        return self.runs > 0 or self.passes > 0 or bool(self.finished) or bool(self.interrupted)

    @property
    def complete(self) -> bool:
        """The latest run finished every tenant it set out to do, and no attempt was cut short."""
        return (not self.interrupted and self.last_run_tenants is not None
                and self.finished_since_last_run >= self.last_run_tenants)


def load_journal(path: Path) -> JournalState:
    """Replay the journal; unknown or torn lines are skipped."""
    state = JournalState()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return state
    started: dict[str, list[str]] = {}
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn write from a killed process
        event, tenant = record.get("event"), record.get("tenant")
        if event == "pass_started":
            state.passes += 1
            state.finished, state.last_run_tenants, state.finished_since_last_run = {}, None, 0
            state.pass_settings = {k: record.get(k) for k in ("manifest_version", "prune")}
        elif event == "run_started":
            state.runs += 1
            state.last_run_tenants, state.finished_since_last_run = int(record.get("tenants") or 0), 0
        elif event == "tenant_started" and tenant and record.get("run_id"):
            started.setdefault(tenant, []).append(record["run_id"])
        elif event == "partner_consent" and tenant and record.get("client_id"):
            state.consented[tenant] = record["client_id"]
        elif event == "tenant_finished" and tenant:
            state.finished[tenant] = record
            state.finished_since_last_run += 1
            done = {record.get("run_id"), *record.get("cleaned_run_ids", [])}
            started[tenant] = [r for r in started.get(tenant, []) if r not in done]
    state.interrupted = {t: ids for t, ids in started.items() if ids}
    return state


class Journal:
    """Appends one JSON record per line and fsyncs it before returning."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open_private_log(path, "the bulk journal")
        # A record torn by a kill has no newline; start ours on a fresh line.
        if path.stat().st_size and not path.read_bytes().endswith(b"\n"):
            self._file.write("\n")

    def append(self, event: str, **fields: Any) -> None:
        record = {"ts": datetime.now(UTC).isoformat(), "event": event, **fields}
        self._file.write(json.dumps(record, default=str) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
