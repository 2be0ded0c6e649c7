"""Driving the dashboard in tests: sign in, go to a page, read what it shows."""

from __future__ import annotations

import csv
import dataclasses
import html
import io
import re

from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import AlertBase, HeadingBase, Latex, Markdown, Metric, Toast

from tests.helpers import PASSWORD, Actor


def sign_in(at: AppTest, who: Actor, password: str = PASSWORD) -> AppTest:
    at.run()
    at.text_input[0].input(who.email)
    at.text_input[1].input(password)
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


class Timers:
    """The timers of `st.fragment(run_every=...)` (the watchlist's table, the idle watch),
    which AppTest registers but never fires: `fire` does what the browser does when they come
    due, rerunning those parts only, as automatic reruns. Make it before the runs it watches."""

    def __init__(self, monkeypatch) -> None:
        from streamlit.testing.v1.local_script_runner import LocalScriptRunner

        self.due: list[str] = []
        self._firing: list[str] = []  # the timers of the next run, which only they start
        real_run, real_messages = LocalScriptRunner._run_script, LocalScriptRunner.forward_msgs

        def run_script(runner, rerun_data):
            if self._firing:  # a rerun the parts ask for themselves (a sign-out) stays what it is
                rerun_data = dataclasses.replace(rerun_data, fragment_id_queue=self._firing, is_auto_rerun=True)
                self._firing = []
            runner.parts_only = bool(rerun_data.fragment_id_queue)
            return real_run(runner, rerun_data)

        def forward_msgs(runner):
            messages = real_messages(runner)
            if not getattr(runner, "parts_only", True):  # the parts set their timers in a full run
                self.due = [m.auto_rerun.fragment_id for m in messages if m.WhichOneof("type") == "auto_rerun"]
            return messages

        monkeypatch.setattr(LocalScriptRunner, "_run_script", run_script)
        monkeypatch.setattr(LocalScriptRunner, "forward_msgs", forward_msgs)

    def fire(self, at: AppTest) -> AppTest:
        assert self.due, "no timer on this page"
        self._firing = list(self.due)
        try:
            at.run()
        finally:
            self._firing = []
        assert not at.exception, at.exception
        return at


def open_page(at: AppTest, page: str) -> AppTest:
    """`page` as in app.py, e.g. "views/watchlist.py"."""
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    """Everything written on the page (markdown, captions, titles, messages), as one text, as
    its reader sees it (Markdown's escapes read: see `as_read`)."""
    parts = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "success", "warning", "error"):
        parts += [as_read(str(element.value)) for element in getattr(at, kind)]
    parts += [str(element.value) for element in at.text]  # st.text: no Markdown
    parts += [as_read(f"{m.label} {m.value}") for m in at.metric]
    return "\n".join(parts)


# --- what Streamlit renders as Markdown, and what it offers to download ----------------------

# Escaped punctuation, and the zero-width spaces `plain()` puts where an autolink would start.
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
# What a renderer finds in the text itself, after escapes are read: GitHub-style autolinks,
# emoji and icon shortcodes, Streamlit's directives.
_LIVE_IN_TEXT = {
    "autolink": re.compile(r"(?i)(?:https?|ftp)://|www\.|mailto:|[\w.+-]@[\w-]+\.\w"),
    "shortcode": re.compile(r":[A-Za-z][\w+/-]*:"),
    "directive": re.compile(r":[A-Za-z][\w-]*\["),
}


def markdown_shown(at: AppTest) -> list[str]:
    """Every text on the page that Streamlit renders as Markdown: messages, captions,
    headings, metrics, toasts, and the labels of widgets, expanders and tabs."""
    shown = []
    for node in [*at.main, *at.sidebar, *at.toast]:
        if isinstance(node, Markdown | HeadingBase | AlertBase | Toast | Metric) and not isinstance(node, Latex):
            shown.append(str(node.value))
        label = getattr(node, "label", None)
        if isinstance(label, str) and label:
            shown.append(label)
    return shown


def as_read(markdown: str) -> str:
    """The text a reader sees (escapes read, zero-width spaces invisible)."""
    return _ESCAPE.sub(r"\1", markdown).replace("\u200b", "")


def live_markdown(source: str) -> list[str]:
    """What in `source` a Markdown renderer would turn into something other than text:
    links and images (CommonMark), autolinks, shortcodes, directives, LaTeX. The badges the
    dashboard writes itself (a severity, "Used") are directives on purpose: typed text cannot
    make one, as `plain()` escapes every colon and bracket in it."""
    from admin_dashboard.state import OWN_BADGES

    for badge in OWN_BADGES:
        source = source.replace(badge, "")
    rendered = _MARKDOWN.render(source)
    found = [tag for tag in ("<a ", "<img") if tag in rendered]
    text = html.unescape(re.sub(r"<[^>]+>", "", rendered))
    found += [name for name, pattern in _LIVE_IN_TEXT.items() if pattern.search(text)]
    if re.search(r"(?<!\\)\$", source):
        found.append("latex")
    return found


def capture_downloads(monkeypatch) -> dict[str, tuple[str, bytes]]:
    """Record each file the app hands Streamlit to offer: {its URL: (file name, bytes)}."""
    from streamlit.runtime.media_file_manager import MediaFileManager

    offered: dict[str, tuple[str, bytes]] = {}
    real_add = MediaFileManager.add

    def add(self, path_or_data, mimetype, coordinates, file_name=None, is_for_static_download=False):
        url = real_add(self, path_or_data, mimetype, coordinates, file_name, is_for_static_download)
        offered[url] = (file_name, path_or_data)
        return url

    monkeypatch.setattr(MediaFileManager, "add", add)
    return offered


def downloads(at: AppTest, offered: dict[str, tuple[str, bytes]]) -> dict[str, list[list[str]]]:
    """Every download button on the page: {file name: the CSV's rows, header first}."""
    files = {}
    for button in at.get("download_button"):
        file_name, data = offered[button.proto.url]
        files[file_name] = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    return files
