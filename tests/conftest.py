"""Every test gets its own per-user state folder: pending-credential records are kept by tenant and app
($XDG_STATE_HOME/kodo-provision), and the simulator's tenant IDs are the same in every test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated_state(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
