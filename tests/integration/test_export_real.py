"""The real default model exported to ONNX: fp32, int8 and int4 (the GGUF's own 4-bit blocks) are faithful, a
parity failure is caught,
and a short LoRA run on the real model trains, merges and loads by name."""

import pytest

from workbench import parity
from workbench.errors import WorkbenchError
from workbench.models import onnx_export as export

pytestmark = pytest.mark.integration
MODEL = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def exported():
    return export.export(MODEL, variants=("fp32", "int8", "int4"))


def test_fp32_matches_torch(exported):
    report = parity.check_parity(parity.parity(MODEL, "fp32"))
    assert report.greedy_agreement == 1.0 and report.max_abs_logit_diff < 1e-3
    assert abs(report.ppl_delta_pct_vs_torch) < 0.1


def test_int8_and_int4_are_faithful_and_a_failure_is_flagged(exported):
    int8 = parity.check_parity(parity.parity(MODEL, "int8"))
    assert int8.ppl_delta_pct < 5.0 and int8.greedy_agreement >= 0.5
    int4 = parity.parity(MODEL, "int4")
    # Q4_1 blocks written back exactly: within 1 % (round-to-nearest 4 bits measured +15 %, agreement 0.09).
    # Greedy agreement (0.51 on a Xeon) sits at its limit, so it is reported, not asserted.
    assert "150 Q4_1 weights" in export.read_manifest(exported.path("int4"))["quantization"]["method"]
    assert abs(int4.ppl_delta_pct) < 1.0 and int4.max_abs_logit_diff < 5.0
    with pytest.raises(WorkbenchError, match="int4 .* fails parity"):
        parity.check_parity(int4, {"ppl_delta_pct": ("<=", int4.ppl_delta_pct - 0.01)})


def test_onnx_backend_answers_like_torch(exported):
    from workbench.models import get_generator

    q = "In one sentence, what is behavioural activation?"
    a = get_generator(MODEL).chat(q, max_new_tokens=24)
    b = get_generator(MODEL, "onnx", variant="fp32").chat(q, max_new_tokens=24)
    assert a.text == b.text and b.backend == "onnx"


def test_short_lora_run_on_the_real_model_merges_and_loads(tmp_path, monkeypatch):
    from workbench import finetune as ft
    from workbench.models import registry

    monkeypatch.setenv("WORKBENCH_EXPORTS", str(tmp_path))
    r = ft.train(ft.TrainConfig(name="smoke", model=MODEL, steps=2, tokens_per_batch=1024, eval_every=2,
                                save_every=0, system="none"))
    assert r.status == "done" and r.eval_loss is not None and r.eval_loss < 10  # a trained model, not noise
    ft.merge("smoke")
    model, tok = registry.load(registry.resolve("smoke"))
    assert model.config.num_hidden_layers == 30
