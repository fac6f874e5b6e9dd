"""Widgets fit their notebook: no label cut short ("Learning r…"), no box wider than its parent, tables that scroll
in their own box. Checked on the widget models; tests/browser/test_layout_browser.py measures the real page."""

import ipywidgets as W
import pytest

LABEL_CHARS = 10  # about what ipywidgets' 80 px description column shows before "…"


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def _views():
    from widgets.chat import ChatView
    from widgets.compare import CompareView
    from widgets.finetune import FinetuneView
    from widgets.profile import ProfileView
    from widgets.prompt_lab import PromptLabView
    from widgets.safety import SafetyView
    from widgets.validity import ValidityView

    return {"chat": ChatView(model="tiny-llama"), "compare": CompareView(model="tiny-llama"),
            "finetune": FinetuneView(model="tiny-llama"), "profile": ProfileView(model="tiny-llama"),
            "prompt lab": PromptLabView(model="tiny-llama"), "safety": SafetyView(), "validity": ValidityView()}


@pytest.fixture(scope="module")
def views():
    return _views()


def test_long_descriptions_get_the_width_they_need(views):
    cut = []
    for name, view in views.items():
        for w in _walk(view):
            if isinstance(w, (W.Checkbox, W.Button, W.ToggleButton)) or not getattr(w, "description", ""):
                continue  # a checkbox's or button's text is not in the 80 px label column
            if len(w.description) > LABEL_CHARS and w.style.description_width in ("", None):
                cut.append(f"{name}: {w.description!r}")
    assert not cut, f"these labels are cut short: {cut}"
    finetune = views["finetune"]
    assert finetune.lr.style.description_width == "initial" and finetune.batch.style.description_width == "initial"


def test_buttons_grow_with_their_labels(views):
    from widgets.common import button

    b = button("Rebuild index", icon="database")
    assert b.layout.width == "auto" and b.layout.min_width
    for name, view in views.items():
        for w in _walk(view):
            if isinstance(w, W.Button) and len(w.description) > 12:
                assert w.layout.width == "auto", f"{name}: {w.description!r} would be cut to the default width"


def test_nothing_full_width_keeps_side_margins(views):
    """width 100% plus ipywidgets' 2 px margins is wider than the box, and boxes scroll: a permanent scrollbar."""
    wide = []
    for name, view in views.items():
        for w in _walk(view):
            layout = getattr(w, "layout", None)
            if layout is not None and layout.width == "100%" and w is not view and layout.margin != "2px 0":
                wide.append(f"{name}: {type(w).__name__} {getattr(w, 'description', '')!r}")
    assert not wide, wide
