"""Writing parsed Meeting Guide groups into the database."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from api.groups.meeting_guide import FeedGroup
from api.groups.service import set_schedule
from db import groups as groups_db


async def import_groups(
    conn: asyncpg.Connection, groups: list[FeedGroup], progress: Callable[[int, int], object] = lambda done, total: None
) -> tuple[int, int, list[str]]:
    """Create or update each group, matched by slug, schedule included, in one transaction;
    return (created, updated, slugs refused). Only groups an earlier import made are
    updated: a slug that belongs to a group staff manage is refused."""
    created = updated = 0
    refused = []
    async with conn.transaction():
        for done, group in enumerate(groups, start=1):
            result = await groups_db.upsert_imported(
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
            progress(done, len(groups))
            if result is None:
                refused.append(group.slug)
                continue
            group_id, is_new = result
            await set_schedule(conn, group_id, group.slots)
            created += is_new
            updated += not is_new
    return created, updated, refused
