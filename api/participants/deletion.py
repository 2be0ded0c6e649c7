"""Deleting a graduate: by their own hand (`DELETE /v1/me`) or an admin's (for one who can no
longer sign in), under the same rules. Their data goes for good; the deletion is audited; and
if alerts of theirs were still open, a minimal record stays on the watchlist until staff
acknowledge it (the clinic's duty of care outlives the account, the data does not)."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

import asyncpg

from api.audit import audit
from api.deps import AnyRequest
from api.discussions import events
from api.groups import notices
from api.me.schemas import Deleted
from api.problems import found, invalid
from api.validation import same_name
from db import groups as groups_db
from db import privacy as privacy_db


async def delete_graduate(
    conn: asyncpg.Connection, request: AnyRequest, person_id: UUID, *, confirm_alias: str | None = None
) -> Deleted:
    """Delete the graduate in one transaction. `confirm_alias`, when given (an admin's
    deletion), must repeat their alias (case and letters exactly; spaces as they read)."""
    async with conn.transaction():
        graduate = found(await privacy_db.lock_participant(conn, person_id), "participant")
        if confirm_alias is not None and not same_name(confirm_alias, graduate["alias"]):
            raise invalid("confirm_alias", "must repeat the graduate's alias exactly, as a check on the right person")
        # Seats they held go to the next people waiting, as when they leave a group.
        seats = await groups_db.member_of(conn, person_id)
        for group_id in seats:
            await groups_db.lock_group(conn, group_id)
            await groups_db.remove_member(conn, group_id, person_id)
            await notices.seat_waitlist(conn, group_id)
        kept = await privacy_db.keep_for_care(conn, person_id, dt.datetime.now(dt.UTC))
        # The audit log holds ids only and has no foreign keys: this row outlives the account.
        await audit(conn, request, "participant.delete", person_id, {"care_record_kept": kept})
        counts = await privacy_db.delete_person(conn, person_id)
        counts["group_members"] += len(seats)
    # Their live sockets close now (the session behind them is gone), not at the next check.
    events.access_changed(request.app, person_id)
    return Deleted(deleted=counts, care_record_kept=kept)
