"""JSON batching: POST /$batch with up to 20 requests, `dependsOn` ordering, per-item status.

https://learn.microsoft.com/en-us/graph/json-batching
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from .common import GraphError, GraphRequest, GraphResponse, bad_request

MAX_BATCH = 20
_VERSION = re.compile(r"^/(v1\.0|beta)(?=/|$)")


def _sub_request(outer: GraphRequest, item: dict[str, Any]) -> GraphRequest:
    url = str(item.get("url") or "")
    parts = urlsplit(url)
    # Graph wants URLs relative to the version ("/me"); msgraph-sdk sends absolute ones (graph-facts §2).
    path = parts.path if parts.scheme else "/" + parts.path.lstrip("/")
    path = re.sub(r"/{2,}", "/", _VERSION.sub("", path)) or "/"
    headers = {k.lower(): str(v) for k, v in (item.get("headers") or {}).items()}
    headers.setdefault("authorization", outer.headers.get("authorization", ""))
    body = item.get("body")
    raw = json.dumps(body).encode() if body is not None and not isinstance(body, str) else (body or "").encode()
    return GraphRequest(
        method=str(item.get("method") or "GET").upper(),
        path=path,
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
        headers=headers,
        body=raw,
        base_url=outer.base_url,
    )


def run_batch(outer: GraphRequest, handle_item: Callable[[GraphRequest], GraphResponse]) -> GraphResponse:
    """Validate the batch and run each item through `handle_item`, honouring `dependsOn`.

    An item whose dependency failed is answered 424 Failed Dependency, as Graph does.
    """
    payload = outer.json()
    items = payload.get("requests") if isinstance(payload, dict) else None
    if not isinstance(items, list) or not items:
        raise bad_request("Invalid batch payload format.", code="BadRequest")
    if len(items) > MAX_BATCH:
        raise bad_request(f"The number of batch requests exceeds the limit of {MAX_BATCH}.", code="BadRequest")
    ids = [str(i.get("id", "")) for i in items]
    if "" in ids or len(set(ids)) != len(ids):
        raise bad_request("Batch request ids must be present and unique.", code="BadRequest")
    for i in items:
        deps = i.get("dependsOn") or []
        if any(str(d) not in ids for d in deps):
            raise bad_request("Batch request dependsOn refers to an unknown request id.", code="BadRequest")
        if "$batch" in str(i.get("url", "")):
            raise bad_request("Nested batch requests are not supported.", code="BadRequest")

    done: dict[str, int] = {}
    responses: list[dict[str, Any]] = []
    pending = list(items)
    while pending:
        # Request order, except that an item waits for everything it depends on.
        item = next((i for i in pending if all(str(d) in done for d in i.get("dependsOn") or [])), None)
        if item is None:
            raise bad_request("Batch request dependsOn forms a cycle.", code="BadRequest")
        if True:
            pending.remove(item)
            iid = str(item["id"])
            failed = [d for d in item.get("dependsOn") or [] if not 200 <= done[str(d)] < 300]
            if failed:
                resp = GraphError(424, "FailedDependency", "Failed dependency.").response(outer.request_id, None)
            else:
                resp = handle_item(_sub_request(outer, item))
            done[iid] = resp.status
            headers = dict(resp.headers)
            if resp.body is not None:
                headers.setdefault("Content-Type", "application/json")
            entry: dict[str, Any] = {"id": iid, "status": resp.status, "headers": headers}
            if resp.body is not None:
                entry["body"] = resp.body
            responses.append(entry)
    return GraphResponse(200, {"responses": responses})
