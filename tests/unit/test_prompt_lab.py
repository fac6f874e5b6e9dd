"""Prompt lab on tiny-llama: the grid, safety first for risk queries, the user's prompt library, the view."""

import json

import pytest

from workbench.corpora import DIMENSIONS, load_prompts, user_prompts_path
from workbench.errors import WorkbenchError
from workbench.formatting import SCROLL_STYLE
from workbench.prompt_lab import Grid, load_grid, run_grid, save_prompt

# a client asking about worry ("is this generalised anxiety?"); a parent who thought of not being around. The
# first safe query used here, a Sunday-evening work worry (q-002), is one the screen now flags (p 0.5).
SAFE, RISKY = "q-004", "q-032"


@pytest.fixture(scope="module")
def grid():
    p = load_prompts()
    return run_grid({"baseline": p["baseline"].text, "cotherapist": p["cotherapist"].text}, [SAFE, RISKY],
                    model="tiny-llama", max_new_tokens=12)


@pytest.fixture
def exports(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_EXPORTS", str(tmp_path))
    return tmp_path


def test_grid_shape_and_scores(grid):
    assert grid.complete and len(grid.cells) == 4
    assert {(c.variant, c.query_id) for c in grid.cells} == {(v, q) for v in ("baseline", "cotherapist")
                                                             for q in (SAFE, RISKY)}
    for c in grid.cells:
        assert set(c.scores) == set(DIMENSIONS) and all(1 <= s <= 5 for s in c.scores.values())
        assert c.mean == pytest.approx(sum(c.scores.values()) / len(c.scores), abs=1e-3)
    s = grid.summary()
    assert list(s.index) == ["baseline", "cotherapist"] and list(s["n"]) == [2, 2]
    assert set(DIMENSIONS) | {"mean"} <= set(s.columns)
    d = grid.delta("baseline", "cotherapist")
    assert d["exploration"] == pytest.approx(s.loc["cotherapist", "exploration"] - s.loc["baseline", "exploration"])
    with pytest.raises(WorkbenchError, match="no scored cells"):
        grid.delta("baseline", "nope")


def test_risk_query_gets_escalation_first(grid):
    from workbench.safety import escalation, screen

    first = escalation(screen(grid.cell("baseline", RISKY).query))
    assert first
    for v in grid.variants:
        risky, safe = grid.cell(v, RISKY), grid.cell(v, SAFE)
        assert risky.risk and risky.risk_handled and risky.response.startswith(first)
        assert not safe.risk and not safe.risk_handled


def test_free_text_queries_and_bad_input():
    g = run_grid({"bare": ""}, ["How do I stop replaying an awkward conversation at night?"], model="tiny-llama",
                 max_new_tokens=6)
    assert [c.query_id for c in g.cells] == ["own-1"]
    with pytest.raises(WorkbenchError, match="No queries"):
        run_grid({"bare": ""}, [], model="tiny-llama")
    with pytest.raises(WorkbenchError, match="No prompt variants"):
        run_grid({}, [SAFE], model="tiny-llama")


def test_cancel_returns_partial_grid():
    import threading

    stop = threading.Event()
    stop.set()
    g = run_grid({"a": "", "b": ""}, [SAFE], model="tiny-llama", max_new_tokens=6, cancel=stop)
    assert not g.complete and g.cells == []


def test_grid_saves_and_reloads(grid, exports):
    path = grid.save("class-week-3")
    assert path == exports / "prompt_lab" / "class-week-3.json"
    back = load_grid("class-week-3")
    assert isinstance(back, Grid) and back.to_dict() == json.loads(path.read_text())
    assert back.summary().equals(grid.summary())
    assert load_grid(path).cells[0].response == grid.cells[0].response
    with pytest.raises(WorkbenchError, match="No saved prompt-lab grid"):
        load_grid("missing")


def test_save_prompt_round_trip(exports):
    shipped_before = (load_prompts()["cotherapist"].text, len(load_prompts()))
    p = save_prompt("socratic-warmer", "Reflect first.\nAsk one open question.", "raise exploration", author="kim")
    assert p.source == "user" and user_prompts_path() == exports / "prompts" / "library.yaml"
    got = load_prompts()
    assert got["socratic-warmer"].text == "Reflect first.\nAsk one open question."
    assert got["socratic-warmer"].source == "user" and got["socratic-warmer"].author == "kim"
    assert got["cotherapist"].source == "shipped" and got["cotherapist"].text == shipped_before[0]
    assert len(got) == shipped_before[1] + 1
    save_prompt("socratic-warmer", "Reflect first. Then ask.", "second try")  # update in place
    got = load_prompts()
    assert got["socratic-warmer"].text == "Reflect first. Then ask." and got["socratic-warmer"].note == "second try"
    assert len(got) == shipped_before[1] + 1
    assert not list((exports / "prompts").glob(".*.tmp"))


def test_save_prompt_refuses_shipped_id_and_bad_names(exports):
    with pytest.raises(WorkbenchError, match="shipped prompt") as err:
        save_prompt("cotherapist", "anything", "")
    assert "cotherapist-mine" in str(err.value)
    with pytest.raises(WorkbenchError, match="not a usable prompt id"):
        save_prompt("My Prompt!", "text")
    with pytest.raises(WorkbenchError, match="no text"):
        save_prompt("empty-one", "   ")
    assert not user_prompts_path().exists()


def test_widget_runs_shows_grid_and_saves(exports):
    from widgets.prompt_lab import PromptLabView

    view = PromptLabView(model="tiny-llama", queries=[SAFE, "I keep cancelling plans with friends."],
                         max_new_tokens=8)
    assert [c.name.value for c in view.columns] == ["baseline", "cotherapist"]
    view.columns[1].text.value = "Reflect feelings. Ask one open question: what, how or when?"
    view.columns[1].name.value = "my-socratic"
    view.goal.value = "exploration"
    view.run.click()
    g = view.job.wait(timeout=300)
    assert g.complete and len(g.cells) == 4 and set(g.variants) == {"baseline", "my-socratic"}
    assert "own-2" in view.table.value and "<details>" in view.table.value
    assert "exploration ★" in view.summary.value and len(view.plot.children) == 1
    # the grid and the summary each scroll in their own box: wide tables never run off the page (or the Voilà app)
    scroll = f'<div class="wb-scroll" style="{SCROLL_STYLE}"><table'
    for box in (view.table, view.summary):
        assert box.value.startswith(scroll) and box.value.count("<table") == 1, box.value[:200]
    assert [t.name for t in view.plot.children[0].figure.data] == ["baseline", "my-socratic"]
    assert view.saved.is_file() and view.bar.value == view.bar.max == 4
    assert not view.run.disabled and view.stop.disabled and "Done" in view.status.value

    view.save_which.value = 1
    view.save_name.value, view.save_note.value = "my-socratic", "raise exploration"
    view.save.click()
    assert view.saved_prompt.id == "my-socratic" and load_prompts()["my-socratic"].source == "user"
    assert view.columns[1].text.value.startswith("Reflect feelings")  # refreshing presets kept the edit
    view.save_name.value = "baseline"
    view.save.click()
    assert "shipped prompt" in view.save_status.value


def test_widget_stop_keeps_partial_and_saves_nothing(exports):
    from widgets.prompt_lab import PromptLabView

    view = PromptLabView(model="tiny-llama", queries=[SAFE, RISKY], max_new_tokens=64)
    view.run.click()
    view.stop.click()
    g = view.job.wait(timeout=300)
    assert not g.complete and view.saved is None and "Stopped" in view.status.value
    assert not (exports / "prompt_lab").exists()


def test_widget_columns_and_presets():
    from widgets.prompt_lab import PromptLabView

    view = PromptLabView(model="tiny-llama")
    assert view.save_which.value == 1  # Save saves the column a user edits, never a silent blank choice
    view.add.click()
    assert view.save_which.value == 1  # a new column keeps the choice
    view.add.click()
    view.add.click()
    assert len(view.columns) == 4
    view.save_which.value = 3
    view.columns[2].preset.value = "socratic"
    assert view.columns[2].name.value == "socratic" and "guided discovery" in view.columns[2].text.value
    view.remove.click()
    assert view.save_which.value == 2  # the chosen column is gone: the last one left
    view.remove.click()
    view.remove.click()
    assert len(view.columns) == 2
