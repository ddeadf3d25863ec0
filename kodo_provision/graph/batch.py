"""JSON batching: up to 20 Graph requests in one round trip.
https://learn.microsoft.com/en-us/graph/json-batching

The SDK's BatchRequestContent has defects (graph-facts §2: `dependsOn` serialised as
`depends_on`, `new_batch_with_failed_requests` broken), so the envelope is built here from the
SDK's own RequestInformation objects (same URLs, headers and bodies as a direct call) and the
sub-responses are parsed back into SDK models.

Sub-responses fail one by one: a 429 or a replication-lag 404 inside a 200 batch is invisible
to any HTTP-level retry. Each call names its retry policy, and only the calls whose errors that
policy lists are sent again, in a smaller batch, after Retry-After or a backoff.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import structlog
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from kiota_serialization_json.json_parse_node import JsonParseNode
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from .. import environment
from .errors import GraphError, GraphNotFound, error_from_parts, parse_retry_after
from .retry import Policy, RetrySettings, jittered, matches_policy, run_with_policy

log = structlog.get_logger("kodo_provision.graph")
MAX_BATCH_SIZE = 20


@dataclass(frozen=True)
class JsonRequest:
    """A batch item written directly: method, URL relative to the service root, JSON body.
    For hot paths with per-tenant URLs and bodies (the grants): building and serialising SDK
    models plus expanding kiota's URI template costs ~0.4 ms of CPU per item, which bulk pays
    ten times per tenant."""

    method: str
    url: str
    body: dict[str, Any] | None = None


@dataclass
class BatchCall:
    """One request of a batch, with how to read its answer and which failures to retry."""

    operation: str
    request: RequestInformation | JsonRequest
    model: Any = None  # an SDK model class to parse the body into; None: the JSON as is
    policy: Policy = Policy.IDEMPOTENT
    missing_ok: bool = False  # a 404 means "absent" (value None), not an error


@dataclass
class BatchOutcome:
    status: int = 0
    value: Any = None
    error: GraphError | None = None

    def unwrap(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.value


_URLS: dict[tuple[Any, ...], str] = {}
_URLS_MAX = 4096


def _frozen(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return (type(value).__name__, str(value))


def _url_of(request: RequestInformation) -> str:
    """request.url, memoised: kiota expands the RFC 6570 template on every access (~0.8 ms of CPU
    each, the biggest single cost of a bulk run), and most items repeat across tenants (the
    overview's reads, resource lookups by appId, the app by uniqueName)."""
    key = (request.url_template,
           tuple(sorted((k, _frozen(v)) for k, v in request.path_parameters.items())),
           tuple(sorted((k, _frozen(v)) for k, v in request.query_parameters.items())))
    url = _URLS.get(key)
    if url is None:
        url = request.url
        if len(_URLS) >= _URLS_MAX:
            _URLS.clear()
        _URLS[key] = url
    return url


def _envelope_item(call: BatchCall, item_id: str, base_url: str) -> dict[str, Any]:
    request = call.request
    if isinstance(request, JsonRequest):
        direct: dict[str, Any] = {"id": item_id, "method": request.method, "url": request.url}
        if request.body is not None:
            direct["body"] = request.body
            direct["headers"] = {"Content-Type": "application/json"}
        return direct
    request.path_parameters["baseurl"] = base_url
    url = _url_of(request)
    relative = url[len(base_url):] if url.startswith(base_url) else url
    # msgraph rewrites /users/me-token-to-replace to /me in a middleware that batch items
    # never pass through (graph-facts §1), so do it here.
    relative = relative.replace("/users/me-token-to-replace", "/me", 1)
    method = request.http_method.value if request.http_method else "GET"
    item: dict[str, Any] = {"id": item_id, "method": method, "url": relative}
    headers = {name: ", ".join(sorted(values)) for name, values in request.headers.get_all().items()
               if values and name.lower() != "accept"}
    if request.content:
        item["body"] = json.loads(request.content)
        headers.setdefault("Content-Type", "application/json")
    if headers:
        item["headers"] = headers
    return item


def _parse(call: BatchCall, response: dict[str, Any]) -> BatchOutcome:
    status = int(response.get("status", 0))
    body = response.get("body")
    headers = {str(k).lower(): str(v) for k, v in (response.get("headers") or {}).items()}
    if 200 <= status < 300:
        value = body  # raw JSON unless an SDK model is asked for (see json_state.py for why)
        if call.model is not None and isinstance(body, dict):
            value = JsonParseNode(body).get_object_value(call.model)
        return BatchOutcome(status, value)
    error_body = (body or {}).get("error", {}) if isinstance(body, dict) else {}
    inner = error_body.get("innerError") or {}
    error = error_from_parts(call.operation, status, error_body.get("code"), error_body.get("message"),
                             inner.get("request-id") or headers.get("request-id"),
                             parse_retry_after(headers.get("retry-after")))
    if isinstance(error, GraphNotFound) and call.missing_ok:
        return BatchOutcome(status, None)
    return BatchOutcome(status, error=error)


async def _post(adapter: Any, items: list[dict[str, Any]], settings: RetrySettings, policy: Policy,
                operation: str, translate: Any) -> list[dict[str, Any]]:
    info = RequestInformation(Method.POST, "{+baseurl}/$batch", {})
    info.headers.try_add("Accept", "application/json")
    info.set_stream_content(json.dumps({"requests": items}).encode(), "application/json")

    async def send() -> bytes:
        return await adapter.send_primitive_async(info, "bytes", {"XXX": ODataError})

    raw = await run_with_policy(operation, policy, lambda: translate(operation, send), settings)
    return list(json.loads(raw or b"{}").get("responses", []))


async def run_batch(adapter: Any, calls: list[BatchCall], *, settings: RetrySettings, translate: Any,
                    outer_policy: Policy = Policy.IDEMPOTENT, label: str = "batch") -> list[BatchOutcome]:
    """Send `calls` in batches of ≤ 20; retry failed sub-requests under their own policies.

    `translate(operation, coroutine_fn)` maps SDK/transport exceptions of the outer POST to our
    error types (the gateway's translator), so the outer request obeys the same named policies.
    """
    outcomes: dict[int, BatchOutcome] = {}
    pending = list(range(len(calls)))
    clock = environment.clock()
    started = clock.monotonic()
    attempt = 0
    base_url = adapter.base_url
    while pending:
        attempt += 1
        chunks = [pending[i:i + MAX_BATCH_SIZE] for i in range(0, len(pending), MAX_BATCH_SIZE)]
        retry: list[int] = []
        waits: list[float] = []
        for chunk in chunks:
            items = [_envelope_item(calls[i], str(i), base_url) for i in chunk]
            responses = await _post(adapter, items, settings, outer_policy, label, translate)
            by_id = {str(r.get("id")): r for r in responses}
            for index in chunk:
                call = calls[index]
                response = by_id.get(str(index))
                outcome = _parse(call, response) if response else BatchOutcome(
                    0, error=GraphError(call.operation, None, None, "no response in the batch"))
                error = outcome.error
                budget = (settings.replication_budget_s if Policy.REPLICATION_LAG in call.policy
                          else settings.throttling_budget_s)
                if error is not None and matches_policy(call.policy, error) and \
                        clock.monotonic() - started < budget:
                    retry.append(index)
                    waits.append(error.retry_after if error.retry_after is not None else -1.0)
                    continue
                outcomes[index] = outcome
        pending = retry
        if pending:
            server_wait = max(waits)  # Retry-After when a sub-request had one, else the shared backoff
            wait = server_wait if server_wait >= 0 else jittered(settings.backoff_initial_s, settings.backoff_max_s,
                                                                  attempt)
            log.info("graph.batch_retry", batch=label, attempt=attempt, requests=len(pending),
                     wait_s=round(wait, 2))
            await clock.sleep(wait)
    return [outcomes[i] for i in range(len(calls))]
