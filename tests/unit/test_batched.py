"""Batched decoding: ``chat_many`` decodes several conversations per step and gives each the answer ``chat``
gives it alone, on both backends (tiny model; the real model in tests/integration/test_batched_real.py)."""

import threading

import pytest

from workbench.models import onnx_export as export
from workbench.models import onnx_graph
from workbench.models.generate import repeat_bans
from workbench.models.onnx import OnnxGenerator

ASKS = ["How do I start a thought record with a client?", "hi", "What could I say to a client who cancels often?",
        "Explain exposure hierarchies for panic disorder, step by step, for a trainee who has never planned one.",
        "Give three grounding techniques.", "What is behavioural activation?"]
CONVERSATIONS = [[{"role": "user", "content": q}] for q in ASKS]
CONVERSATIONS[2] = [{"role": "system", "content": "You are a careful clinical supervisor."}, *CONVERSATIONS[2]]


@pytest.fixture(scope="module")
def onnx_gens(tmp_path_factory):
    """fp32 and int8 exports of the tiny model (fused attention, shared KV buffers)."""
    result = export.export("tiny-llama", variants=("fp32", "int8"), out=tmp_path_factory.mktemp("exports"))
    return {v: OnnxGenerator(result.path(v), "tiny-llama") for v in ("fp32", "int8")}


def _same_as_alone(gen, n_tokens=24, **kw):
    alone = [gen.chat(c, max_new_tokens=n_tokens, **kw) for c in CONVERSATIONS]
    many = gen.chat_many(CONVERSATIONS, max_new_tokens=n_tokens, **kw)
    assert [m.text for m in many] == [a.text for a in alone]
    assert [m.completion_tokens for m in many] == [a.completion_tokens for a in alone]
    assert [m.finish_reason for m in many] == [a.finish_reason for a in alone]
    assert [m.prompt_tokens for m in many] == [a.prompt_tokens for a in alone]
    return alone, many


def test_torch_rows_equal_alone_greedy_and_sampled(tiny):
    _, many = _same_as_alone(tiny)
    assert all(m.backend == "torch" and m.completion_tokens > 0 for m in many)
    _same_as_alone(tiny, temperature=1.0, seed=5)  # each row draws from its own generator seeded like chat's


@pytest.mark.parametrize("variant", ["fp32", "int8"])
def test_onnx_rows_equal_alone(onnx_gens, variant):
    gen = onnx_gens[variant]
    assert gen.shared_kv
    _same_as_alone(gen)
    _same_as_alone(gen, temperature=1.0, seed=5)


def test_rows_that_stop_early_leave_the_batch_and_the_rest_go_on(tiny, onnx_gens):
    """A stop string taken from one row's own answer ends that row only; smaller batches than rows work."""
    alone = [tiny.chat(c, max_new_tokens=24) for c in CONVERSATIONS]
    words = alone[0].text.split()
    stop = [" ".join(words[2:4])]
    for gen in (tiny, onnx_gens["fp32"]):
        want = [gen.chat(c, max_new_tokens=24, stop=stop) for c in CONVERSATIONS]
        assert want[0].finish_reason == "stop" and want[0].completion_tokens < 24
        for size in (1, 4, 8):
            got = gen.chat_many(CONVERSATIONS, max_new_tokens=24, stop=stop, batch_size=size)
            assert [g.text for g in got] == [w.text for w in want], (gen.backend, size)
            assert [g.finish_reason for g in got] == [w.finish_reason for w in want]


def test_progress_and_cancel(tiny, onnx_gens):
    seen = []
    tiny.chat_many(CONVERSATIONS, max_new_tokens=4, batch_size=4, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(k, 6) for k in range(1, 7)]  # as each answer ends
    for gen in (tiny, onnx_gens["int8"]):
        stop = threading.Event()
        stop.set()
        got = gen.chat_many(CONVERSATIONS, max_new_tokens=16, cancel=stop)
        assert {g.finish_reason for g in got} == {"cancelled"} and all(g.completion_tokens == 0 for g in got)


def test_onnx_single_answers_still_right_after_a_batch(onnx_gens):
    """The batch grows and rebinds the shared buffers; a later ``chat`` must not read a stale binding."""
    gen = onnx_gens["fp32"]
    before = gen.chat(CONVERSATIONS[3], max_new_tokens=16).text
    gen.chat_many(CONVERSATIONS * 3, max_new_tokens=8, batch_size=18)
    assert gen.chat(CONVERSATIONS[3], max_new_tokens=16).text == before
    assert gen.score_options(CONVERSATIONS[0], ["1", "Strongly agree"]) == pytest.approx(
        gen.score_options(CONVERSATIONS[0], ["1", "Strongly agree"]))


def test_unfused_graph_decodes_rows_through_the_shared_loop(tiny, tmp_path, monkeypatch):
    """Graphs without fused attention have no shared buffer; chat_many still equals chat there."""
    monkeypatch.setattr(onnx_graph, "FUSABLE", ())
    gen = OnnxGenerator(export.export("tiny-llama", variants=("fp32",), out=tmp_path).path("fp32"))
    assert not gen.shared_kv
    want = [tiny.chat(c, max_new_tokens=12).text for c in CONVERSATIONS[:3]]
    assert [c.text for c in gen.chat_many(CONVERSATIONS[:3], max_new_tokens=12)] == want


def test_repeat_bans_names_the_tokens_that_would_repeat_an_ngram():
    assert repeat_bans([1, 2, 3, 1, 2], 3) == [3]          # "1 2" was followed by 3 once
    assert repeat_bans([1, 2, 3, 1, 2, 4, 1, 2], 3) == [3, 4]
    assert repeat_bans([5, 5, 5], 2) == [5]
    assert repeat_bans([1, 2, 3, 1, 2], 0) == [] and repeat_bans([1, 2], 3) == []


def _ngrams(tokens, n):
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def test_no_repeat_ngram_holds_alone_and_in_a_batch_on_both_backends(tiny, onnx_gens):
    """No answer repeats a 3-gram of its own tokens; a batch gives each row what ``chat`` gives it alone."""
    for gen in (tiny, onnx_gens["int8"]):
        loops = 0
        for c in CONVERSATIONS:
            free = _ngrams([t for t, _ in gen._steps(gen.encode_chat(c), 48, 0.0, 0, None)], 3)
            held = _ngrams([t for t, _ in gen._steps(gen.encode_chat(c), 48, 0.0, 0, None, 3)], 3)
            loops += len(set(free)) < len(free)
            assert len(set(held)) == len(held)
        assert loops, "the tiny model repeats itself somewhere without the ban"
        _, many = _same_as_alone(gen, n_tokens=48, no_repeat_ngram=3)
        assert [m.text for m in many] != [m.text for m in gen.chat_many(CONVERSATIONS, max_new_tokens=48)]
        _same_as_alone(gen, n_tokens=48, temperature=1.0, seed=5, no_repeat_ngram=3)
