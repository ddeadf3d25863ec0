"""Graph request IDs of one run, for the audit record.

Every Graph response carries a `request-id` header, the identifier Microsoft support asks for.
An httpx response hook (installed by client.build_graph_client) appends it to the list of the
run in progress; the list lives in a ContextVar so concurrent tenants (bulk) keep their own.
Errors carry theirs as well (GraphError.request_id).
https://learn.microsoft.com/en-us/graph/errors#http-status-codes
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import httpx

_current: ContextVar[list[str] | None] = ContextVar("kodo_graph_request_ids", default=None)


@contextmanager
def collect_request_ids() -> Iterator[list[str]]:
    """Collect the request IDs of every Graph response inside the block (and its tasks)."""
    ids: list[str] = []
    token = _current.set(ids)
    try:
        yield ids
    finally:
        _current.reset(token)


async def record_request_id(response: httpx.Response) -> None:
    """httpx response hook: remember the response's request-id for the current run, if any."""
    ids = _current.get()
    request_id = response.headers.get("request-id")
    if ids is not None and request_id and request_id not in ids:
        ids.append(request_id)


def start_collecting() -> list[str]:
    """Like collect_request_ids, for a coroutine that owns its task's context (onboard_tenant)."""
    ids: list[str] = []
    _current.set(ids)
    return ids
