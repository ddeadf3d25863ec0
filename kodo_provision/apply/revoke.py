"""Taking permissions away: the revoke steps of `onboard --prune` and `offboard`.

Each is idempotent: an assignment or grant that is already gone counts as done.
"""

from __future__ import annotations

from collections.abc import Callable

from ..graph.gateway import GraphGateway
from ..graph.lifecycle_ops import delete_app_role_assignment, delete_permission_grant, set_grant_scopes
from ..output.logging import get_logger
from ..plan.model import Plan, RevokeAppRole, RevokeDelegated, Step

log = get_logger("kodo_provision.apply")


async def apply_revoke(gateway: GraphGateway, step: RevokeAppRole | RevokeDelegated, client_sp_id: str) -> bool:
    """Apply one revoke step; False when there was nothing left to remove."""
    if isinstance(step, RevokeAppRole):
        return await delete_app_role_assignment(gateway, client_sp_id, step.assignment_id)
    if step.remaining:
        return await set_grant_scopes(gateway, client_sp_id, step.grant_id, step.remaining)
    return await delete_permission_grant(gateway, client_sp_id, step.grant_id)


async def apply_revocations(gateway: GraphGateway, plan: Plan, client_sp_id: str,
                            on_step: Callable[[Step, str], None] | None = None) -> tuple[list[Step], list[Step]]:
    """The plan's revoke steps, one at a time (they are few); returns (done, already gone)."""
    done: list[Step] = []
    gone: list[Step] = []
    for step in plan.steps:
        if not isinstance(step, RevokeAppRole | RevokeDelegated):
            continue
        removed = await apply_revoke(gateway, step, client_sp_id)
        (done if removed else gone).append(step)
        log.info("step.applied", step=step.kind, description=step.describe(), created=removed)
        if on_step:
            on_step(step, "done" if removed else "already gone")
    return done, gone
