"""The bulk journal's passes (bulk/journal.py): what a new pass, a kill and a resume leave behind."""

from __future__ import annotations

import json
from pathlib import Path

from kodo_provision.bulk.journal import load_journal


def _journal(tmp_path: Path, *records: dict) -> Path:
    path = tmp_path / "journal.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _finished(tenant: str, run_id: str) -> dict:
    return {"event": "tenant_finished", "tenant": tenant, "run_id": run_id, "outcome": {"tenant": tenant}}


def _started(tenant: str, run_id: str) -> dict:
    return {"event": "tenant_started", "tenant": tenant, "run_id": run_id}


FIRST_PASS = ({"event": "pass_started", "manifest_version": "1", "prune": False},
              {"event": "run_started", "tenants": 2}, _started("a", "r1"), _finished("a", "r1"),
              _started("b", "r2"), _finished("b", "r2"))


def test_a_finished_pass_is_complete_and_remembers_its_settings(tmp_path):
    state = load_journal(_journal(tmp_path, *FIRST_PASS))
    assert state.complete and set(state.finished) == {"a", "b"}
    assert state.pass_settings == {"manifest_version": "1", "prune": False}


def test_a_new_pass_killed_before_it_signed_in_is_unfinished_and_resumes_every_tenant(tmp_path):
    state = load_journal(_journal(tmp_path, *FIRST_PASS,
                                  {"event": "pass_started", "manifest_version": "2", "prune": True}))
    assert state.exists and not state.complete
    assert state.finished == {}, "--resume skips nothing of the new pass"
    assert state.pass_settings == {"manifest_version": "2", "prune": True}


def test_a_new_pass_killed_mid_way_counts_only_its_own_finished_tenants(tmp_path):
    state = load_journal(_journal(tmp_path, *FIRST_PASS,
                                  {"event": "pass_started", "manifest_version": "2", "prune": True},
                                  {"event": "run_started", "tenants": 2}, _started("a", "r3"), _finished("a", "r3"),
                                  _started("b", "r4")))
    assert not state.complete and set(state.finished) == {"a"} and state.interrupted == {"b": ["r4"]}


def test_a_torn_last_line_and_older_journals_without_passes_still_load(tmp_path):
    path = _journal(tmp_path, {"event": "run_started", "tenants": 1}, _started("a", "r1"), _finished("a", "r1"))
    path.write_text(path.read_text() + '{"event": "tenant_sta')
    state = load_journal(path)
    assert state.complete and state.pass_settings == {}
