"""The simulator's clock for everything that "takes time" in Entra: replication lag, the delay before a
new secret or certificate works, consent propagation, throttling windows.

Real monotonic time plus an offset that only moves forward. A test that hands the CLI a clock sharing
this offset (tests/virtual_time.py) turns the tool's waits into jumps of this clock, so a 30-second
replication lag is observed in full (the tool polls, backs off and sees the object appear) without 30
seconds of wall time. Process-wide on purpose: the directory objects (store.Obj) read it without a
reference to their simulator. The request log is on this clock too (a
Retry-After honoured in virtual time shows as the gap it stands for). Token lifetimes and object
timestamps stay on wall-clock time: MSAL and
azure-identity judge token expiry by the real clock.
"""

from __future__ import annotations

import threading
import time

_lock = threading.Lock()
_offset = 0.0


def monotonic() -> float:
    """time.monotonic() plus the offset."""
    return time.monotonic() + _offset


def time_s() -> float:
    """time.time() plus the offset: when the request log says a request started and ended."""
    return time.time() + _offset


def offset() -> float:
    """How far this clock is ahead of time.monotonic()."""
    return _offset


def advance_to(target: float) -> None:
    """Move the clock forward to `target` (on this clock's scale); never backwards."""
    global _offset
    with _lock:
        ahead = target - monotonic()
        if ahead > 0:
            _offset += ahead
