"""Ctrl-C and SIGTERM at the CLI boundary.

While nothing can have changed yet (waiting for the device-code approval or the browser, the confirm
prompt, reading the tenant) one signal ends the process at once: one line, exit 130 (143 for SIGTERM),
no traceback and no thread left waiting. A plain KeyboardInterrupt does not do that: the device-code
poll runs in a worker thread, which asyncio waits for until the code expires.
Once a command starts changing a tenant, the signal becomes a KeyboardInterrupt in the main thread, so
the flow unwinds through its own handlers (bulk writes its report, the journal keeps what finished).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

_state = {"changing": False}
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


def mark_changing() -> None:
    """From now on a signal interrupts the work instead of ending the process on the spot."""
    _state["changing"] = True


def _handler(signum: int, frame: Any) -> None:
    if not _state["changing"]:
        name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
        sys.stderr.write(f"interrupted ({name}) before any change; nothing was changed\n")
        sys.stderr.flush()
        os._exit(EXIT_CODES.get(signum, 130))
    raise KeyboardInterrupt


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Install the handlers for one CLI invocation (main thread only) and restore the previous ones."""
    _state["changing"] = False
    try:
        previous = {s: signal.signal(s, _handler) for s in EXIT_CODES}
    except ValueError:  # not the main thread (an embedding application): leave signals alone
        yield
        return
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
