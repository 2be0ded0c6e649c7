"""Driving the dashboard in tests: sign in, go to a page, read what it shows."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.helpers import PASSWORD, Actor


def sign_in(at: AppTest, who: Actor, password: str = PASSWORD) -> AppTest:
    at.run()
    at.text_input[0].input(who.email)
    at.text_input[1].input(password)
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


def open_page(at: AppTest, page: str) -> AppTest:
    """`page` as in app.py, e.g. "views/watchlist.py"."""
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    """Everything written on the page (markdown, captions, titles, messages), as one text."""
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "success", "warning", "error", "text"):
        parts += [str(element.value) for element in getattr(at, kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    return "\n".join(parts)
