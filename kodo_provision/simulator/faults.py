"""Fault knobs (what can go wrong) and the engine that rolls the dice for each Graph request.

Every knob imitates a documented Graph / Entra behaviour:
- throttling, 429 + Retry-After: https://learn.microsoft.com/en-us/graph/throttling
- per-tenant limits: https://learn.microsoft.com/en-us/graph/throttling-limits
- eventual consistency / replication lag:
  https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/
- which requests see their own writes at once (session consistency, replica affinity):
  https://learn.microsoft.com/en-us/entra/architecture/architecture ("Data consistency"); see store.py
- 503/504 from a gateway: https://learn.microsoft.com/en-us/graph/best-practices-concept#handling-expected-errors
- a new client secret is not usable for seconds (graph-facts §11.2; microsoft-graph-docs#17966)
"""

from __future__ import annotations

import random
import threading
from collections import deque
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from . import clock


class Faults(BaseModel):
    """Fault knobs; all default to "off". Faults apply to Graph requests only unless stated."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: int = Field(0, ge=0, description="Added to every Graph request.")
    replication_lag_ms: int = Field(
        0, ge=0, description="A newly created object is invisible to reads and dependent writes this long."
    )
    replication_lag_random: bool = Field(
        False, description="Draw each object's lag uniformly from [0, replication_lag_ms]."
    )
    # "global" (the default) is the worst case every client must survive: each request lands on
    # a replica the write has not reached, so even dependent writes wait for the lag. "session"
    # is Entra's documented behaviour for delegated callers: Graph keeps a logical session with
    # affinity to one replica, which reads the session's own writes
    # (https://learn.microsoft.com/en-us/entra/architecture/architecture, "Data consistency";
    # https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/:
    # delegated access often sees consistency across requests, app-only requests may not).
    replication_model: Literal["global", "session"] = Field(
        "global",
        description='"global": new/changed objects are invisible to every request for the lag; "session": '
                    "visible at once to requests of the delegated session (tenant + user oid) that wrote them, "
                    "to everyone else (other users, app-only tokens, the token service) after the lag.",
    )
    affinity_loss_rate: float = Field(
        0.0, ge=0, le=1,
        description='With replication_model "session": fraction of a session\'s requests routed to another '
                    "datacenter, where they see only replicated state.",
    )
    throttle_rate: float = Field(0.0, ge=0, le=1, description="Fraction of Graph requests answered 429.")
    retry_after_s: int = Field(1, ge=0, description="Retry-After seconds sent with a 429.")
    server_error_rate: float = Field(0.0, ge=0, le=1, description="Fraction answered 503 or 504.")
    tenant_rps: float | None = Field(
        None, gt=0, description="Per-tenant request rate (requests per second) above which 429 is sent."
    )
    throttle_first: dict[str, int] = Field(
        default_factory=dict,
        description="Tenant ID -> how many of its first Graph requests are answered 429 (with Retry-After): "
                    "one tenant over its budget while the others are not (limits are per app and tenant).",
    )
    lost_response_rate: float = Field(
        0.0, ge=0, le=1, description="Fraction of successful writes whose response is dropped after commit."
    )
    new_secret_delay_ms: int = Field(
        0, ge=0, description="A new client secret fails client_credentials (AADSTS7000215) this long."
    )
    # A read right after a write may be served by a replica that has not seen it - including the lookup
    # inside an upsert and an "exists?" check before a create - while the create's uniqueness check (on
    # the primary) sees it: 409 Request_MultipleObjectsWithSameKeyValue. No request reads its own writes.
    # https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/
    # https://learn.microsoft.com/en-us/entra/architecture/architecture ("Data consistency")
    stale_lookups: bool = Field(
        False, description="Within the replication lag, every lookup (upsert and existence checks included) "
                           "may miss a just-created object; creates still conflict with it (409).")
    error_after_commit_rate: float = Field(
        0.0, ge=0, le=1,
        description="Fraction of successful writes answered 503/504 although the write committed (a gateway "
                    "that timed out waiting for the backend).")
    slow_commit_ms: int = Field(
        0, ge=0, description="A write's response is held back this long after it committed (a slow gateway).")
    seed: int = Field(0, description="Seed of the fault RNG (reproducible tests).")


class FaultEngine:
    """Holds the current Faults, a seeded RNG, rate-limit windows and targeted one-shot faults."""

    def __init__(self, faults: Faults) -> None:
        self._lock = threading.Lock()
        self._lose_next: dict[str, int] = {}
        self._fail_next: dict[str, int] = {}  # route -> writes answered 503 after they committed
        self._hold_next: dict[str, tuple[int, int]] = {}  # route -> (writes whose answer is held, ms)
        self._windows: dict[str, deque[float]] = {}
        self._throttled: dict[str, int] = {}  # tenant -> 429s sent under throttle_first
        self.set(faults)

    @property
    def faults(self) -> Faults:
        """The knobs in force."""
        return self._faults

    def set(self, faults: Faults) -> None:
        """Replace all knobs and reseed the RNG."""
        with self._lock:
            self._faults = faults
            self._rng = random.Random(faults.seed)  # noqa: S311 - simulation, not crypto
            self._windows.clear()
            self._throttled = {}

    def lose_next_response(self, kind: str = "write", count: int = 1) -> None:
        """Drop the response of the next `count` requests matching `kind` after they committed.

        `kind` is a route name (e.g. "applications.create", "servicePrincipals.create"),
        "write" (any successful POST/PATCH/DELETE) or "any".
        """
        with self._lock:
            self._lose_next[kind] = self._lose_next.get(kind, 0) + count

    def fail_next_after_commit(self, kind: str = "write", count: int = 1, status: int = 503) -> None:
        """Commit the next `count` writes matching `kind` (as lose_next_response) but answer them
        `status` (503 or 504), as a gateway does when it gave up waiting for the backend."""
        with self._lock:
            self._fail_next[f"{kind}|{status}"] = self._fail_next.get(f"{kind}|{status}", 0) + count

    def hold_next_answer(self, kind: str = "write", ms: int = 2_000, count: int = 1) -> None:
        """Commit the next `count` writes matching `kind` at once but hold their answers back `ms`
        (a slow gateway, as slow_commit_ms, for one step only)."""
        with self._lock:
            self._hold_next[kind] = (self._hold_next.get(kind, (0, ms))[0] + count, ms)

    def answer_delay_ms(self, route: str | None, method: str) -> int:
        """How long the answer of a committed write is held back (slow_commit_ms or hold_next_answer)."""
        if method not in ("POST", "PATCH", "DELETE", "PUT"):
            return 0
        with self._lock:
            keys = route_aliases(route or "") | {"write", "any"}
            for kind, (left, ms) in list(self._hold_next.items()):
                if kind.lower() in keys and left > 0:
                    self._hold_next[kind] = (left - 1, ms)
                    return ms
        return self._faults.slow_commit_ms

    def lose_next_token_answers(self, count: int = 1) -> None:
        """Break off the connection mid-answer for the next `count` token-endpoint requests (the network
        failing between the client and login.microsoftonline.com; nothing is committed by a token request)."""
        with self._lock:
            self._lose_next["login.token"] = self._lose_next.get("login.token", 0) + count

    def should_lose_token_answer(self) -> bool:
        """Whether to break off this token answer (only lose_next_token_answers asks for it: the Graph
        faults' "write" and "any" do not reach the token endpoint)."""
        with self._lock:
            if self._lose_next.get("login.token", 0) > 0:
                self._lose_next["login.token"] -= 1
                return True
        return False

    def clear_targeted(self) -> None:
        """Forget pending lose_next_response / fail_next_after_commit / hold_next_answer requests."""
        with self._lock:
            self._lose_next.clear()
            self._fail_next.clear()
            self._hold_next.clear()

    def error_after_commit(self, route: str, method: str) -> int | None:
        """503/504 for a committed write (targeted or by error_after_commit_rate), else None."""
        if method not in ("POST", "PATCH", "DELETE", "PUT"):
            return None
        with self._lock:
            keys = route_aliases(route) | {"write", "any"}
            for key in list(self._fail_next):
                kind, status = key.rsplit("|", 1)
                if kind.lower() in keys and self._fail_next[key] > 0:
                    self._fail_next[key] -= 1
                    return int(status)
            rate = self._faults.error_after_commit_rate
            if rate and self._rng.random() < rate:
                return 503 if self._rng.random() < 0.5 else 504
        return None

    def replication_delay(self) -> float:
        """Seconds a newly created object stays invisible."""
        f = self._faults
        if not f.replication_lag_ms:
            return 0.0
        with self._lock:
            ms = self._rng.uniform(0, f.replication_lag_ms) if f.replication_lag_random else f.replication_lag_ms
        return ms / 1000.0

    def replica_session(self, claims: dict[str, Any]) -> str | None:
        """The logical session a Graph request with these token claims is served for, or None when it
        sees only replicated state (the global model, app-only tokens, or a request that lost affinity).

        A session is one signed-in user in one tenant (`tid` + `oid` of a delegated token): the
        scope of "delegated access (app + user)" in Microsoft's eventual-consistency guidance. App-only
        callers get no session - their requests "may land on different replicas" - and neither does
        the token service (auth_endpoints.py), which is another principal altogether.
        """
        f = self._faults
        if f.stale_lookups or f.replication_model != "session" or "scp" not in claims or not claims.get("oid"):
            return None
        if f.affinity_loss_rate:
            with self._lock:
                if self._rng.random() < f.affinity_loss_rate:
                    return None  # served by another datacenter: a separate, empty logical session
        return f"{claims.get('tid')}/{claims['oid']}"

    def rate_limited(self, tenant_id: str) -> bool:
        """True when this request would exceed the tenant's request rate (sliding 1 s window), or
        is one of the first `throttle_first` requests of a tenant singled out for throttling.
        Graph's identity limits are per app and tenant, so one tenant's 429s say nothing about
        another's: https://learn.microsoft.com/en-us/graph/throttling-limits"""
        budget = self._faults.throttle_first.get(tenant_id.lower())
        if budget:
            with self._lock:
                used = self._throttled.get(tenant_id.lower(), 0)
                if used < budget:
                    self._throttled[tenant_id.lower()] = used + 1
                    return True
        rps = self._faults.tenant_rps
        if rps is None:
            return False
        now = clock.monotonic()
        with self._lock:
            window = self._windows.setdefault(tenant_id, deque())
            while window and now - window[0] > 1.0:
                window.popleft()
            if len(window) >= rps:
                return True
            window.append(now)
            return False

    def roll_transient(self) -> int | None:
        """429, 503 or 504 for this request according to the configured rates, else None."""
        f = self._faults
        if not f.throttle_rate and not f.server_error_rate:
            return None
        with self._lock:
            x = self._rng.random()
            if x < f.throttle_rate:
                return 429
            if x < f.throttle_rate + f.server_error_rate:
                return 503 if self._rng.random() < 0.5 else 504
        return None

    def should_lose(self, route: str, method: str) -> bool:
        """Whether to drop the response of a committed request."""
        write = method in ("POST", "PATCH", "DELETE", "PUT")
        with self._lock:
            keys = route_aliases(route) | ({"write"} if write else set()) | {"any"}
            for key in list(self._lose_next):
                if key.lower() in keys and self._lose_next[key] > 0:
                    self._lose_next[key] -= 1
                    return True
            if write and self._faults.lost_response_rate:
                return self._rng.random() < self._faults.lost_response_rate
        return False


_CRUD = {"create", "list", "get", "update", "delete"}


def route_aliases(route: str) -> set[str]:
    """Lower-case names a targeted fault may use for a route.

    "servicePrincipals.create" -> {"serviceprincipals.create", "createserviceprincipal",
    "createserviceprincipals"}; "applications.addPassword" -> {..., "addpassword"}.
    """
    names = {route.lower()}
    if "." in route:
        noun, verb = route.split(".", 1)
        if verb not in _CRUD:
            names.add(verb.lower())
        singular = noun[:-1] if noun.endswith("s") else noun
        names.update({f"{verb}{noun}".lower(), f"{verb}{singular}".lower()})
    return names
