"""Adding the client secret exactly once.

addPassword is not idempotent and Graph never shows a secret twice. If the response is lost
(connection dropped after Graph committed), a blind retry would leave a secret nobody holds.
So each run names its secret with a run-unique marker; after a transport failure or a 503/504
(a gateway may answer so after the write committed) the app is re-read, any secret carrying this
run's marker is removed, and the add is tried again. A secret the re-read could not see yet
(replication) is removed by the sweep after verification (remove_unhanded_secrets).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..graph.errors import GraphThrottled, TransientNetworkError
from ..graph.gateway import GraphGateway, NewSecret
from ..graph.retry import Policy
from ..manifest.identity import SECRET_MARKER_PREFIX, secret_marker
from ..output.logging import get_logger, register_secret
from ..state.model import Application

log = get_logger("kodo_provision.apply")
MARKER_PREFIX = SECRET_MARKER_PREFIX
MAX_ADD_ATTEMPTS = 3


def secret_display_name(base: str, run_id: str) -> str:
    """The secret's description in the portal, carrying the run marker."""
    return f"{base} {secret_marker(run_id)}"


def is_tool_secret(display_name: str | None) -> bool:
    """True for secrets this tool created (rotation never touches others unless asked)."""
    return bool(display_name) and MARKER_PREFIX in (display_name or "")


async def add_secret_exactly_once(gateway: GraphGateway, app_object_id: str, unique_name: str, *,
                                  base_name: str, lifetime: timedelta, run_id: str,
                                  now: datetime) -> NewSecret:
    """Add one secret; after a lost response, remove this run's unknown secret and retry."""
    name = secret_display_name(base_name, run_id)
    for attempt in range(1, MAX_ADD_ATTEMPTS + 1):
        try:
            secret = await gateway.add_password(app_object_id, display_name=name, end=now + lifetime)
        except (TransientNetworkError, GraphThrottled) as exc:
            if isinstance(exc, GraphThrottled) and exc.status == 429:
                raise  # refused before anything happened, and out of retry budget
            if attempt == MAX_ADD_ATTEMPTS:
                raise
            app = await gateway.application_by_unique_name(unique_name, policy=Policy.IDEMPOTENT)
            lost = [c for c in (app.password_credentials if app else ()) if c.display_name == name]
            for cred in lost:
                await gateway.remove_password(app_object_id, cred.key_id)
                log.warning("secret.orphan_removed", key_id=cred.key_id, run_id=run_id)
            continue
        register_secret(secret.secret_text)
        log.info("secret.created", key_id=secret.key_id, expires=str(secret.end_date_time))
        return secret
    raise AssertionError("unreachable")  # pragma: no cover


async def remove_unhanded_secrets(gateway: GraphGateway, app: Application | None, run_ids: frozenset[str],
                                  held_key_id: str | None) -> list[str]:
    """Secrets carrying one of these runs' markers other than the one handed off: an add whose answer
    was lost, a 503/504 that had committed, or a run killed before its hand-off. Call it on a state read
    after the writes replicated. Returns the key IDs removed."""
    markers = tuple(secret_marker(r) for r in run_ids)
    extra = [c for c in (app.password_credentials if app else ())
             if c.display_name and c.display_name.endswith(markers) and c.key_id != (held_key_id or "").lower()]
    for cred in extra:
        assert app is not None
        await gateway.remove_password(app.id, cred.key_id)
        log.warning("secret.orphan_removed", key_id=cred.key_id)
    return [c.key_id for c in extra]
