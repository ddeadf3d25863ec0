"""The ASGI application: one port, routed by path.

`/v1.0/...` and `/beta/...` are Microsoft Graph, `/v1/...` Partner Center, `/_sim/...` the control API,
everything else the login authority (`/{tenant}/...`). Repeated slashes are collapsed because msgraph-sdk with a custom
httpx client sends `/v1.0//applications` (graph-facts §1).
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect
from starlette.routing import Route

from . import auth_endpoints, clock, control, ews, partner_center
from .core import RequestRecord, SimulatorCore
from .graph.common import GraphRequest
from .graph.service import GraphService

_GRAPH = re.compile(r"^/(v1\.0|beta)(/.*)?$")
_PARTNER_CENTER = re.compile(r"^/v1/")
_SLASHES = re.compile(r"/{2,}")
_JSON = b"application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8"


class LostResponse(Exception):
    """Raised after a committed write to make uvicorn drop the connection mid-response."""


async def _break_off(msg: dict[str, Any], send: Any) -> None:
    """Answer with a head that announces more than is sent, half the body, then drop the connection."""
    if msg["type"] == "http.response.start":
        headers = [h for h in msg["headers"] if h[0].lower() != b"content-length"]
        await send({**msg, "headers": [*headers, (b"content-length", b"100000")]})
        return
    body = msg.get("body", b"")
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    raise LostResponse("token answer broken off")


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            break
        chunks.append(msg.get("body", b""))
        if not msg.get("more_body"):
            break
    return b"".join(chunks)


def _login_error(body: bytes) -> str | None:
    """"invalid_grant (AADSTS50020)" from an Entra error body, for the request log."""
    try:
        data = json.loads(body)
        codes = data.get("error_codes") or []
        return f"{data['error']} (AADSTS{codes[0]})" if codes else str(data["error"])
    except (ValueError, KeyError, TypeError):
        return None


class SimulatorApp:
    """ASGI callable serving login, Graph and control on one origin."""

    def __init__(self, core: SimulatorCore, info: dict[str, Any] | None = None) -> None:
        self.core = core
        self.graph = GraphService(core)
        self.web = Starlette(routes=[*control.ROUTES, *auth_endpoints.ROUTES,
                                     Route("/{path:path}", auth_endpoints.not_found,
                                           methods=["GET", "POST", "PUT", "PATCH", "DELETE"])])
        self.web.state.core = core
        self.web.state.info = info if info is not None else {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        self.core.in_flight += 1  # a request being handled (tests wait for a killed client's to finish)
        try:
            await self._dispatch(scope, receive, send)
        finally:
            self.core.in_flight -= 1

    async def _dispatch(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = _SLASHES.sub("/", scope["path"])
        if path != scope["path"]:
            scope = dict(scope, path=path, raw_path=path.encode())
        m = _GRAPH.match(path)
        if m:
            await self._graph(scope, receive, send, m.group(1), m.group(2) or "/")
        elif _PARTNER_CENTER.match(path):
            await self._partner_center(scope, receive, send, path)
        elif path.lower() == ews.EWS_PATH and scope["method"] == "POST":
            await self._ews(scope, receive, send, path)
        elif path.startswith("/_sim/"):
            await self.web(scope, receive, send)
        else:
            await self._login(scope, receive, send, path)

    async def _login(self, scope: dict[str, Any], receive: Any, send: Any, path: str) -> None:
        start = clock.time_s()
        status: dict[str, Any] = {"code": 0, "body": b""}
        seg = path.split("/")[1] if path.count("/") >= 1 else ""
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        with self.core.lock:
            t = self.core.directory.resolve(seg) if seg else None

        lose = path.endswith("/oauth2/v2.0/token") and self.core.faults.should_lose_token_answer()

        async def capture(msg: dict[str, Any]) -> None:
            if lose:
                await _break_off(msg, send)  # raises once the half body is out
                return
            if msg["type"] == "http.response.start":
                status["code"] = msg["status"]
            elif msg["type"] == "http.response.body":
                if status["code"] >= 400:
                    status["body"] += msg.get("body", b"")
                if not msg.get("more_body"):
                    # Log before the last byte leaves, so a client that got its answer sees the record.
                    self.core.log(RequestRecord(
                        method=scope["method"], path=path, host=host, kind="login", status=status["code"],
                        start=start, end=clock.time_s(), request_id="", tenant_id=t.id if t else None,
                        error_code=_login_error(status["body"]) if status["code"] >= 400 else None,
                        scopes=(scope.get("state") or {}).get("kodo_scopes"),
                    ))
            await send(msg)

        try:
            await self.web(scope, receive, capture)
        except LostResponse:
            self.core.log(RequestRecord(method=scope["method"], path=path, host=host, kind="login", status=0,
                                        start=start, end=clock.time_s(), request_id="",
                                        tenant_id=t.id if t else None, error_code="LostResponse"))
            raise
        except ClientDisconnect:
            # The client went away mid-request (the soak SIGKILLs the CLI): nobody to answer, and
            # nothing for the server log; like Entra, the half-received request has no effect.
            return

    async def _partner_center(self, scope: dict[str, Any], receive: Any, send: Any, path: str) -> None:
        """Partner Center (partner_center.py): JSON in, JSON out, logged as kind "partner"."""
        start = clock.time_s()
        body = await _read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        latency = self.core.faults.faults.latency_ms
        if latency:
            await asyncio.sleep(latency / 1000.0)
        with self.core.lock:
            status, answer, tenant_id = partner_center.handle(self.core, scope["method"], path, query, headers, body)
        payload = json.dumps(answer).encode() if answer is not None else b""
        out = [(b"content-length", str(len(payload)).encode())]
        if answer is not None:
            out.append((b"content-type", b"application/json; charset=utf-8"))
        self.core.log(RequestRecord(
            method=scope["method"], path=path, host=headers.get("host", ""), kind="partner", status=status,
            start=start, end=clock.time_s(), request_id="", tenant_id=tenant_id,
            error_code=str(answer.get("code")) if status >= 400 and isinstance(answer, dict) else None))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": payload})

    async def _ews(self, scope: dict[str, Any], receive: Any, send: Any, path: str) -> None:
        """Exchange Web Services (ews.py): SOAP in, SOAP out, logged as kind "ews"."""
        start = clock.time_s()
        body = await _read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        with self.core.lock:
            status, extra, payload, tenant_id = ews.handle(self.core, headers, body)
        out = [(b"content-length", str(len(payload)).encode())]
        if payload:
            out.append((b"content-type", b"text/xml; charset=utf-8"))
        out += [(k.encode(), v.encode()) for k, v in extra.items()]
        self.core.log(RequestRecord(
            method=scope["method"], path=path, host=headers.get("host", ""), kind="ews", status=status,
            start=start, end=clock.time_s(), request_id="", tenant_id=tenant_id, error_code=None))
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": payload})

    async def _graph(self, scope: dict[str, Any], receive: Any, send: Any, version: str, sub: str) -> None:
        start = clock.time_s()
        body = await _read_body(receive)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        req = GraphRequest(
            method=scope["method"],
            path=sub.rstrip("/") or "/",
            query=dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)),
            headers=headers,
            body=body,
            base_url=f"https://{host}/{version}",
        )
        latency = self.core.faults.faults.latency_ms
        if latency:
            await asyncio.sleep(latency / 1000.0)
        with self.core.lock:
            outcome = self.graph.handle(req, host)
        resp = outcome.response
        slow = self.core.faults.answer_delay_ms(outcome.route, req.method)
        if slow:
            await asyncio.sleep(slow / 1000.0)  # committed; the gateway answers late
        payload = json.dumps(resp.body, separators=(",", ":")).encode() if resp.body is not None else b""
        out_headers = [(b"request-id", req.request_id.encode()),
                       (b"client-request-id", headers.get("client-request-id", req.request_id).encode()),
                       (b"content-length", str(len(payload)).encode())]
        if resp.body is not None:
            out_headers.append((b"content-type", _JSON))
        out_headers += [(k.lower().encode(), str(v).encode()) for k, v in resp.headers.items()]
        body_err = resp.body.get("error", {}) if isinstance(resp.body, dict) else {}
        self.core.log(RequestRecord(
            method=req.method, path=req.path, host=host, kind="graph", status=resp.status, start=start,
            end=clock.time_s(), request_id=req.request_id, tenant_id=outcome.tenant_id, in_batch=False,
            route=outcome.route, error_code="LostResponse" if outcome.lose else body_err.get("code"),
        ))
        if outcome.lose:
            # The write is committed; the client sees the connection drop mid-body (a transport error).
            # Announce more bytes than we send so that even a 204 cannot look complete.
            lying = [h for h in out_headers if h[0] != b"content-length"]
            lying.append((b"content-length", str(len(payload) + 16).encode()))
            status = 200 if resp.status in (204, 304) else resp.status
            await send({"type": "http.response.start", "status": status, "headers": lying})
            await send({"type": "http.response.body", "body": payload[: len(payload) // 2], "more_body": True})
            raise LostResponse(f"{req.method} {req.path}")
        await send({"type": "http.response.start", "status": resp.status, "headers": out_headers})
        await send({"type": "http.response.body", "body": payload})
