"""ONNX export, quantized variants, parity and the ONNX Runtime generator, on the tiny test model."""

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import onnx
import pytest

from workbench import parity
from workbench.errors import WorkbenchError
from workbench.models import get_generator, onnx_graph
from workbench.models import onnx_export as export
from workbench.models.onnx import OnnxGenerator

Q = [{"role": "user", "content": "How do I start a thought record with a client?"}]
Q2 = [{"role": "system", "content": "You are a careful clinical supervisor."},
      {"role": "user", "content": "My client cancels often. What could I say?"}]
OPTIONS = ["1", "Strongly agree", "I would rather not say that", "5"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """One export of every variant into a throwaway exports dir, shared by this module's tests."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_EXPORTS", str(tmp_path_factory.mktemp("exports")))
        result = export.export("tiny-llama")
        yield result


@pytest.fixture(scope="module")
def onnx_fp32(exported):
    return OnnxGenerator(exported.path("fp32"), "tiny-llama")


def _ops(path):
    model = onnx.load(str(path / "model.onnx"), load_external_data=False)
    return model, [n.op_type for n in model.graph.node]


def test_every_variant_has_a_manifest_and_loads_standalone(exported):
    assert exported.status == "done" and set(exported.variants) == set(export.VARIANTS)
    for v in export.VARIANTS:
        d = exported.path(v)
        assert d.parent.name == "tiny-llama" and d.parent.parent.name == "onnx"
        manifest = export.read_manifest(d)
        assert manifest["variant"] == v and manifest["source"]["model"] == "tiny-llama"
        assert manifest["workbench_version"] and manifest["created"] and manifest["export_seconds"] >= 0
        assert {"model.onnx", "config.json", "tokenizer.json", "tokenizer_config.json"} <= set(manifest["files"])
        assert manifest["size_bytes"] == sum(manifest["files"].values())
        gen = OnnxGenerator(d)  # tokenizer and config from the variant directory alone
        c = gen.chat(Q, max_new_tokens=4)
        assert gen.variant == v and c.backend == "onnx" and c.completion_tokens == 4


def test_graph_edits_and_weight_quantization(exported):
    model, ops = _ops(exported.path("fp32"))
    assert ops.count("GroupQueryAttention") == 2 and "Softmax" not in ops
    assert {i.name for i in model.graph.input} >= {"input_ids", "attention_mask", "logits_to_keep"}
    for v in ("int8", "int4"):
        model, ops = _ops(exported.path(v))
        bits = {a.i for n in model.graph.node if n.op_type == "MatMulNBits" for a in n.attribute if a.name == "bits"}
        assert "MatMul" not in ops and bits == {export.QUANTIZATION[v]["bits"]}
        assert ops.count("MatMulNBits") == 2 * 5 + 1  # qkv, o, gate, up, down in each layer, and lm_head
    sizes = {v: exported.variants[v].size_bytes for v in export.VARIANTS}
    assert sizes["int4"] < sizes["int8"] < sizes["fp32"]


def test_fp32_greedy_text_is_token_identical_to_torch(tiny, onnx_fp32):
    for messages in (Q, Q2):
        a = tiny.chat(messages, max_new_tokens=24)
        b = onnx_fp32.chat(messages, max_new_tokens=24)
        assert b.text == a.text and b.completion_tokens == a.completion_tokens
        assert b.prompt_tokens == a.prompt_tokens and b.prefill_s > 0 and b.decode_s > 0


def test_fp32_logits_and_scores_match_torch(tiny, onnx_fp32):
    import torch

    ids = tiny.encode_chat(Q2)
    with torch.inference_mode():
        ref = tiny.model(torch.tensor([ids])).logits[0].numpy()
    assert np.abs(onnx_fp32.logits(ids) - ref).max() < 1e-4
    assert onnx_fp32.score_options(Q, OPTIONS) == pytest.approx(tiny.score_options(Q, OPTIONS), abs=1e-4)
    system = {"role": "system", "content": "Rate each statement about yourself."}
    convs = [[system, {"role": "user", "content": t}] for t in ("I am calm.", "I get stressed easily.", "I like art.")]
    got, want = onnx_fp32.score_many(convs, OPTIONS), tiny.score_many(convs, OPTIONS)
    for g, w in zip(got, want, strict=True):
        assert g == pytest.approx(w, abs=1e-4)


def test_stop_string_and_cancel(onnx_fp32):
    full = onnx_fp32.chat(Q, max_new_tokens=20).text
    stop = full.split()[3]
    cut = onnx_fp32.chat(Q, max_new_tokens=20, stop=[stop])
    assert cut.finish_reason == "stop" and stop not in cut.text and full.startswith(cut.text)
    flag, pieces = threading.Event(), []
    for p in onnx_fp32.stream(Q, max_new_tokens=200, cancel=flag):
        pieces.append(p)
        if len(pieces) == 3:
            flag.set()
    assert onnx_fp32.last.finish_reason == "cancelled" and onnx_fp32.last.completion_tokens < 10


def test_shared_buffers_are_used_one_call_at_a_time(onnx_fp32):
    want = onnx_fp32.chat(Q2, max_new_tokens=12).text
    stream = onnx_fp32.stream(Q, max_new_tokens=50)
    next(stream)
    with pytest.raises(WorkbenchError, match="still streaming"):  # same thread: an error, not a hang
        onnx_fp32.chat(Q2, max_new_tokens=12)
    stream.close()
    got = []
    threads = [threading.Thread(target=lambda: got.append(onnx_fp32.chat(Q2, max_new_tokens=12).text))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [want] * 3


def test_sampling_is_seeded(onnx_fp32):
    a = onnx_fp32.chat(Q, max_new_tokens=8, temperature=1.0, seed=3).text
    assert a == onnx_fp32.chat(Q, max_new_tokens=8, temperature=1.0, seed=3).text
    assert len({onnx_fp32.chat(Q, max_new_tokens=8, temperature=1.0, seed=s).text for s in range(3)}) == 3


def test_graph_without_fusion_still_matches_torch(tiny, tmp_path, monkeypatch):
    """Architectures the attention edit does not cover keep Optimum's graph and the OrtValue KV path."""
    monkeypatch.setattr(onnx_graph, "FUSABLE", ())
    d = export.export("tiny-llama", variants=("fp32",), out=tmp_path).path("fp32")
    gen = OnnxGenerator(d)
    assert not gen.shared_kv and "GroupQueryAttention" not in _ops(d)[1]
    assert gen.chat(Q, max_new_tokens=16).text == tiny.chat(Q, max_new_tokens=16).text
    assert gen.score_options(Q2, OPTIONS) == pytest.approx(tiny.score_options(Q2, OPTIONS), abs=1e-4)


def test_parity_report_and_check(exported):
    small = {"prompts": parity.PROBES[:3], "k_tokens": 12, "n_dialogues": 3}
    fp32 = parity.parity("tiny-llama", "fp32", out=exported.root, **small)
    assert fp32.max_abs_logit_diff < 1e-3 and fp32.greedy_agreement == 1.0 and fp32.passed
    assert fp32.ppl > 1 and fp32.ppl_delta_pct == 0.0 and fp32.ppl_delta_pct_vs_torch < 0.01
    saved = json.loads((exported.path("fp32") / "parity.json").read_text())
    assert saved["max_abs_logit_diff"] == fp32.max_abs_logit_diff
    assert parity.check_parity(fp32) is fp32
    with pytest.raises(WorkbenchError) as e:
        parity.check_parity(fp32, {"max_abs_logit_diff": ("<=", -1.0)})
    assert "fp32" in str(e.value) and "max_abs_logit_diff" in str(e.value) and "Fix:" in str(e.value)

    int4 = parity.parity("tiny-llama", "int4", out=exported.root, save=False, **small)
    assert int4.max_abs_logit_diff > fp32.max_abs_logit_diff  # quantization shows in the logits
    assert 0.0 <= int4.greedy_agreement <= 1.0 and len(int4.greedy_agreement_per_prompt) == 3
    assert int4.ppl_fp32 == pytest.approx(fp32.ppl) and np.isfinite(int4.ppl_delta_pct)
    with pytest.raises(WorkbenchError, match="greedy_agreement"):
        parity.check_parity(int4, {"greedy_agreement": (">=", 1.01)})


def test_reexport_skips_intact_and_rebuilds_corrupt(exported):
    again = export.export("tiny-llama", out=exported.root)
    assert not any(v.built for v in again.variants.values())
    model = exported.path("int4") / "model.onnx"
    model.write_bytes(model.read_bytes()[:1000])  # a truncated write
    fixed = export.export("tiny-llama", out=exported.root)
    assert {v for v, x in fixed.variants.items() if x.built} == {"int4"}
    assert OnnxGenerator(exported.path("int4")).chat(Q, max_new_tokens=3).completion_tokens == 3


def test_get_generator_exports_on_first_use(exported, monkeypatch):
    root = Path(exported.root)
    monkeypatch.setenv("WORKBENCH_EXPORTS", str(root.parent.parent))
    shutil.rmtree(root / "int8")
    messages = []
    gen = get_generator("tiny-llama", backend="onnx", variant="int8", progress=messages.append, fresh=True)
    assert gen.backend == "onnx" and gen.variant == "int8" and any("int8" in m for m in messages)
    assert get_generator("tiny-llama", backend="onnx", variant="int8") is gen
    with pytest.raises(WorkbenchError, match="ONNX backend only"):
        get_generator("tiny-llama", variant="int8")
    with pytest.raises(WorkbenchError, match="Unknown ONNX variant"):
        get_generator("tiny-llama", backend="onnx", variant="int3")


def test_speed_reports_both_backends(tiny, onnx_fp32):
    for gen in (tiny, onnx_fp32):
        s = parity.speed(gen, max_new_tokens=8)
        assert s.backend == gen.backend and s.decode_tokens > 0
        assert s.prefill_tok_s > 0 and s.decode_tok_s > 0 and s.peak_rss_mb > 0
