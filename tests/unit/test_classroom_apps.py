"""The classroom's Voilà apps, headless: each runs top to bottom in a kernel, as Voilà runs it, and shows exactly
one thing, its widget. Voilà hides code but shows every other output, so a stray print, warning or repr would be
in front of the students."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

APPS = Path(__file__).resolve().parents[2] / "notebooks" / "classroom" / "apps"
WIDGET = "application/vnd.jupyter.widget-view+json"
# a CSS class only that app's widget carries, found in the widget state the run stores
MARKS = {"prompt_lab.ipynb": "wb-lab-run", "review.ipynb": "wb-review-save"}


def test_every_app_is_checked_here():
    assert sorted(p.name for p in APPS.glob("*.ipynb")) == sorted(MARKS)


@pytest.mark.parametrize("name", sorted(MARKS))
def test_app_shows_only_its_widget(name, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("WORKBENCH_MODEL", "tiny-llama")
    monkeypatch.setenv("WORKBENCH_EXPORTS", str(tmp_path / "exports"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    nb = nbformat.read(APPS / name, as_version=4)
    assert all(c.get("id") for c in nb.cells), "every cell needs an id"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and any(c.cell_type == "markdown" for c in nb.cells), "an app is prose for the student + a widget"
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(APPS)}},
                   store_widget_state=True).execute()  # the kernel inherits the env set above
    outputs = [o for c in code for o in c.outputs]
    assert len(outputs) == 1 and WIDGET in outputs[0].get("data", {}), json.dumps(outputs)[:2000]
    state = nb.metadata.widgets["application/vnd.jupyter.widget-state+json"]["state"]
    classes = {cls for m in state.values() for cls in m["state"].get("_dom_classes", [])}
    assert MARKS[name] in classes, sorted(classes)
