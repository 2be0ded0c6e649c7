"""The README's walkthrough of the app's main flow (README.md, "Walkthrough: the app's main
flow"), replayed against the real app as written there: each request sent with the body
shown, each answer held to the status shown and to the same fields, nested ones included
(the values are examples: ids, tokens and times differ). Ids in a request are those of the
answers before it: an id the README shows in an answer stands, in the requests after it,
for the id the app really gave."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from pathlib import Path

import pytest

from tests import helpers
from tests.clock import ONCE

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "### Walkthrough: the app's main flow"
STEP = re.compile(r"```http\n(?P<request>.*?)```\n→ (?P<status>\d{3})\n```json\n(?P<answer>.*?)```", re.S)

pytestmark = pytest.mark.clock_instants(*ONCE)


def _steps() -> list[tuple[str, str, dict | None, int, object]]:
    text = README.read_text()
    section = text[text.index(SECTION) :]
    section = section[: section.index("\n### ", len(SECTION))]
    steps = []
    for match in STEP.finditer(section):
        line, _, body = match["request"].partition("\n")
        method, path = line.split(" ", 1)
        steps.append(
            (
                method,
                path,
                json.loads(body) if body.strip() else None,
                int(match["status"]),
                json.loads(match["answer"]),
            )
        )
    return steps


def _same_fields(shown, real, where: str = "answer") -> None:
    """The same keys at every level, the same kinds of value (null where the README shows
    null, a list that is empty where it shows one empty, a number where a number); lists
    compared by their first items."""
    kinds = (dict, list, str, bool, int, float, type(None))
    assert next(k for k in kinds if isinstance(shown, k)) is next(k for k in kinds if isinstance(real, k)), (
        where,
        shown,
        real,
    )
    if isinstance(shown, dict):
        assert set(real) == set(shown), (where, sorted(shown), sorted(real))
        for key in shown:
            _same_fields(shown[key], real[key], f"{where}.{key}")
    elif isinstance(shown, list):
        assert bool(shown) is bool(real), (where, shown, real)
        if shown:
            _same_fields(shown[0], real[0], f"{where}[0]")


def _learn_ids(shown, real, ids: dict[str, str]) -> None:
    """Each id shown in the README's answer, mapped to the one the app gave."""
    if isinstance(shown, dict) and isinstance(real, dict):
        for key, value in shown.items():
            if (key == "id" or key.endswith("_id")) and isinstance(value, str) and isinstance(real.get(key), str):
                ids[value] = real[key]
            _learn_ids(value, real.get(key), ids)
    elif isinstance(shown, list) and isinstance(real, list):
        for left, right in zip(shown, real, strict=False):
            _learn_ids(left, right, ids)


def _with_real_ids(value: str, ids: dict[str, str]) -> str:
    for shown in sorted(ids, key=len, reverse=True):
        value = value.replace(shown, ids[shown])
    return value


async def test_the_readme_walkthrough_runs_as_written(client, staff):
    steps = _steps()
    section = README.read_text().split(SECTION, 1)[1].split("\n### ", 1)[0]
    assert len(steps) == section.count("```http"), "a step of the walkthrough is not in the form the test reads"
    assert [f"{m} {p.split('?')[0].split('/')[2]}" for m, p, *_ in steps][:3] == [
        "POST auth",
        "GET checkins",
        "POST checkins",
    ], "the walkthrough starts with activation, what is due and a check-in"
    assert len(steps) >= 10
    await helpers.create_group(
        client,
        staff,
        name="Thursday Evening Circle",
        capacity=12,
        schedule=[{"weekday": "thursday", "start": "18:30", "end": "20:00"}],
    )
    enrolled = await helpers.enroll(
        client, staff, alias="Sam R.", iop_completed_on=str(dt.date.today() - dt.timedelta(days=3))
    )
    # The code shown in the README stands for the one this enrolment gave.
    ids = {steps[0][2]["code"]: enrolled["activation_code"]}
    headers: dict[str, str] = {}
    for method, path, body, status, shown in steps:
        if body is not None:
            body = json.loads(_with_real_ids(json.dumps(body), ids))
            if "client_id" in body:  # made by the app, once per check-in, when it is filled in
                body |= {"client_id": str(uuid.uuid4()), "client_time": dt.datetime.now(dt.UTC).isoformat()}
        answer = await client.request(method, _with_real_ids(path, ids), json=body, headers=headers)
        assert answer.status_code == status, (method, path, answer.text)
        real = answer.json()
        _same_fields(shown, real, f"{method} {path}")
        _learn_ids(shown, real, ids)
        if "access_token" in real:
            headers = helpers.bearer(real)
