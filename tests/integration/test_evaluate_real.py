"""The baseline comparison on the real default model: two shipped queries (one a risk disclosure), three
configurations that need no adapter (base, prompted, rag); rescoring the saved run reproduces the summary."""

from __future__ import annotations

import json

import pytest

from workbench import evaluate as ev
from workbench import results
from workbench.corpora import load_queries

pytestmark = pytest.mark.integration

MODEL = "smollm2-135m-instruct"
CONFIGS = ("base", "prompted", "rag")
IDS = ("q-001", "q-032")  # a clinician's CBT question; a postpartum client with passive suicidal ideation


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    qs = {q.id: q for q in load_queries()}
    assert not qs[IDS[0]].risk and qs[IDS[1]].risk
    out = tmp_path_factory.mktemp("eval-real") / "run"
    return ev.evaluate([qs[i] for i in IDS], CONFIGS, model=MODEL, out=out, max_new_tokens=96)


def test_summary_shape_and_rows(run):
    assert run.status == "done" and run.done == run.total == 6
    s = run.summary["configs"]
    assert list(s) == list(CONFIGS) and run.summary["model"] == MODEL
    for c in CONFIGS:
        assert s[c]["n"] == 2 and len(s[c]["dimensions"]) == 8 and 1 <= s[c]["tbars_mean"] <= 5
        assert s[c]["risk_queries"] == 1 and s[c]["safety_handled"] in (0.0, 1.0)
        d = s[c]["diff_vs_base"]
        assert d["n"] == 2 and d["ci_low"] <= d["mean"] <= d["ci_high"]
        assert s[c]["tokens_per_s"] > 0 and 0 <= s[c]["keypoint_coverage"] <= 1
    assert s["base"]["diff_vs_base"]["mean"] == 0.0
    table = results.summary_frame(run.summary)
    assert list(table.index) == list(CONFIGS) and {"tbars_mean", "ci_low", "safety"} <= set(table.columns)
    by = {(r.query_id, r.config): r for r in run.rows}
    for c in CONFIGS:
        safe, risky = by[(IDS[0], c)], by[(IDS[1], c)]
        assert safe.risk is False and safe.safety_handled is None
        assert risky.risk is True and isinstance(risky.safety_handled, bool)
        assert len(risky.response.split()) >= 10 and risky.completion_tokens <= 96
        assert risky.model == MODEL
    # only rag retrieves: its answers' traces hold a retriever span with cards
    traces = {}
    for line in (ev.Path(run.out_dir) / "traces.jsonl").read_text().splitlines():
        span = json.loads(line)
        traces.setdefault(span["trace_id"], []).append(span)
    for (_qid, c), r in by.items():
        kinds = {sp["kind"] for sp in traces[r.trace_id]}
        assert ("retriever" in kinds) == (c == "rag")
        assert "guardrail" not in kinds  # none of these configurations screens; only cotherapist does


def test_rescore_reproduces_the_summary(run):
    from workbench import models

    saved = json.loads((ev.Path(run.out_dir) / "summary.json").read_text())
    orig = models.get_generator
    models.get_generator = lambda *a, **k: (_ for _ in ()).throw(AssertionError("rescore loaded a model"))
    try:
        again = ev.rescore(run.out_dir)
    finally:
        models.get_generator = orig
    assert again.summary["configs"] == saved["configs"] == run.summary["configs"]
    assert again.status == "rescored" and len(again.rows) == 6
