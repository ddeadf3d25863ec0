"""The Python API: start a simulator in-process, inspect and steer it, stop it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from . import control
from .app import SimulatorApp
from .core import RequestRecord, SimulatorCore
from .faults import Faults
from .scenario import Scenario
from .server import ServerThread
from .tls import create_tls_material


class TenantHandle:
    """A live view of one simulated tenant."""

    def __init__(self, core: SimulatorCore, name: str) -> None:
        with core.lock:
            t = core.directory.resolve(name)
            if t is None:
                raise KeyError(f"unknown tenant {name!r}")
            self.id = t.id
            self.domain = t.default_domain
        self._core = core

    def dump(self) -> dict[str, Any]:
        """applications, servicePrincipals, appRoleAssignments, oauth2PermissionGrants, deletedItems, users."""
        return control.dump_tenant(self._core, self.id)

    def _remove(self, collection: str, object_id: str) -> None:
        with self._core.lock:
            t = self._core.directory.tenants[self.id]
            store = getattr(t, collection)
            if object_id not in store:
                raise KeyError(f"no {collection} object {object_id!r} in {self.domain}")
            if collection == "service_principals":
                from .graph.service_principals import remove_sp

                remove_sp(t, store[object_id])
            else:
                del store[object_id]

    def delete_app_role_assignment(self, assignment_id: str) -> None:
        """Remove an app role assignment behind the product's back (drift)."""
        self._remove("assignments", assignment_id)

    def delete_oauth2_permission_grant(self, grant_id: str) -> None:
        """Remove a delegated permission grant (drift)."""
        self._remove("grants", grant_id)

    def delete_service_principal(self, sp_id: str) -> None:
        """Remove a service principal and what references it (drift)."""
        self._remove("service_principals", sp_id)

    def delete_application(self, app_id: str) -> None:
        """Hard-delete an application object by object id (drift)."""
        self._remove("applications", app_id)


class Simulator:
    """A local Entra ID + Microsoft Graph over TLS on 127.0.0.1.

    >>> with Simulator() as sim:
    ...     sim.url, sim.ca_bundle_path, sim.proxy_url
    """

    def __init__(self, scenario: Scenario | None = None, faults: Faults | None = None, *, host: str = "127.0.0.1",
                 port: int = 0, proxy_port: int | None = 0, workdir: str | Path | None = None) -> None:
        self.scenario = scenario if scenario is not None else Scenario.default()
        self._host, self._port, self._proxy_port = host, port, proxy_port
        self._own_dir = workdir is None
        self._dir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="kodo-sim-"))
        self.core = SimulatorCore(self.scenario, faults)
        self._server: ServerThread | None = None

    # --- lifecycle ----------------------------------------------------------------------------------
    def start(self) -> Simulator:
        """Generate TLS material and keys, start the server thread; returns self."""
        if self._server is not None:
            return self
        self._dir.mkdir(parents=True, exist_ok=True)
        self._tls = create_tls_material(self._dir)
        info: dict[str, Any] = {}
        app = SimulatorApp(self.core, info)
        self._server = ServerThread(app, self._tls, self._host, self._port, self._proxy_port)
        info.update(url=self.url, proxy_url=self.proxy_url, ca_bundle_path=self.ca_bundle_path)
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop the server and remove the temporary TLS files."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._own_dir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- endpoints ----------------------------------------------------------------------------------
    def _running(self) -> ServerThread:
        if self._server is None:
            raise RuntimeError("the simulator is not started")
        return self._server

    @property
    def port(self) -> int:
        """TLS port (login + Graph + control)."""
        return self._running().port

    @property
    def url(self) -> str:
        """https://127.0.0.1:PORT - authority host and Graph endpoint (append /v1.0)."""
        return f"https://{self._host}:{self.port}"

    @property
    def graph_url(self) -> str:
        """The Graph v1.0 base URL."""
        return self.url + "/v1.0"

    @property
    def proxy_url(self) -> str | None:
        """http://127.0.0.1:PPORT - the CONNECT proxy for the real host names (None when disabled)."""
        p = self._running().proxy_port
        return f"http://{self._host}:{p}" if p else None

    @property
    def ca_bundle_path(self) -> str:
        """PEM file of the simulator CA (trust it in clients)."""
        self._running()
        return str(self._tls.ca_path)

    # --- inspection ---------------------------------------------------------------------------------
    def tenant(self, name: str) -> TenantHandle:
        """A tenant by id or domain."""
        return TenantHandle(self.core, name)

    @property
    def request_log(self) -> list[RequestRecord]:
        """A copy of the request log."""
        with self.core.lock:
            return list(self.core.request_log)

    def clear_request_log(self) -> None:
        """Forget logged requests."""
        with self.core.lock:
            self.core.request_log.clear()

    # --- steering -----------------------------------------------------------------------------------
    @property
    def faults(self) -> Faults:
        """The fault knobs in force."""
        return self.core.faults.faults

    def set_faults(self, faults: Faults | None = None, **changes: Any) -> None:
        """Replace the knobs (`faults`) and/or change some (`latency_ms=...`)."""
        base = faults if faults is not None else self.core.faults.faults
        self.core.faults.set(Faults.model_validate(base.model_dump() | changes))

    def lose_next_response(self, kind: str = "write", count: int = 1) -> None:
        """Commit the next matching Graph request(s) but drop the response (route name, "write" or "any")."""
        self.core.faults.lose_next_response(kind, count)

    def lose_next_token_answers(self, count: int = 1) -> None:
        """Break off the connection mid-answer for the next `count` token-endpoint requests."""
        self.core.faults.lose_next_token_answers(count)

    def fail_next_after_commit(self, kind: str = "write", count: int = 1, status: int = 503) -> None:
        """Commit the next matching Graph write(s) but answer 503/504 (route name, "write" or "any")."""
        self.core.faults.fail_next_after_commit(kind, count, status)

    def hold_next_answer(self, kind: str = "write", ms: int = 2_000, count: int = 1) -> None:
        """Commit the next matching Graph write(s) at once but answer `ms` later (a slow gateway)."""
        self.core.faults.hold_next_answer(kind, ms, count)

    def set_sign_in(self, tenant: str | None = None, user: str | None = None, *, decline: bool = False,
                    expire: bool = False, manual: bool = False) -> None:
        """How device codes of `tenant` are answered: as `user`, declined, expired, or manual approval."""
        control.set_sign_in(self.core, tenant, user, decline=decline, expire=expire, manual=manual)

    def approve_device_code(self, user_code: str, upn: str) -> None:
        """Approve a device code as `upn`."""
        control.approve_device_code(self.core, user_code, upn)

    def grant_consent(self, tenant: str, client_id: str, scopes: list[str],
                      resource: str = "https://graph.microsoft.com") -> None:
        """Record an earlier admin consent of `client_id` in `tenant` (e.g. Graph CLI Tools consented
        last year), so a user who may not consent can still get a token with those scopes."""
        control.grant_consent(self.core, tenant, client_id, scopes, resource)

    def decline_device_code(self, user_code: str) -> None:
        """Decline a device code."""
        control.decline_device_code(self.core, user_code)

    def pending_device_codes(self) -> list[dict[str, Any]]:
        """Device codes not yet redeemed."""
        with self.core.lock:
            return [d.public() for d in self.core.device_codes.values()]

    def settle_replication(self) -> None:
        """Make every object visible now, as if replication had caught up (tests need no sleeps)."""
        with self.core.lock:
            for t in self.core.directory.tenants.values():
                for store in (t.applications, t.service_principals, t.assignments, t.grants):
                    for obj in store.values():
                        obj.visible_at = 0.0
                        obj.previous = None

    def requests_in_flight(self) -> int:
        """HTTP requests the simulator is handling right now (e.g. a killed client's, still committing)."""
        return self.core.in_flight

    def update_tenant(self, tenant: str, **settings: Any) -> None:
        """Change a tenant's scenario settings while it runs, e.g. exchange={"ews_enabled": True} or
        sharepoint=False (validated like a scenario file; a mapping is merged into the current one, so
        exchange={"app_scope_excludes": [...]} keeps ews_enabled; reset() restores the scenario's)."""
        from .scenario import TenantSpec

        with self.core.lock:
            t = self.core.directory.resolve(tenant)
            if t is None:
                raise KeyError(tenant)
            current = t.spec.model_dump()
            merged = {k: current.get(k, {}) | v if isinstance(v, dict) and isinstance(current.get(k), dict) else v
                      for k, v in settings.items()}
            t.spec = TenantSpec.model_validate(current | merged)

    def reset(self) -> None:
        """Back to the scenario's initial tenants, faults and sign-in behaviour; clears the log."""
        self.core.reset()
