"""Operations shared by the Python API and the `/_sim/` control endpoints (for another process)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .aad import AadError, resource_service_principal
from .consent import client_app, record_consent
from .core import SignInOverride, SimulatorCore
from .faults import Faults


class ControlError(LookupError):
    """A control request named something that does not exist."""


def dump_tenant(core: SimulatorCore, name: str) -> dict[str, Any]:
    """State dump of one tenant (by id or domain)."""
    with core.lock:
        t = core.directory.resolve(name)
        if t is None:
            raise ControlError(f"unknown tenant {name!r}")
        return t.dump()


def approve_device_code(core: SimulatorCore, user_code: str, upn: str) -> None:
    """Approve a pending device code as `upn` (as if the user signed in at the verification page)."""
    with core.lock:
        dc = core.device_code_by_user_code(user_code)
        if dc is None:
            raise ControlError(f"unknown user code {user_code!r}")
        user = core.directory.user_by_upn(upn)
        if user is None:
            raise ControlError(f"unknown user {upn!r}")
        dc.user, dc.status = user, "approved"


def grant_consent(core: SimulatorCore, tenant: str, client_id: str, scopes: list[str],
                  resource: str = "https://graph.microsoft.com") -> None:
    """An admin consented `client_id` for the organization before (as at an earlier interactive sign-in):
    its service principal and an AllPrincipals grant of `scopes` on `resource` (consent.py)."""
    with core.lock:
        t = core.directory.resolve(tenant)
        if t is None:
            raise ControlError(f"unknown tenant {tenant!r}")
        try:
            client = client_app(core.directory, client_id, t)
            record_consent(t, client, resource_service_principal(t, resource), set(scopes))
        except AadError as exc:
            raise ControlError(exc.description) from None


def decline_device_code(core: SimulatorCore, user_code: str) -> None:
    """Decline a pending device code (the user cancelled at the verification page)."""
    with core.lock:
        dc = core.device_code_by_user_code(user_code)
        if dc is None:
            raise ControlError(f"unknown user code {user_code!r}")
        dc.status = "declined"


def set_sign_in(core: SimulatorCore, tenant: str | None = None, user: str | None = None, *, decline: bool = False,
                expire: bool = False, manual: bool = False) -> None:
    """How the next device codes of `tenant` (None: the default for all) are answered."""
    with core.lock:
        key = None
        if tenant is not None:
            t = core.directory.resolve(tenant)
            if t is None:
                raise ControlError(f"unknown tenant {tenant!r}")
            key = t.id
        if user is not None and core.directory.user_by_upn(user) is None:
            raise ControlError(f"unknown user {user!r}")
        core.sign_in_overrides[key] = SignInOverride(user=user, decline=decline, expire=expire, manual=manual)


# --- HTTP ---------------------------------------------------------------------------------------------
def _core(request: Request) -> SimulatorCore:
    return request.app.state.core


def _guard(fn):
    async def wrapper(request: Request) -> Response:
        try:
            return await fn(request, _core(request))
        except ControlError as e:
            return JSONResponse({"error": str(e)}, status_code=404)
        except (ValueError, TypeError) as e:
            return JSONResponse({"error": str(e)}, status_code=400)

    wrapper.__name__ = fn.__name__
    return wrapper


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    import json

    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


@_guard
async def info(request: Request, core: SimulatorCore) -> Response:
    """GET /_sim/info"""
    return JSONResponse(getattr(request.app.state, "info", {}))


@_guard
async def state(request: Request, core: SimulatorCore) -> Response:
    """GET /_sim/state - all tenants."""
    with core.lock:
        return JSONResponse({"tenants": {t.id: t.dump() for t in core.directory.tenants.values()}})


@_guard
async def tenant_state(request: Request, core: SimulatorCore) -> Response:
    """GET /_sim/state/{tenant}"""
    return JSONResponse(dump_tenant(core, request.path_params["tenant"]))


@_guard
async def requests_log(request: Request, core: SimulatorCore) -> Response:
    """GET /_sim/requests (DELETE clears)."""
    with core.lock:
        if request.method == "DELETE":
            core.request_log.clear()
            return Response(status_code=204)
        return JSONResponse([r.as_dict() for r in core.request_log])


@_guard
async def faults(request: Request, core: SimulatorCore) -> Response:
    """GET /_sim/faults; PUT replaces all knobs; PATCH changes the given ones."""
    if request.method == "PUT":
        core.faults.set(Faults.model_validate(await _body(request)))
    elif request.method == "PATCH":
        core.faults.set(Faults.model_validate(core.faults.faults.model_dump() | await _body(request)))
    return JSONResponse(core.faults.faults.model_dump())


@_guard
async def lose_next(request: Request, core: SimulatorCore) -> Response:
    """POST /_sim/faults/lose-next-response {"kind": "write", "count": 1}"""
    b = await _body(request)
    core.faults.lose_next_response(str(b.get("kind", "write")), int(b.get("count", 1)))
    return Response(status_code=204)


@_guard
async def device_codes(request: Request, core: SimulatorCore) -> Response:
    """GET /_sim/device-codes - pending device codes."""
    with core.lock:
        return JSONResponse([d.public() for d in core.device_codes.values()])


@_guard
async def approve(request: Request, core: SimulatorCore) -> Response:
    """POST /_sim/device-codes/{user_code}/approve {"upn": ...}"""
    b = await _body(request)
    approve_device_code(core, request.path_params["user_code"], str(b.get("upn", "")))
    return Response(status_code=204)


@_guard
async def decline(request: Request, core: SimulatorCore) -> Response:
    """POST /_sim/device-codes/{user_code}/decline"""
    decline_device_code(core, request.path_params["user_code"])
    return Response(status_code=204)


@_guard
async def sign_in(request: Request, core: SimulatorCore) -> Response:
    """POST /_sim/sign-in {"tenant", "user", "decline", "expire", "manual"}"""
    b = await _body(request)
    set_sign_in(core, b.get("tenant"), b.get("user"), decline=bool(b.get("decline")),
                expire=bool(b.get("expire")), manual=bool(b.get("manual")))
    return Response(status_code=204)


@_guard
async def reset(request: Request, core: SimulatorCore) -> Response:
    """POST /_sim/reset - back to the scenario's initial state."""
    core.reset()
    return Response(status_code=204)


ROUTES = [
    Route("/_sim/info", info, methods=["GET"]),
    Route("/_sim/state", state, methods=["GET"]),
    Route("/_sim/state/{tenant}", tenant_state, methods=["GET"]),
    Route("/_sim/requests", requests_log, methods=["GET", "DELETE"]),
    Route("/_sim/faults", faults, methods=["GET", "PUT", "PATCH"]),
    Route("/_sim/faults/lose-next-response", lose_next, methods=["POST"]),
    Route("/_sim/device-codes", device_codes, methods=["GET"]),
    Route("/_sim/device-codes/{user_code}/approve", approve, methods=["POST"]),
    Route("/_sim/device-codes/{user_code}/decline", decline, methods=["POST"]),
    Route("/_sim/sign-in", sign_in, methods=["POST"]),
    Route("/_sim/reset", reset, methods=["POST"]),
]
