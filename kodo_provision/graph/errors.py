"""Graph and transport failures translated into our own error types.

Only this package sees msgraph's ODataError and httpx's exceptions; everything above it
deals in GraphError subclasses, which carry the status, Graph's error code and message, and
the request-id Microsoft support asks for.
"""

from __future__ import annotations

import email.utils
import ssl
import time
from typing import Any
from urllib.parse import urlparse

import httpx
from kiota_abstractions.api_error import APIError

from ..errors import (
    ExitStatus,
    InsufficientPrivilegesError,
    KodoError,
    NetworkError,
    ProvisioningError,
)


class GraphError(ProvisioningError):
    """A Graph request that failed with an error response."""

    def __init__(self, operation: str, status: int | None, code: str | None, message: str | None,
                 request_id: str | None = None, retry_after: float | None = None,
                 hint: str | None = None) -> None:
        detail = f"HTTP {status} {code or ''}: {message or ''}".strip()
        if request_id:
            detail += f" [request-id {request_id}]"
        super().__init__(f"{operation} failed", detail=detail, hint=hint)
        self.operation = operation
        self.status = status
        self.code = code
        self.message = message or ""
        self.request_id = request_id
        self.retry_after = retry_after


class GraphThrottled(GraphError):
    """429, or 503/504 (service busy); retried under the throttling policy."""


class GraphNotFound(GraphError):
    """404; right after a create this is usually replication lag, not absence."""


class GraphBadRequest(GraphError):
    """400; some 400s are replication lag (see is_replication_lag)."""


class GraphConflict(GraphError):
    """The object already exists (409, or Graph's 400 'already exists' wording)."""


class GraphForbidden(GraphError, InsufficientPrivilegesError):
    """403 Authorization_RequestDenied: the signed-in user lacks a role or scope."""

    exit_status = ExitStatus.INSUFFICIENT_PRIVILEGES


class GraphUnauthorized(GraphError):
    """401: the token was refused."""


class TransientNetworkError(NetworkError):
    """The connection failed mid-request: the request may or may not have been applied."""


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    try:
        value = headers.get(name)
    except AttributeError:
        return None
    if value is None and isinstance(headers, dict):
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return value


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds, from either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


# Graph says "already exists" with a 400 for a duplicate app role assignment, with a 409 for a
# duplicate oauth2PermissionGrant, and with 400/409 "conflicting object" for a second SP.
# https://learn.microsoft.com/en-us/graph/api/serviceprincipal-post-approleassignedto
_ALREADY_EXISTS = ("already exists", "conflicting object", "MultipleObjectsWithSameKeyValue")


def from_api_error(operation: str, exc: APIError) -> GraphError:
    """Translate kiota's APIError/ODataError into our GraphError subclasses."""
    main = getattr(exc, "error", None)
    inner = getattr(main, "inner_error", None)
    return error_from_parts(
        operation, exc.response_status_code, getattr(main, "code", None),
        getattr(main, "message", None) or exc.message,
        getattr(inner, "request_id", None) or _header(exc.response_headers, "request-id"),
        parse_retry_after(_header(exc.response_headers, "retry-after")))


def error_from_parts(operation: str, status: int | None, code: str | None, message: str | None,
                     request_id: str | None, retry_after: float | None) -> GraphError:
    """The GraphError subclass for a status and Graph error code (direct or inside a $batch)."""
    text = f"{code or ''} {message or ''}"
    args = (operation, status, code, message, request_id, retry_after)
    if status in (429, 503, 504):
        return GraphThrottled(*args, hint="Graph is throttling; retried with its Retry-After until the budget ran out")
    if status == 403:
        return GraphForbidden(*args, hint="sign in as a Global Administrator or Privileged Role Administrator")
    if status == 401:
        return GraphUnauthorized(*args, hint="sign in again (kodo-provision login); the token was refused")
    if status == 409 or (status == 400 and any(m.lower() in text.lower() for m in _ALREADY_EXISTS)):
        return GraphConflict(*args)
    if status == 404:
        return GraphNotFound(*args)
    if status == 400:
        return GraphBadRequest(*args)
    return GraphError(*args)


# Replication lag right after a create: the new object is not yet visible to the replica
# that serves the next request. Graph answers 404 Request_ResourceNotFound, or 400 saying
# the app "does not reference a valid application object" (SP create), or that the principal
# or permission "was not found" (assignment on a fresh SP).
# https://devblogs.microsoft.com/identity/designing-for-eventual-consistency-for-microsoft-entra/
# For a grant whose client SP is not replicated yet, Graph says the clientId value is invalid.
_REPLICATION_400 = ("does not reference a valid application object", "was not found",
                    "does not exist", "Invalid object identifier", "Invalid value specified for property")


def is_replication_lag(exc: BaseException) -> bool:
    """True for the errors Graph gives while a just-created object replicates."""
    if isinstance(exc, GraphNotFound):
        return True
    return isinstance(exc, GraphBadRequest) and any(m in exc.message for m in _REPLICATION_400)


def from_transport_error(operation: str, exc: httpx.HTTPError, url: str | None = None) -> KodoError:
    """A one-line network error naming the host and the fix."""
    request = getattr(exc, "_request", None)
    host = urlparse(url).hostname if url else (request.url.host if request is not None else "the server")
    text = str(exc) or type(exc).__name__
    if "CERTIFICATE_VERIFY_FAILED" in text or isinstance(exc.__cause__, ssl.SSLError):
        return NetworkError(f"TLS certificate of {host} is not trusted", detail=text,
                            hint="behind a TLS-inspecting proxy pass --ca-bundle PATH (or set REQUESTS_CA_BUNDLE)")
    if isinstance(exc, httpx.ProxyError):
        return NetworkError(f"the proxy refused the connection to {host}", detail=text,
                            hint="check HTTPS_PROXY / NO_PROXY")
    if isinstance(exc, httpx.ConnectError):
        return NetworkError(f"cannot connect to {host}", detail=text,
                            hint="check the network, DNS, HTTPS_PROXY, or --graph-endpoint")
    if isinstance(exc, httpx.TimeoutException):
        return TransientNetworkError(f"{operation}: {host} did not answer in time", detail=text,
                                     hint="retry; check the network or proxy")
    return TransientNetworkError(f"{operation}: the connection to {host} failed", detail=text,
                                 hint="retry; the change may or may not have been applied")
