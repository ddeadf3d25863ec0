"""Every test gets its own per-user state folder: pending-credential records are kept by tenant and app
($XDG_STATE_HOME/kodo-provision), and the simulator's tenant IDs are the same in every test."""

from __future__ import annotations

import gc

import pytest

# A test worker's heap is long-lived (pytest, hypothesis, the SDK's imported models: 130-210 thousand
# objects), and the cyclic collector walked it again and again: ~8 s of collections per `make test` over four
# workers (gc.callbacks, issue 17). Larger young generations and a frozen heap after collection take the
# suite from ~104 to ~98 s of CPU (three alternating runs). The product's processes keep Python's defaults;
# only the tests' interpreter is tuned. https://docs.python.org/3/library/gc.html#gc.freeze
gc.set_threshold(7000, 20, 20)


def pytest_collection_finish(session: pytest.Session) -> None:
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def isolated_state(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
