"""Ctrl-C and SIGTERM at the CLI boundary.

While nothing can have changed yet (waiting for the device-code approval or the browser, the confirm
prompt, reading the tenant) one signal ends the process at once: one line, exit 130 (143 for SIGTERM),
no traceback and no thread left waiting. A plain KeyboardInterrupt does not do that: the device-code
poll runs in a worker thread, which asyncio waits for until the code expires.
Once a command starts changing a tenant, the signal cancels the running asyncio tasks (as asyncio.run's
own SIGINT handling does), so each flow unwinds through its handlers (onboarding writes the audit record
of what changed, bulk its report; the journal keeps what finished) and the CLI prints one line. No
KeyboardInterrupt is raised then: one that travels through asyncio's shutdown can make the interpreter
kill itself with SIGINT after the CLI already chose its exit status.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from typing import Any

from .. import environment

_state: dict[str, Any] = {"changing": False, "signal": None}
EXIT_CODES: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}


def mark_changing() -> None:
    """From now on a signal interrupts the work instead of ending the process on the spot."""
    _state["changing"] = True


def interrupted_exit_code() -> int | None:
    """130 / 143 when a signal interrupted this invocation, else None."""
    signum = _state["signal"]
    return EXIT_CODES.get(signum, 130) if signum is not None else None


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    for task in asyncio.all_tasks(loop):
        if not _closing_the_loop(task):
            task.cancel()


def _closing_the_loop(task: asyncio.Task[Any]) -> bool:
    """asyncio.run's own shutdown (shutdown_asyncgens, shutdown_default_executor): the command's work is
    over. Cancelling it would make the executor thread set the result of a cancelled future
    ("Exception in callback Future.set_result(None)", InvalidStateError) and raise CancelledError out of
    asyncio.run although everything finished."""
    return getattr(task.get_coro(), "__qualname__", "").startswith("BaseEventLoop.shutdown_")


def _handler(signum: int, frame: Any) -> None:
    if not _state["changing"]:
        name = "Ctrl-C" if signum == signal.SIGINT else "SIGTERM"
        stderr = environment.current().err()
        stderr.write(f"interrupted ({name}) before any change; nothing was changed\n")
        stderr.flush()
        os._exit(EXIT_CODES.get(signum, 130))
    _state["signal"] = signum
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # not inside asyncio (a synchronous step): the usual KeyboardInterrupt
        raise KeyboardInterrupt from None
    loop.call_soon_threadsafe(_cancel_all, loop)


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Install the handlers for one CLI invocation (main thread only) and restore the previous ones."""
    _state["changing"], _state["signal"] = False, None
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
