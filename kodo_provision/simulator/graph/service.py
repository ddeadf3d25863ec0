"""Graph request pipeline: authenticate, apply faults, route, and answer with Graph's error shapes."""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass

import jwt

from .. import clock
from ..catalogue import MICROSOFT_GRAPH_APP_ID, first_party_resources
from ..core import RequestRecord, SimulatorCore
from ..store import join_session
from . import applications, directory, gdap, grants, service_principals, workloads  # noqa: F401 - register routes
from .batch import run_batch
from .common import Ctx, GraphError, GraphRequest, GraphResponse
from .router import dispatch, match

_log = logging.getLogger(__name__)

_WWW_AUTH = ('Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
             f'client_id="{MICROSOFT_GRAPH_APP_ID}"')


def _graph_audiences() -> set[str]:
    names = first_party_resources()[MICROSOFT_GRAPH_APP_ID].service_principal_names
    return {n.lower().rstrip("/") for n in names}


_AUDIENCES = _graph_audiences()


@dataclass
class Outcome:
    """A finished Graph request: the response plus what the log needs."""

    response: GraphResponse
    route: str | None
    tenant_id: str | None
    lose: bool = False


def _unauthorized(message: str) -> GraphError:
    # https://learn.microsoft.com/en-us/graph/resolve-auth-errors (401 InvalidAuthenticationToken)
    return GraphError(401, "InvalidAuthenticationToken", message, {"WWW-Authenticate": _WWW_AUTH})


class GraphService:
    """Runs Graph requests against a SimulatorCore."""

    def __init__(self, core: SimulatorCore) -> None:
        self.core = core

    def authenticate(self, req: GraphRequest) -> dict:
        """Claims of the bearer token, or 401 as Graph answers it."""
        auth = req.headers.get("authorization", "")
        if not auth.lower().startswith("bearer ") or not auth[7:].strip():
            raise _unauthorized("Access token is empty.")
        token = auth[7:].strip()
        claims = self.core.issuer.verify(token)
        if claims is None:
            try:
                jwt.decode(token, options={"verify_signature": False})
            except jwt.ExpiredSignatureError as exc:
                raise _unauthorized("Lifetime validation failed, the token is expired.") from exc
            except jwt.PyJWTError as exc:
                raise _unauthorized("IDX14100: JWT is not well formed.") from exc
            raise _unauthorized("Access token validation failure. Invalid signature.")
        if str(claims.get("aud", "")).lower().rstrip("/") not in _AUDIENCES:
            raise _unauthorized("Access token validation failure. Invalid audience.")
        if claims.get("tid") not in self.core.directory.tenants:
            raise _unauthorized("Access token validation failure. Invalid issuer or tenant.")
        return claims

    def handle(self, req: GraphRequest, host: str) -> Outcome:
        """Answer one top-level Graph request (the caller holds core.lock).

        It runs in a context of its own: the logical session it joins (replication model, store.py)
        ends with it, and $batch items share their outer request's session."""
        return contextvars.copy_context().run(self._handle, req, host)

    def _handle(self, req: GraphRequest, host: str) -> Outcome:
        core = self.core
        client_rid = req.headers.get("client-request-id")
        route_name: str | None = None
        tenant_id: str | None = None
        batch_lost = False
        try:
            # Graph rejects a path it cannot parse before looking at the token.
            r, params = match(req.method, req.path) if req.path != "/$batch" else (None, {})
            claims = self.authenticate(req)
            tenant_id = claims["tid"]
            join_session(core.faults.replica_session(claims))
            if core.faults.rate_limited(tenant_id):
                raise _throttled(core.faults.faults.retry_after_s)
            if req.method == "POST" and req.path == "/$batch":
                route_name = "$batch"
                tenant = core.directory.tenants[tenant_id]

                lost_items: list[bool] = []

                def item(sub: GraphRequest) -> GraphResponse:
                    sub_resp, route = self._run(sub, claims, tenant, host, in_batch=True)
                    if sub_resp.ok and route:
                        lost_items.append(core.faults.should_lose(route, sub.method))
                    return sub_resp

                resp = run_batch(req, item)
                # A targeted lost response of a write inside a batch drops the whole batch
                # response after every item committed: the client cannot tell which applied.
                batch_lost = any(lost_items)
            else:
                assert r is not None
                route_name = r.name
                transient = core.faults.roll_transient()
                if transient:
                    raise _transient(transient, core.faults.faults.retry_after_s)
                resp = dispatch(Ctx(core, core.directory.tenants[tenant_id], claims, req), r, params)
                resp = _after_commit(core, r.name, req.method, resp)
        except GraphError as e:
            resp = e.response(req.request_id, client_rid)
        except Exception:  # never a stack trace to the client: Graph-shaped 500
            _log.exception("simulator bug while handling %s %s", req.method, req.path)
            resp = GraphError(500, "InternalServerError", "An internal server error occurred.").response(
                req.request_id, client_rid)
        if route_name == "$batch":
            lose = resp.ok and batch_lost
        else:
            lose = resp.ok and route_name is not None and core.faults.should_lose(route_name, req.method)
        return Outcome(resp, route_name, tenant_id, lose)

    def _run(self, sub: GraphRequest, claims: dict, tenant, host: str,
             in_batch: bool) -> tuple[GraphResponse, str | None]:
        """One $batch item: same token and tenant, its own faults, logged with in_batch=True.
        Returns the response and the route name (for targeted faults)."""
        start = clock.time_s()
        route_name = None
        try:
            r, params = match(sub.method, sub.path)
            route_name = r.name
            transient = self.core.faults.roll_transient()
            if transient:
                raise _transient(transient, self.core.faults.faults.retry_after_s)
            resp = dispatch(Ctx(self.core, tenant, claims, sub), r, params)
            resp = _after_commit(self.core, r.name, sub.method, resp)
        except GraphError as e:
            resp = e.response(sub.request_id, sub.headers.get("client-request-id"))
        except Exception:
            _log.exception("simulator bug while handling batch item %s %s", sub.method, sub.path)
            resp = GraphError(500, "InternalServerError", "An internal server error occurred.").response(
                sub.request_id, None)
        resp.headers.setdefault("request-id", sub.request_id)
        self.core.log(RequestRecord(
            method=sub.method, path=sub.path, host=host, kind="graph", status=resp.status, start=start,
            end=clock.time_s(), request_id=sub.request_id, tenant_id=tenant.id, in_batch=in_batch, route=route_name,
            error_code=(resp.body or {}).get("error", {}).get("code") if not resp.ok else None,
        ))
        return resp, route_name


def _after_commit(core: SimulatorCore, route: str, method: str, resp: GraphResponse) -> GraphResponse:
    """A committed write answered 503/504 anyway (faults.error_after_commit): the client cannot tell it
    from a write that never happened. https://learn.microsoft.com/en-us/graph/errors"""
    if not resp.ok:
        return resp
    status = core.faults.error_after_commit(route, method)
    if status is None:
        return resp
    raise _transient(status, core.faults.faults.retry_after_s)


def _throttled(retry_after: int) -> GraphError:
    """429 as Graph sends it - https://learn.microsoft.com/en-us/graph/throttling"""
    return GraphError(429, "TooManyRequests", "Too many requests. Please retry after the time in Retry-After.",
                      {"Retry-After": str(retry_after)})


def _transient(status: int, retry_after: int) -> GraphError:
    if status == 429:
        return _throttled(retry_after)
    if status == 503:
        return GraphError(503, "serviceNotAvailable", "The service is temporarily unavailable. Please retry.",
                          {"Retry-After": str(retry_after)})
    return GraphError(504, "gatewayTimeout", "The gateway did not receive a timely response.")
