"""Virtual time for in-process CLI runs: the command's clock is the simulator's clock.

A wait of the tool (retry backoff, replication poll, the proof of a new secret, consent propagation)
moves the simulator's clock forward by the wait instead of sleeping, so the simulator's replication
lag, new-secret delay and consent propagation pass exactly as they would have, and the tool goes
through the same polls, backoffs and budgets, in no wall time. Concurrent waits move the clock to the
latest wake-up asked for (never the sum), so budgets run out no sooner than in real time.
Processes started by a test (the kill and signal tests) keep the real clock.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from kodo_provision.environment import Environment
from kodo_provision.simulator import clock as simulator_clock


class SimulatorClock:
    """A Clock (kodo_provision.environment) that reads and moves the simulator's clock."""

    def monotonic(self) -> float:
        """The simulator's monotonic clock."""
        return simulator_clock.monotonic()

    def now(self) -> datetime:
        """Wall-clock time, not moved: the simulator dates objects (secret expiry, createdDateTime) and
        checks token lifetimes on the wall clock, and the suite shares one simulator, so the offset grows
        over the session; virtual time moves waits and deadlines only."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """Jump instead of waiting; yield so the other tasks (and their I/O) run."""
        simulator_clock.advance_to(simulator_clock.monotonic() + max(0.0, seconds))
        await asyncio.sleep(0)


def virtual_time() -> Environment:
    """An environment whose clock is the simulator's."""
    return Environment(clock=SimulatorClock())
