"""Writing the audit trail from a request: who, what, which participant, when, from where."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from litestar import Request

from api.client_address import client_address
from db import audit as audit_db


async def audit(
    conn: asyncpg.Connection,
    request: Request,
    action: str,
    participant_ids: list[UUID] | UUID | None,
    details: dict[str, Any] | None = None,
    *,
    actor: tuple[UUID, list[str]] | None = None,
) -> None:
    """Record a staff read or write of participant data (or, with no participant, an admin
    action on accounts). Call it in the same transaction as
    a write, so there is never a change without its trail. `details` holds ids and field
    names only, never values. `actor` (id, roles) names who acted where nobody is signed in
    yet (redeeming a set-up code)."""
    if isinstance(participant_ids, UUID) or participant_ids is None:
        participant_ids = [participant_ids]  # type: ignore[list-item]
    actor_id, actor_roles = actor if actor is not None else (request.user.id, list(request.user.roles))
    await audit_db.record(
        conn,
        actor_id=actor_id,
        actor_roles=sorted(actor_roles),
        action=action,
        participant_ids=participant_ids,
        method=request.method,
        path=request.url.path,
        client_ip=client_address(request),
        details=details,
    )
