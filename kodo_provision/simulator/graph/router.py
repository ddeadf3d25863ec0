"""Route table of the Graph emulation: (method, path regex) -> handler, with a name for logs and faults."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .aliases import strip_tenant_alias
from .common import Ctx, GraphError, GraphResponse

Handler = Callable[..., GraphResponse]

# Path fragments for an object addressed by id or by alternate key, e.g.
# /applications/{id}, /applications(appId='...'), /applications(uniqueName='...').
# https://learn.microsoft.com/en-us/graph/api/application-get ; .../application-upsert
APP_REF = r"/applications(?:/(?P<id>[^/()']+)|\((?P<key>appId|uniqueName)='(?P<val>[^']*)'\))"
SP_REF = r"/servicePrincipals(?:/(?P<id>[^/()']+)|\((?P<key>appId)='(?P<val>[^']*)'\))"

_KNOWN_ROOTS = {
    "applications", "servicePrincipals", "oauth2PermissionGrants", "organization", "me", "directory",
    "policies", "$batch", "users", "sites", "admin",
}


@dataclass(frozen=True)
class Route:
    """One Graph operation."""

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    name: str


ROUTES: list[Route] = []


def route(method: str, pattern: str, name: str) -> Callable[[Handler], Handler]:
    """Register a handler for `method` on paths fully matching `pattern`."""

    def deco(fn: Handler) -> Handler:
        ROUTES.append(Route(method, re.compile(pattern), fn, name))
        return fn

    return deco


def match(method: str, path: str) -> tuple[Route, dict[str, Any]]:
    """The route for a request, or a GraphError as Graph answers unknown paths and methods."""
    path = strip_tenant_alias(path)
    method_mismatch = False
    for r in ROUTES:
        m = r.pattern.fullmatch(path)
        if m:
            if r.method == method:
                return r, m.groupdict()
            method_mismatch = True
    if method_mismatch:
        raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
    raise unknown_segment(path)


def unknown_segment(path: str) -> GraphError:
    """Graph answers an unknown path with 400 BadRequest naming the first segment it could not resolve.

    e.g. GET /v1.0/foo -> 400 {"error":{"code":"BadRequest","message":"Resource not found for the segment 'foo'."}}
    (https://learn.microsoft.com/en-us/graph/errors lists 400 BadRequest for malformed requests)
    """
    segments = [s for s in path.split("/") if s]
    if not segments:
        seg = ""
    elif segments[0].split("(")[0] not in _KNOWN_ROOTS:
        seg = segments[0]
    else:
        seg = segments[-1]
    return GraphError(400, "BadRequest", f"Resource not found for the segment '{seg}'.")


def dispatch(ctx: Ctx, route_: Route, params: dict[str, Any]) -> GraphResponse:
    """Run a matched handler."""
    return route_.handler(ctx, **params)
