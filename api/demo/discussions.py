"""The demo's group discussions: a few days of posts and replies in the groups with members,
support reactions, one post the crisis watch flags (so the moderation queue has a crisis
item, with its phrases) and one post a member reported. Written through the same rules as
the app's posts (the crisis watch, digests), dated in the past, oldest first."""

from __future__ import annotations

import datetime as dt
import random
from uuid import UUID

import asyncpg

from api.demo.groups import DemoGroup
from api.discussions.crisis_watch import assess_post
from api.discussions.service import digest
from db import demo as demo_db
from db import discussions as posts_db
from db import moderation as moderation_db

# (text, replies): each group with members gets some of these, written by its members.
_THREADS = [
    ("Made it to 90 days today. Thank you all for Tuesdays.", ["So proud of you!", "90 days is huge. Keep going."]),
    ("Does anyone have tips for the first holiday party sober?", ["Bring your own drink and an exit plan."]),
    ("Rough week at work, but I went for a walk instead of the bar.", ["That walk counts. Well done."]),
    ("Reading the book from last session, chapter 3 hit home.", []),
    ("Anyone want to get coffee before the next meeting?", ["I'm in, see you at 6:30."]),
]
CRISIS_POST = "I slipped up last night and used again. I feel like I can't do this anymore."
REPORTED_POST = "Selling my old stuff cheap, message me, see https://example.invalid/deal"


async def write(conn: asyncpg.Connection, rng: random.Random, groups: list[DemoGroup], now: dt.datetime) -> int:
    """The posts written; the discussions of groups without members stay empty."""
    written = 0
    # Groups with three members a week ago (members write only once they have joined).
    week_ago = now - dt.timedelta(days=7)
    busy = [g for g in groups if len(_members_at(g, week_ago)) >= 3]
    for index, group in enumerate(busy):
        # Members only: a post is dated after its author joined.
        at = now - dt.timedelta(days=6, hours=rng.randint(0, 12))
        for text, replies in rng.sample(_THREADS, 3):
            at = min(at + dt.timedelta(hours=rng.randint(3, 30)), now)
            author = rng.choice(members := _members_at(group, at))
            post_id = await _post(conn, group, author, None, text, at)
            written += 1
            for reply in replies:
                at = min(at + dt.timedelta(minutes=rng.randint(5, 90)), now)
                replier = rng.choice([m for m in _members_at(group, at) if m != author])
                await _post(conn, group, replier, post_id, reply, at)
                written += 1
            for supporter in rng.sample(members, min(3, len(members))):
                if supporter != author:
                    await posts_db.react(conn, post_id, supporter, "support", True)
        if index == 0:  # one group's discussion has what a moderator must look at, lately
            spam_at = min(max(at + dt.timedelta(minutes=10), now - dt.timedelta(hours=26)), now)
            crisis_at = min(max(spam_at + dt.timedelta(minutes=10), now - dt.timedelta(hours=3)), now)
            author, reporter, seller = rng.sample(_members_at(group, spam_at), 3)
            spam = await _post(conn, group, seller, None, REPORTED_POST, spam_at)
            report = await moderation_db.add_report(
                conn, spam, group.id, reporter, "spam", "Selling things in the group."
            )
            assert report is not None  # the demo's first report of a post just written
            await demo_db.date_moderation_item(conn, report, min(spam_at + dt.timedelta(hours=2), now))
            flagged = await _post(conn, group, author, None, CRISIS_POST, crisis_at)
            flag = assess_post(CRISIS_POST)
            assert flag is not None, "the demo's crisis post must be one the crisis watch flags"
            crisis = await moderation_db.add_crisis_flag(conn, flagged, group.id, flag.categories, flag.phrases)
            await demo_db.date_moderation_item(conn, crisis, crisis_at)
            written += 2
    return written


def _members_at(group: DemoGroup, at: dt.datetime) -> list[UUID]:
    return [m for m in group.members if group.joined[m] <= at]


async def _post(
    conn: asyncpg.Connection, group: DemoGroup, author: UUID, reply_to: int | None, text: str, at: dt.datetime
) -> int:
    return await posts_db.insert_post(
        conn,
        group_id=group.id,
        author_id=author,
        author_role="participant",
        reply_to=reply_to,
        body=text,
        digest=digest(text),
        at=at,
    )
