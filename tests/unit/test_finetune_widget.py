"""The fine-tune view driven headless: preview the loss mask, Start, watch the curve, Stop, resume."""

import json

import pytest

from widgets.finetune import FinetuneView
from workbench.finetune import read_manifest, remaining_s

DATA = [[{"role": "user", "content": f"How should I open session {i}?"},
         {"role": "assistant", "content": "Agree an agenda together and check in on the week."}] for i in range(6)]


@pytest.fixture()
def data(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_EXPORTS", str(tmp_path / "exports"))
    f = tmp_path / "d.jsonl"
    f.write_text("".join(json.dumps({"id": f"d{i}", "messages": m}) + "\n" for i, m in enumerate(DATA)))
    return f


def test_preview_marks_assistant_tokens(data):
    view = FinetuneView(model="tiny-llama", system="none", name="w", data=str(data))
    view.preview_button.click()
    assert "loading the training dialogues" in view.preview.value and view.preview_button.disabled
    view.preview_job.wait(timeout=120)
    assert "5 training + 1 held-out" in view.preview.value and not view.preview_button.disabled
    assert 'class="wb-loss"' in view.preview.value and 'class="wb-ctx"' in view.preview.value
    view.preview_index.value = 1
    assert view._examples[1].id in view.preview.value


def test_start_draws_the_curve_and_shows_the_result_card(data):
    view = FinetuneView(model="tiny-llama", system="none", name="w", data=str(data), steps=4, eval_every=2,
                        tokens_per_batch=128)
    view.start_button.click()
    r = view.job.wait(timeout=300)
    assert r.status == "done" and "Adapter saved" in view.status.value
    train, held = view.curve.data
    assert list(train.x) == [1, 2, 3, 4] and list(held.x) == [2, 4]
    assert "tokens/s" in view.card.value and view.bar.value == view.bar.max == 4
    assert not view.start_button.disabled and view.stop.disabled


def test_stop_keeps_a_checkpoint_and_resume_finishes(data):
    view = FinetuneView(model="tiny-llama", system="none", name="w", data=str(data), steps=30, save_every=50,
                        tokens_per_batch=128)
    view.start_button.click()
    while view.job.done < 1 and view.job.running:
        view.job._thread.join(0.05)
    view.stop.click()
    r = view.job.wait(timeout=300)
    assert r.status == "cancelled" and "Resume" in view.status.value
    view.resume.value = True
    view.steps.value = r.step + 2
    view.start_button.click()
    done = view.job.wait(timeout=300)
    assert done.status == "done" and done.history[0]["step"] == 1 and done.step == r.step + 2


def test_bad_data_path_is_explained(data, tmp_path):
    view = FinetuneView(model="tiny-llama", system="none", data=str(tmp_path / "nope.jsonl"))
    view.preview_button.click()
    view.preview_job.wait(timeout=120)
    assert "does not exist" in view.preview.value


def test_eta_counts_this_legs_steps_only():
    assert remaining_s(10.0, 2, 3) == 15.0  # 2 steps in this leg took 10 s; 3 left
    assert remaining_s(4.0, 0, 3) is None  # no step yet in this leg: no pace to go by


def test_stop_says_so_and_resume_shows_the_whole_run(data):
    view = FinetuneView(model="tiny-llama", system="none", name="w", data=str(data), steps=30, save_every=50,
                        eval_every=2, tokens_per_batch=128)
    view.start_button.click()
    while view.job.done < 2 and view.job.running:
        view.job._thread.join(0.05)
    view.stop.click()
    assert "stopping after the current step" in view.status.value and view.stop.disabled
    first = view.job.wait(timeout=300)
    assert first.status == "cancelled" and first.legs == 1 and view.stop.disabled

    messages = []
    view.status.observe(lambda change: messages.append(change["new"]), names="value")
    view.resume.value = True
    view.steps.value = first.step + 3
    view.start_button.click()
    done = view.job.wait(timeout=300)
    train, held = view.curve.data
    assert list(train.x) == list(range(1, done.step + 1))  # the first leg's steps are back on the curve
    assert [h["step"] for h in first.history if "eval_loss" in h] == list(held.x)[:first.step // 2]
    resumed = [m for m in messages if f"step {first.step + 1}/{done.step}" in m]
    assert resumed and "left" in resumed[0]  # the ETA from this leg's first step, over the steps left
    assert done.legs == 2 and done.wall_s >= first.wall_s and read_manifest("w")["legs"] == 2
    assert "in 2 legs" in view.card.value
