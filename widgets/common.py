"""Small pieces shared by the views: status lines and error display."""

from __future__ import annotations

import html
from contextlib import contextmanager

import ipywidgets as W


def status_html(text: str, kind: str = "info") -> str:
    color = {"info": "#486581", "ok": "#27ab83", "error": "#cf1124", "warn": "#cb6e17"}[kind]
    return f'<div style="color:{color};white-space:pre-wrap">{html.escape(text)}</div>'


def error_text(exc: BaseException) -> str:
    """WorkbenchErrors already say what/where/fix; anything else is shown with its type."""
    from workbench.errors import WorkbenchError

    return str(exc) if isinstance(exc, WorkbenchError) else f"{type(exc).__name__}: {exc}"


def button(description: str, style: str = "", css: str = "", **kw) -> W.Button:
    b = W.Button(description=description, button_style=style, **kw)
    if css:
        b.add_class(css)
    return b


@contextmanager
def running(status: W.HTML, start: W.Button, stop: W.Button):
    """Background work in a view: Start off and Stop on while it runs; a failure shows in ``status``."""
    start.disabled, stop.disabled = True, False
    try:
        yield
    except Exception as exc:
        status.value = status_html(error_text(exc), "error")
        raise
    finally:
        start.disabled, stop.disabled = False, True
