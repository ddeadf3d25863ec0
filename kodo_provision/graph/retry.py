"""Named retry policies. Retry only on what a policy lists, never on "any exception".

- THROTTLING: 429/503/504, waiting at least the server's Retry-After.
  https://learn.microsoft.com/en-us/graph/throttling
- REPLICATION_LAG: 404/400 errors right after a create, with capped exponential backoff and
  jitter inside a total budget (no fixed sleeps).
  https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/
- TRANSIENT_NETWORK: a dropped connection, only for requests that are safe to repeat.
"""

from __future__ import annotations

import math
import random
from collections.abc import Awaitable, Callable
from enum import Flag, auto
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_any
from tenacity.stop import stop_base

from .. import environment
from ..output.logging import get_logger
from .errors import GraphThrottled, TransientNetworkError, is_replication_lag
from .settings import RetrySettings

T = TypeVar("T")
log = get_logger("kodo_provision.graph")


class Policy(Flag):
    """Which failures a call may be retried on."""

    THROTTLING = auto()
    REPLICATION_LAG = auto()
    TRANSIENT_NETWORK = auto()

    # A write that must not be repeated blindly (addPassword, addKey): a 503/504 may come after it
    # committed, so only a 429 (refused before anything happened) is retried; the caller reconciles.
    UNSAFE_WRITE = auto()

    # Reads and idempotent writes (PATCH upsert, GET) may always be repeated.
    IDEMPOTENT = THROTTLING | TRANSIENT_NETWORK
    AFTER_CREATE = THROTTLING | REPLICATION_LAG


def matches_policy(policy: Policy, exc: BaseException) -> bool:
    """True when `policy` names `exc` as worth another attempt."""
    if isinstance(exc, GraphThrottled):
        if Policy.UNSAFE_WRITE in policy and exc.status != 429:
            return False
        return Policy.THROTTLING in policy
    if isinstance(exc, TransientNetworkError):
        return Policy.TRANSIENT_NETWORK in policy
    return Policy.REPLICATION_LAG in policy and is_replication_lag(exc)


def _matches(policy: Policy) -> Callable[[BaseException], bool]:
    return lambda exc: matches_policy(policy, exc)


# Past the cap, the ceiling grows by this share of the time already waited at the cap: a replication lag
# that has lasted 30 s is no more likely to end in the next second than one that has lasted 3 s, and every
# poll is a request (https://learn.microsoft.com/en-us/graph/throttling). The overshoot after the object
# appears stays under ~10 % of the wait; below ~10 s of waiting nothing changes.
CAP_GROWTH = 0.1


def jittered(initial_s: float, max_s: float, attempt: int) -> float:
    """Capped exponential backoff with jitter: uniform in [c/2, c], c = min(max, initial * 2**(attempt-1)),
    the cap growing slowly with the time already spent at it (CAP_GROWTH)."""
    ceiling = initial_s * 2 ** min(attempt - 1, 30)
    if ceiling > max_s:
        to_cap = max(0, math.ceil(math.log2(max_s / initial_s))) + 1 if initial_s > 0 else 1
        waited_at_cap = 0.75 * max_s * max(0, attempt - to_cap)  # the mean of uniform[cap/2, cap] per attempt
        ceiling = max(max_s, CAP_GROWTH * waited_at_cap)
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not crypto


class Backoff:
    """Delays for a polling loop whose end is not announced (replication has no SLA).

    `progressed()` starts the sequence over: when one object of a burst of writes shows up, the
    others written right after it are due within moments (they replicate with the same lag), so
    waiting the long capped delay then would only add to the end-to-end time.
    https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/
    """

    def __init__(self, initial_s: float = RetrySettings.backoff_initial_s,
                 max_s: float = RetrySettings.backoff_max_s) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.attempt = 0

    def next(self) -> float:
        """The next delay (seconds)."""
        self.attempt += 1
        return jittered(self.initial_s, self.max_s, self.attempt)

    def progressed(self) -> None:
        """Something changed for the better: the next delay is the short initial one again."""
        self.attempt = 0


class _Wait:
    """Retry-After when the server gave one, else capped exponential backoff with full jitter."""

    def __init__(self, settings: RetrySettings) -> None:
        self.settings = settings

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return retry_after
        return jittered(self.settings.backoff_initial_s, self.settings.backoff_max_s, state.attempt_number)


class _OutOfTime(stop_base):
    """Stop once `budget_s` has passed on the command's clock since the first attempt (tenacity's own
    stop_after_delay reads time.monotonic directly, which the injected clock would not move)."""

    def __init__(self, clock: environment.Clock, budget_s: float) -> None:
        self.clock = clock
        self.deadline = clock.monotonic() + budget_s

    def __call__(self, state: RetryCallState) -> bool:
        return self.clock.monotonic() >= self.deadline


class _NetworkAttempts(stop_base):
    """Stop after N transport failures, counted apart from throttling/lag retries."""

    def __init__(self, attempts: int) -> None:
        self.attempts = attempts
        self.seen = 0

    def __call__(self, state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, TransientNetworkError):
            self.seen += 1
        return self.seen >= self.attempts


async def run_with_policy(operation: str, policy: Policy, call: Callable[[], Awaitable[T]],
                          settings: RetrySettings,
                          sleep: Callable[[float], Awaitable[None]] | None = None) -> T:
    """Run `call`, retrying only the failures `policy` names, within the settings' budgets."""
    budget = max(settings.throttling_budget_s if Policy.THROTTLING in policy else 0,
                 settings.replication_budget_s if Policy.REPLICATION_LAG in policy else 0)

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.info("graph.retry", operation=operation, attempt=state.attempt_number,
                 reason=type(exc).__name__, status=getattr(exc, "status", None),
                 wait_s=round(state.upcoming_sleep, 2))

    clock = environment.clock()
    retrying = AsyncRetrying(
        retry=retry_if_exception(_matches(policy)),
        wait=_Wait(settings),
        stop=stop_any(_OutOfTime(clock, budget), _NetworkAttempts(settings.network_attempts)),
        before_sleep=before_sleep,
        reraise=True,
        sleep=sleep or clock.sleep,
    )
    async for attempt in retrying:
        with attempt:
            return await call()
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover
