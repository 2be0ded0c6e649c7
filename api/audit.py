"""Writing the audit trail from a request: who, what, which participants, when, from where."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from api.client_address import client_address
from api.security import SignedInRequest
from db import audit as audit_db


async def audit(
    conn: asyncpg.Connection,
    request: SignedInRequest,
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
    yet (redeeming a set-up code).

    One call, one row: a list read (or a write to several graduates) is one row holding all
    their ids, so that browsing does not flood the log while every graduate read is in it.
    An empty list read nobody's data and writes nothing."""
    if isinstance(participant_ids, UUID) or participant_ids is None:
        one, several = participant_ids, None
    else:
        ids = [i for i in dict.fromkeys(participant_ids) if i is not None]
        if not ids:
            return
        one, several = (ids[0], None) if len(ids) == 1 else (None, ids)
    actor_id, actor_roles = actor if actor is not None else (request.user.id, list(request.user.roles))
    await audit_db.record(
        conn,
        actor_id=actor_id,
        actor_roles=sorted(actor_roles),
        action=action,
        participant_id=one,
        participant_ids=several,
        method=request.method,
        path=request.url.path,
        client_ip=client_address(request),
        details=details,
    )
