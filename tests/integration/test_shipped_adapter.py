"""The co-therapist adapter that ships with the package: found on a fresh install, reproducible from its
manifest, and loaded onto the real default model."""

from __future__ import annotations

import shutil
from dataclasses import asdict

import pytest

from workbench import finetune as ft
from workbench import paths
from workbench.io import sha256_file

pytestmark = pytest.mark.integration

MODEL = "smollm2-135m-instruct"
RECIPE = ("system", "epochs", "lr", "rank", "alpha", "dropout", "target_modules", "layers", "tokens_per_batch",
          "grad_accum", "max_length", "eval_fraction", "warmup", "seed", "model", "data")


@pytest.fixture()
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_EXPORTS", str(tmp_path / "exports"))  # nothing trained here


def test_a_fresh_install_has_the_cotherapist_adapter(fresh):
    assert ft.adapter_dir("cotherapist") == ft.shipped_dir("cotherapist")
    assert ft.has_adapter("cotherapist", MODEL)
    assert [m["name"] for m in ft.list_adapters()] == ["cotherapist"]
    assert (ft.shipped_dir("cotherapist") / "adapter_model.safetensors").stat().st_size < 4_000_000


def test_the_manifest_says_how_to_train_it_again(fresh):
    """`workbench finetune --name cotherapist` reproduces it: the defaults are its recipe, and the shipped
    dialogues are the ones it was trained on. Editing a dialogue fails here: retrain and ship the adapter again
    (see workbench/finetune/shipped/README.md)."""
    m = ft.read_manifest("cotherapist")
    assert m["base_model"] == MODEL and m["steps"] > 0 and m["eval_loss"] is not None
    defaults = asdict(ft.TrainConfig())
    assert {k: m["hyperparameters"][k] for k in RECIPE} == {k: defaults[k] for k in RECIPE}
    shipped = sorted((paths.corpora_dir() / "dialogues").glob("*.jsonl"))
    assert sorted(m["data"]) == [f"corpora/dialogues/{f.name}" for f in shipped]
    for f in shipped:
        assert m["data"][f"corpora/dialogues/{f.name}"] == sha256_file(f), f"{f.name} changed since training"


def test_the_adapter_loads_on_the_default_model_and_changes_it(fresh):
    import torch

    from workbench.models import registry
    from workbench.models.generate import TorchGenerator

    tuned, tok, spec = ft.load_with_adapter("cotherapist")
    base, _ = registry.load(spec)
    top = base.config.num_hidden_layers - 1
    name = f"model.layers.{top}.self_attn.q_proj.weight"
    bottom = "model.layers.0.self_attn.q_proj.weight"  # below the adapted layers
    tuned_w, base_w = dict(tuned.named_parameters()), dict(base.named_parameters())
    assert not torch.allclose(tuned_w[name], base_w[name])
    assert torch.equal(tuned_w[bottom], base_w[bottom])
    answer = TorchGenerator(tuned, tok, "cotherapist").chat(
        "My client cancels every time we plan an exposure exercise. How can I respond?", max_new_tokens=40)
    assert len(answer.text.split()) >= 10


def test_the_stored_evaluation_is_this_adapters_and_a_trained_one_has_none(fresh):
    """``evaluation.json`` (what ``make demo`` shows beside its small run) was measured with these weights:
    retraining the adapter fails here until it is measured again; an adapter trained here to other weights has none."""
    ev = ft.shipped_evaluation("cotherapist")
    assert ev["adapter_sha256"] == sha256_file(ft.shipped_dir("cotherapist") / "adapter_model.safetensors")
    for title, summary in ev["runs"].items():
        assert summary["status"] == "done" and {"base", "cotherapist"} <= set(summary["configs"]), title
        assert summary["configs"]["cotherapist"]["diff_vs_base"]["n"] == summary["configs"]["base"]["n"] >= 60
    own = ft.trained_dir("cotherapist")
    shutil.copytree(ft.shipped_dir("cotherapist"), own)  # trained here to the same weights: still its numbers
    assert ft.shipped_evaluation("cotherapist") == ev
    (own / "adapter_model.safetensors").write_bytes(b"other weights")
    assert ft.shipped_evaluation("cotherapist") is None
