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

from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from kiota_serialization_json.json_parse_node import JsonParseNode
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from .. import environment
from ..output.logging import get_logger
from .errors import GraphError, GraphNotFound, error_from_parts, is_replication_lag, parse_retry_after
from .retry import Policy, RetrySettings, jittered, matches_policy, run_with_policy

log = get_logger("kodo_provision.graph")
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
    info.url = f"{adapter.base_url}/$batch"  # a fixed URL: kiota would expand the template three times a send
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

    While every failure of a round is replication lag (the new service principal is not visible yet),
    the next round sends one of the waiting calls as a probe and holds the others back: they wait for
    the same object, and resending all of them every second under a 30 s lag cost ~40 requests per
    grant (https://learn.microsoft.com/en-us/graph/throttling: fewer requests, less throttling).
    """
    rounds = _Rounds(adapter, calls, settings, translate, outer_policy, label)
    pending = list(range(len(calls)))
    attempt = 0
    probing = False
    while pending:
        attempt += 1
        sending, held = (pending[:1], pending[1:]) if probing else (pending, [])
        retry, waits, lag_only = await rounds.send(sending)
        pending = sorted(retry + held)
        probing = lag_only and len(pending) > 1
        if retry:
            server_wait = max(waits)  # Retry-After when a sub-request had one, else the shared backoff
            wait = server_wait if server_wait >= 0 else jittered(settings.backoff_initial_s, settings.backoff_max_s,
                                                                  attempt)
            log.info("graph.batch_retry", batch=label, attempt=attempt, requests=len(pending),
                     wait_s=round(wait, 2))
            await environment.clock().sleep(wait)
    return [rounds.outcomes[i] for i in range(len(calls))]


class _Rounds:
    """One batch's calls, their final outcomes, and how to send a round of the ones still pending."""

    def __init__(self, adapter: Any, calls: list[BatchCall], settings: RetrySettings, translate: Any,
                 outer_policy: Policy, label: str) -> None:
        self.adapter, self.calls, self.settings = adapter, calls, settings
        self.translate, self.outer_policy, self.label = translate, outer_policy, label
        self.outcomes: dict[int, BatchOutcome] = {}
        self.clock = environment.clock()
        self.started = self.clock.monotonic()

    async def send(self, indexes: list[int]) -> tuple[list[int], list[float], bool]:
        """Send these calls (≤ 20 per request). Returns the ones to retry, their Retry-After (-1: none),
        and whether every retried failure was replication lag."""
        retry: list[int] = []
        waits: list[float] = []
        lag_only = True
        base_url = self.adapter.base_url
        for chunk in [indexes[i:i + MAX_BATCH_SIZE] for i in range(0, len(indexes), MAX_BATCH_SIZE)]:
            items = [_envelope_item(self.calls[i], str(i), base_url) for i in chunk]
            responses = await _post(self.adapter, items, self.settings, self.outer_policy, self.label, self.translate)
            by_id = {str(r.get("id")): r for r in responses}
            for index in chunk:
                outcome = self._outcome(index, by_id.get(str(index)))
                error = outcome.error
                if error is not None and self._retryable(self.calls[index], error):
                    retry.append(index)
                    waits.append(error.retry_after if error.retry_after is not None else -1.0)
                    lag_only = lag_only and is_replication_lag(error)
                    continue
                self.outcomes[index] = outcome
        return retry, waits, lag_only and bool(retry)

    def _outcome(self, index: int, response: dict[str, Any] | None) -> BatchOutcome:
        call = self.calls[index]
        if response is None:
            return BatchOutcome(0, error=GraphError(call.operation, None, None, "no response in the batch"))
        return _parse(call, response)

    def _retryable(self, call: BatchCall, error: GraphError) -> bool:
        budget = (self.settings.replication_budget_s if Policy.REPLICATION_LAG in call.policy
                  else self.settings.throttling_budget_s)
        return matches_policy(call.policy, error) and self.clock.monotonic() - self.started < budget
