"""Opt-in: the same onboarding against a real Microsoft tenant.

Run with `KODO_LIVE_TENANT=contoso.onmicrosoft.com pytest -m live -s` (a human approves the
device code printed on stderr). Skipped otherwise; CI never runs it.
"""

from __future__ import annotations

import json
import os
import stat

import pytest

from kodo_provision.cli.main import main

LIVE_TENANT = os.environ.get("KODO_LIVE_TENANT")
pytestmark = [pytest.mark.live,
              pytest.mark.skipif(not LIVE_TENANT, reason="set KODO_LIVE_TENANT to run against a real tenant")]


def test_onboard_then_rerun_is_empty(tmp_path, capsys):
    creds = tmp_path / "creds.json"
    args = ["onboard", "--yes", "--tenant", LIVE_TENANT, "--credentials-out", str(creds), "--output", "json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["verification"]["ok"]
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert main(args) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["plan"]["changes"] == 0 and second["client_id"] == first["client_id"]
