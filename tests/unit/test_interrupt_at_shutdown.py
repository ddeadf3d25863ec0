"""Issue 14: a signal that arrives while asyncio.run is closing (the command's work is over, a worker
thread is still finishing) must not cancel asyncio's own shutdown: that printed
"Exception in callback Future.set_result(None) ... InvalidStateError" and a traceback."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time

from kodo_provision.cli.interrupts import handled, mark_changing


def test_a_signal_while_asyncio_run_closes_leaves_its_shutdown_alone(capfd):
    async def command() -> str:
        mark_changing()
        # A worker thread still busy when the command returns: asyncio.run waits for it while closing.
        asyncio.get_running_loop().run_in_executor(None, time.sleep, 0.6)
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
        return "done"

    with handled():
        assert asyncio.run(command()) == "done"
    err = capfd.readouterr().err
    assert "Exception in callback" not in err and "InvalidStateError" not in err, err
