"""The profile widget driven headless: run, see the gate table and three plots, find the saved JSON."""

import json

import ipywidgets as W

from widgets.profile import ProfileView


def test_run_shows_plots_and_saves_profile():
    view = ProfileView(model="tiny-llama", inventory="empathy", n_variants=4)
    view.run.click()
    p = view.job.wait(timeout=300)
    assert set(p.traits) == {"cognitive_empathy", "affective_empathy"}
    assert len(view.plots.children) == 3 and "verdict" in view.table.value
    assert view.bar.value == view.bar.max == 4 * 24
    saved = json.loads(view.saved.read_text())
    assert saved["inventory"] == "empathy" and saved["persona"] == "cotherapist"
    assert not view.run.disabled and view.stop.disabled
    assert view.reference.value == "therapist-empathy" and "high →" in view.table.value


def _traces_when_opened(state: dict) -> int:
    """Traces a plot's widget carries in the state it opens with (what a browser draws if it shows the plot before
    later messages are applied)."""
    if "_widget_data" in state:  # a go.FigureWidget
        return len(state["_widget_data"])
    return sum(len(o["data"].get("application/vnd.plotly.v1+json", {}).get("data", [])) for o in state["outputs"])


def test_plots_open_with_their_traces(monkeypatch):
    """Issue #20: the first run's radar and reliability were empty axes in the browser. A FigureWidget opens with no
    traces and sends them after; a browser that showed it before its 5 MB module was ready drew it empty."""
    opened = {}
    monkeypatch.setattr(W.Widget, "_widget_construction_callback", lambda w: opened.setdefault(id(w), w.get_state()))
    view = ProfileView(model="tiny-llama", inventory="empathy", n_variants=4)
    view.run.click()
    view.job.wait(timeout=300)
    assert len(view.plots.children) == 3
    for plot in view.plots.children:
        assert _traces_when_opened(opened[id(plot)]) == len(plot.figure.data) > 0


def test_second_run_overlays_and_compares():
    view = ProfileView(model="tiny-llama", inventory="empathy", persona=None, n_variants=4)
    view.run.click()
    view.job.wait(timeout=300)
    view.persona.value = "cotherapist"
    view.run.click()
    view.job.wait(timeout=300)
    radar = view.plots.children[0].figure
    names = [t.name for t in radar.data if t.name]
    assert len(names) == 3 and "reference direction" in names  # both runs and the reference drawn
    assert "Δ vs run 1 (no persona)" in view.table.value


def test_stop_saves_nothing():
    view = ProfileView(model="tiny-llama", n_variants=16)
    view.run.click()
    view.stop.click()
    assert view.job.wait(timeout=300) is None
    assert view.profile is None and "Stopped" in view.status.value


def test_compare_overlays_configurations_with_shift_and_mtmm():
    view = ProfileView(model="tiny-llama", n_variants=4, personas=0)
    view.compare.value = "base,prompted"
    view.run.click()
    r = view.job.wait(timeout=600)
    assert set(r["configs"]) == {"base", "prompted"} and view.saved.name == "comparison.json"
    assert "shift prompted − base" in view.table.value and "4 variants" in view.table.value
    radar, forest, *mtmm = (v.figure for v in view.plots.children)
    assert {"base", "prompted", "reference direction"} <= {t.name for t in radar.data if t.name}
    assert len({th for t in radar.data for th in t.theta}) == 5  # profiles and reference on the same five axes
    assert len(forest.data[0].y) == 5 and len(mtmm) == 2 and "MTMM, base" in mtmm[0].layout.title.text
    assert view.bar.value == view.bar.max == 2 * 4 * (60 + 30)
    view.run.click()  # the same comparison again is reloaded from what was saved, and the bar still fills
    assert view.job.wait(timeout=600)["shift"] == r["shift"] and view.bar.value == view.bar.max


def test_big_five_without_a_persona_saves_five_traits():
    """What notebook 05's last cell does: no persona, the Big Five, Run profile."""
    view = ProfileView(model="tiny-llama", n_variants=4)
    view.persona.value = ""
    view.run.click()
    p = view.job.wait(timeout=300)
    assert p is not None and view.saved.is_file(), view.status.value
    assert set(p.traits) == {"openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism"}
    assert json.loads(view.saved.read_text())["persona"] in ("", None)
    assert "nan" not in view.table.value and "None" not in view.table.value
    assert view.table.value.startswith('<div class="wb-scroll"')
