"""Retry budgets, apart from the retry machinery: the CLI builds them before the sign-in prompt, and
importing them must not load tenacity or the Graph stack (start-up time, issue 17)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetrySettings:
    """Budgets; a CLI flag can raise them for slow tenants."""

    throttling_budget_s: float = 300.0
    replication_budget_s: float = 300.0
    network_attempts: int = 4
    backoff_initial_s: float = 0.25
    # Replication lag has no announced end; a short cap keeps the overshoot after the object
    # appears under a second, at the price of one cheap request per second while waiting.
    backoff_max_s: float = 1.0
