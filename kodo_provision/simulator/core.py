"""The simulator's state and services, independent of the HTTP layer.

Everything mutable lives here behind one lock: the ASGI handlers run on the server's event-loop
thread while tests and the `simulate` command call the Python API from other threads.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from .automation import seed_automation_apps
from .consent import seed_consents
from .faults import FaultEngine, Faults
from .scenario import Scenario
from .store import Directory, User
from .tokens import TokenIssuer

REQUEST_LOG_LIMIT = 100_000


@dataclass
class RequestRecord:
    """One entry of the request log."""

    method: str
    path: str
    host: str
    kind: str  # "graph" | "login" | "control"
    status: int
    start: float  # time.time()
    end: float
    request_id: str
    tenant_id: str | None = None
    in_batch: bool = False
    route: str | None = None
    error_code: str | None = None
    scopes: str | None = None  # a sign-in request's `scope` parameter, as the client sent it

    @property
    def duration_ms(self) -> float:
        """Wall time spent answering."""
        return (self.end - self.start) * 1000.0

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form (includes duration_ms)."""
        return asdict(self) | {"duration_ms": round(self.duration_ms, 3)}


@dataclass
class DeviceCode:
    """A pending device-code sign-in (https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-device-code)."""

    device_code: str
    user_code: str
    client_id: str
    authority_tenant: str  # as in the URL: a GUID, a domain, "organizations" or "common"
    tenant_id: str | None  # resolved tenant, None for organizations/common
    scopes: list[str]
    created: float
    expires_at: float
    interval: int
    status: str = "pending"  # pending | approved | declined | expired
    user: User | None = None
    polls: int = 0

    def public(self) -> dict[str, Any]:
        """What the control endpoint shows."""
        return {
            "user_code": self.user_code,
            "client_id": self.client_id,
            "tenant": self.authority_tenant,
            "scopes": self.scopes,
            "status": self.status,
            "user": self.user.upn if self.user else None,
            "expires_in": max(0, round(self.expires_at - time.time())),
        }


@dataclass
class SignInOverride:
    """How device codes of one tenant are answered (set_sign_in)."""

    user: str | None = None
    decline: bool = False
    expire: bool = False
    manual: bool = False  # do not auto-approve; wait for approve_device_code


@dataclass
class RefreshGrant:
    """What a refresh token stands for."""

    user: User
    client_id: str
    issued: float = field(default_factory=time.time)


class SimulatorCore:
    """State shared by the login endpoints, the Graph emulation and the Python API."""

    def __init__(self, scenario: Scenario, faults: Faults | None = None) -> None:
        self.scenario = scenario
        self._initial_faults = faults if faults is not None else scenario.faults
        self.lock = threading.RLock()
        self.in_flight = 0  # HTTP requests being handled right now (one event loop: no lock needed)
        self.issuer = TokenIssuer()
        self.faults = FaultEngine(self._initial_faults)
        self.reset()

    def reset(self) -> None:
        """Back to the scenario's initial state: tenants, faults, log, sign-ins."""
        with self.lock:
            self.directory = Directory(self.scenario)
            seed_automation_apps(self.directory, self.scenario)  # operators' own consented apps
            seed_consents(self.directory)  # delegated consents given before the scenario starts
            self.faults.set(self._initial_faults)
            self.faults.clear_targeted()
            # Bounded, so a long-running `simulate` under load does not grow without limit.
            self.request_log: deque[RequestRecord] = deque(maxlen=REQUEST_LOG_LIMIT)
            self.device_codes: dict[str, DeviceCode] = {}
            self.refresh_tokens: dict[str, RefreshGrant] = {}
            self.sign_in_overrides: dict[str | None, SignInOverride] = {}
            self.auth_codes: dict[str, Any] = {}  # authorization codes (auth_code.AuthCode)

    def log(self, record: RequestRecord) -> None:
        """Append to the request log."""
        with self.lock:
            self.request_log.append(record)

    def device_code_by_user_code(self, user_code: str) -> DeviceCode | None:
        """A device code by the code the user types."""
        with self.lock:
            return next((d for d in self.device_codes.values() if d.user_code == user_code.upper()), None)
