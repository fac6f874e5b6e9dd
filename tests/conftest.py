"""Shared fixtures. Tests use real models: tiny-llama for speed, the default model for integration."""

from __future__ import annotations

import os
from contextlib import contextmanager

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def _exports(tmp_path_factory):
    """Keep test output out of the user's exports/ unless the caller chose a place."""
    if "WORKBENCH_EXPORTS" not in os.environ:
        os.environ["WORKBENCH_EXPORTS"] = str(tmp_path_factory.mktemp("exports"))
    yield


@pytest.fixture(scope="session")
def tiny():
    from workbench.models import get_generator

    return get_generator("tiny-llama")


@pytest.fixture(scope="session")
def smol():
    from workbench.models import get_generator

    return get_generator("smollm2-135m-instruct")


@contextmanager
def evaluation_exports(root, queries: list[dict], *, index: bool = False):
    """WORKBENCH_EXPORTS under ``root`` holding the tiny 'cotherapist' adapter (and the index if asked);
    yields a JSONL file of ``queries``. For module-scoped fixtures, which cannot use ``monkeypatch``."""
    import json

    mp = pytest.MonkeyPatch()
    mp.setenv("WORKBENCH_EXPORTS", str(root / "exports"))
    try:
        train_tiny_cotherapist(root)
        if index:
            from workbench import retrieval

            retrieval.build_index()
        path = root / "queries.jsonl"
        path.write_text("".join(json.dumps(q) + "\n" for q in queries))
        yield path
    finally:
        mp.undo()


def train_tiny_cotherapist(root):
    """A 2-step tiny-llama 'cotherapist' adapter under ``root``'s current WORKBENCH_EXPORTS, as evaluate needs."""
    import json

    from workbench import finetune as ft

    data = root / "dialogues.jsonl"
    turns = [[{"role": "user", "content": f"Question {i}: how do I open a first session with a tense client?"},
              {"role": "assistant", "content": "Name the purpose, then ask what they hope to get from it."}]
             for i in range(6)]
    data.write_text("".join(json.dumps({"id": f"d{i}", "messages": m}) + "\n" for i, m in enumerate(turns)))
    r = ft.train(ft.TrainConfig(name="cotherapist", model="tiny-llama", data=[str(data)], steps=2, system="none",
                                tokens_per_batch=256, eval_fraction=0.2, eval_every=0, save_every=0, warmup=0))
    assert r.status == "done"
    return r


@pytest.fixture
def empty_vector_store(tmp_path, monkeypatch):
    """A cache dir whose embedding VectorStore starts empty; the exported MiniLM is linked in, not re-exported."""
    from workbench import paths
    from workbench.models.embeddings import onnx_dir

    model = onnx_dir()
    cache = tmp_path / "cache"
    (cache / "embeddings").mkdir(parents=True)
    (cache / "embeddings" / model.name).symlink_to(model)
    for sub in ("models", "tokenizers"):
        if (paths.cache_dir() / sub).exists():
            (cache / sub).symlink_to(paths.cache_dir() / sub)
    monkeypatch.setenv("WORKBENCH_CACHE", str(cache))
    return cache
