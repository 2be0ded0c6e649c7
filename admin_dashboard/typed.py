"""Text that people typed (graduates' aliases, staff and facilitators' names, group names,
cancel reasons, notes, what an import or the API's own sentences bring along), made inert
wherever the dashboard puts it. Two places run text: Markdown, which every Streamlit message,
caption, heading, widget label and metric renders (`plain`), and a spreadsheet opening a CSV
(`csv_text`, offered only through `download_csv`; `download_text` offers what the API made,
such as recovery codes). tests/dashboard/test_dashboard_injection.py renders every page with hostile
text and checks both."""

from __future__ import annotations

import re

import pandas as pd
import streamlit as st

# What a spreadsheet runs as a formula when a cell starts with it (OWASP, "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# Every ASCII punctuation character: CommonMark shows each one escaped with a backslash as
# itself, so nothing typed can open a link, an image, emphasis, a heading (`#`, or `===` under
# a line), an entity (`&`), LaTeX (`$`) or one of Streamlit's directives (`:red[...]`).
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")
# A line break would end the sentence the text sits in and start a block of its own.
_LINE_BREAKS = re.compile(r"\s*[\n\r\v\f\x85\u2028\u2029]+\s*")
# Where GitHub-style autolinks (`http:`, `www.`, an email's `@`) and emoji or icon shortcodes
# (`:smile:`, `:material/x:`) start: escaping does not stop them, as they are found in the text
# after escapes are read, so a zero-width space breaks each one.
_AUTOLINK_START = re.compile(r"\\:|www(?=\\\.)|\\@", re.IGNORECASE)
# Characters a downloaded file's name keeps (a group's name goes into the attendance CSV's).
_FILE_NAME_UNSAFE = re.compile(r"[^\w.-]+")


def plain(text: str) -> str:
    """`text` shown as typed inside Markdown: no formatting, no links, no images, no HTML."""
    escaped = _PUNCTUATION.sub(r"\\\1", _LINE_BREAKS.sub(" ", text))
    return _AUTOLINK_START.sub(lambda m: "\u200b\\@" if m.group(0) == "\\@" else m.group(0) + "\u200b", escaped)


def inert_cell(value):
    """A cell a spreadsheet shows as typed: text starting like a formula gets a leading
    apostrophe (OWASP's advice; spreadsheets hide it), also after leading spaces or line
    breaks, which LibreOffice can trim before it reads a formula. Numbers stay numbers: a
    spreadsheet does not run `-3`, and staff sum and sort them."""
    if isinstance(value, str) and value.lstrip(" \n").startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


def csv_text(frame: pd.DataFrame) -> str:
    """The rows as CSV, every text cell inert (see `inert_cell`); numeric and date columns as
    they are. Lines end in CRLF (RFC 4180), so a cell holding either break is quoted: a bare
    carriage return in a note would otherwise start a new row, with what follows it a cell
    of its own, unguarded."""
    safe = frame.copy()
    for column in safe.columns:
        if not pd.api.types.is_numeric_dtype(safe[column]) and not pd.api.types.is_datetime64_any_dtype(safe[column]):
            safe[column] = safe[column].map(inert_cell)
    return safe.to_csv(index=False, lineterminator="\r\n")


def download_csv(frame: pd.DataFrame, file_name: str, *, key: str, label: str = "Download CSV", where=st) -> None:
    """`frame` as inert CSV: the dashboard's download of anything people typed."""
    _offer(label, csv_text(frame), file_name, "text/csv", key, where)


def download_text(text: str, file_name: str, *, key: str, label: str, where=st) -> None:
    """Plain text the API made for its reader (the two-factor recovery codes), nothing typed:
    no spreadsheet opens a .txt file as cells to run."""
    _offer(label, text, file_name, "text/plain", key, where)


def _offer(label: str, data: str, file_name: str, mime: str, key: str, where) -> None:
    where.download_button(
        label,
        data,
        file_name=_FILE_NAME_UNSAFE.sub("-", file_name),
        mime=mime,
        icon=":material/download:",
        on_click="ignore",  # a download needs no rerun (and a rerun would take one-time codes off the screen)
        key=key,
    )
