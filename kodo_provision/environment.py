"""What the core takes from the world around it: the clock, waiting, and whether a person is at the terminal.

The CLI builds one `Environment` per command (`main(argv, environment=...)`, the real one by default)
and installs it for the command's duration with `using()`; the core reads it with `current()`. Every
wait of the tool (retry backoff, replication polls, the proof of a new secret, consent propagation)
goes through `current().clock`, so a test can run a 30-second replication lag without waiting 30
seconds, by handing in a clock the simulator shares. A context variable rather than an argument
through every layer: asyncio copies it into every task the command starts, so bulk's concurrent
tenants see the same environment without each function passing it on.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """Time as the tool measures and spends it."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (deadlines and budgets)."""

    def now(self) -> datetime:
        """The current UTC time (timestamps, expiry dates)."""

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` (every wait of the tool goes through here)."""


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """time.monotonic()."""
        return time.monotonic()

    def now(self) -> datetime:
        """datetime.now(UTC)."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """asyncio.sleep()."""
        await asyncio.sleep(seconds)


def _stdin_is_tty() -> bool:
    return sys.stdin.isatty()


def _stderr_is_tty() -> bool:
    return sys.stderr.isatty()


def _stdout_is_tty() -> bool:
    return sys.stdout.isatty()


@dataclass(frozen=True)
class Environment:
    """The clock and the terminal of one command run."""

    clock: Clock = field(default_factory=SystemClock)
    # Functions rather than flags: click and test runners swap sys.std* after start-up.
    stdin_is_tty: Callable[[], bool] = _stdin_is_tty
    stderr_is_tty: Callable[[], bool] = _stderr_is_tty
    stdout_is_tty: Callable[[], bool] = _stdout_is_tty


_SYSTEM = Environment()
_CURRENT: ContextVar[Environment | None] = ContextVar("kodo_environment", default=None)


def current() -> Environment:
    """The environment of the running command (the real one outside `using`)."""
    return _CURRENT.get() or _SYSTEM


def clock() -> Clock:
    """The running command's clock."""
    return current().clock


@contextmanager
def using(environment: Environment) -> Iterator[Environment]:
    """Install `environment` for the body's duration (and every asyncio task started in it)."""
    token = _CURRENT.set(environment)
    try:
        yield environment
    finally:
        _CURRENT.reset(token)
