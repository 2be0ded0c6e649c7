"""Writing parsed Meeting Guide groups into the database (upsert by slug)."""

from __future__ import annotations

import asyncpg

from api.groups.meeting_guide import FeedGroup
from db import groups as groups_db


async def import_groups(
    conn: asyncpg.Connection, groups: list[FeedGroup], progress=lambda done, total: None
) -> tuple[int, int]:
    """Create or update each group (matched by slug), schedule included, in one transaction;
    return (created, updated)."""
    created = updated = 0
    async with conn.transaction():
        for done, group in enumerate(groups, start=1):
            group_id, is_new = await groups_db.upsert_by_slug(
                conn,
                {
                    "slug": group.slug,
                    "name": group.name,
                    "description": group.description,
                    "topics": group.topics,
                    "format": group.format,
                    "timezone": group.timezone,
                    "address": group.address,
                    "latitude": group.latitude,
                    "longitude": group.longitude,
                    "conference_url": group.conference_url,
                    "conference_phone": group.conference_phone,
                    "is_public": True,
                },
            )
            await groups_db.replace_schedule(conn, group_id, group.slots)
            created += is_new
            updated += not is_new
            progress(done, len(groups))
    return created, updated
