"""What the core takes from the world around it: the clock, waiting, the streams, whether a person is at the
terminal, and the environment variables.

The CLI builds one `Environment` per command (`main(argv, environment=...)`, the real one by default)
and installs it for the command's duration with `using()`; the core reads it with `current()`. Every
wait of the tool (retry backoff, replication polls, the proof of a new secret, consent propagation)
goes through `current().clock`, so a test can run a 30-second replication lag without waiting 30
seconds, by handing in a clock the simulator shares. A context variable rather than an argument
through every layer: asyncio copies it into every task the command starts, so bulk's concurrent
tenants see the same environment without each function passing it on.

Streams given to an Environment stand in for sys.stdin/stdout/stderr while the command runs (`using`),
so everything the command prints or reads (click included) goes through them; a test can answer the
confirmation prompt in-process, as a person at a terminal would (`terminal=True`, `stdin=StringIO("y\n")`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TextIO


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


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or stream-like object without a terminal
        return False


@dataclass(frozen=True)
class Environment:
    """The clock, the streams, the terminal and the environment variables of one command run."""

    clock: Clock = field(default_factory=SystemClock)
    # None: the process's own, sys.std* as they are when used (click and test runners swap them).
    stdin: TextIO | None = None
    stdout: TextIO | None = None
    stderr: TextIO | None = None
    # None: the process environment (os.environ).
    variables: Mapping[str, str] | None = None
    # None: ask the streams (isatty()); True/False stands for a person at a terminal, or none.
    terminal: bool | None = None

    def input(self) -> TextIO:
        """Where the command reads what a person types."""
        return self.stdin or sys.stdin

    def out(self) -> TextIO:
        """Where results go (stdout)."""
        return self.stdout or sys.stdout

    def err(self) -> TextIO:
        """Where prompts, progress and errors go (stderr)."""
        return self.stderr or sys.stderr

    def stdin_is_tty(self) -> bool:
        """A person can answer a prompt."""
        return self.terminal if self.terminal is not None else _isatty(self.input())

    def stdout_is_tty(self) -> bool:
        """Results are read by a person (not a pipe or a file)."""
        return self.terminal if self.terminal is not None else _isatty(self.out())

    def stderr_is_tty(self) -> bool:
        """Progress can redraw in place."""
        return self.terminal if self.terminal is not None else _isatty(self.err())

    def getenv(self, name: str, default: str | None = None) -> str | None:
        """An environment variable of this run."""
        variables = self.variables if self.variables is not None else os.environ
        return variables.get(name, default)


_SYSTEM = Environment()
_CURRENT: ContextVar[Environment | None] = ContextVar("kodo_environment", default=None)


def current() -> Environment:
    """The environment of the running command (the real one outside `using`)."""
    return _CURRENT.get() or _SYSTEM


def clock() -> Clock:
    """The running command's clock."""
    return current().clock


def pause(seconds: float) -> None:
    """Block for `seconds` of real time: for waiting on another process (its exit, a file it writes), which
    no virtual clock can move. The tool's own waits go through `clock().sleep`."""
    time.sleep(seconds)


def getenv(name: str, default: str | None = None) -> str | None:
    """An environment variable of the running command."""
    return current().getenv(name, default)


@contextmanager
def using(environment: Environment) -> Iterator[Environment]:
    """Install `environment` for the body's duration (and every asyncio task started in it), its streams
    in place of sys.stdin/stdout/stderr."""
    token = _CURRENT.set(environment)
    saved_stdin = sys.stdin
    try:
        with contextlib.ExitStack() as streams:
            if environment.stdout is not None:
                streams.enter_context(contextlib.redirect_stdout(environment.stdout))
            if environment.stderr is not None:
                streams.enter_context(contextlib.redirect_stderr(environment.stderr))
            if environment.stdin is not None:
                sys.stdin = environment.stdin
            yield environment
    finally:
        sys.stdin = saved_stdin
        _CURRENT.reset(token)
