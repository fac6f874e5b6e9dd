"""Integrity of what the workbench caches and writes (#15): content-keyed model caches, checksummed
ONNX exports, stale temp folders, and long jobs that check their output folder before computing.

Every model cache and export here lives under tmp_path (WORKBENCH_CACHE / WORKBENCH_EXPORTS), never
in the shared cache. GGUF sources are real GGUF files: a 1-layer Llama with a byte-level tokenizer,
written with the ``gguf`` package and converted by transformers like any other (a fraction of a second).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from workbench import io, models
from workbench.cli import main
from workbench.errors import WorkbenchError
from workbench.models import onnx_export, registry
from workbench.models.onnx import OnnxGenerator

Q = [{"role": "user", "content": "How do I open a first session?"}]


# ---- helpers ---------------------------------------------------------------------------------------
def _byte_level_tokenizer() -> dict:
    """GPT-2 style byte-level vocabulary: three specials, the 256 byte symbols, two merges."""
    bs = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", *map(chr, cs), "\u0120t", "\u0120a"]
    return {"tokens": tokens, "types": [3] * 3 + [1] * (len(tokens) - 3), "merges": ["\u0120 t", "\u0120 a"],
            "template": "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"}


def write_gguf(path: Path, seed: int) -> Path:
    """A real GGUF file (f32 tensors) of a 1-layer Llama whose weights depend on ``seed``."""
    import gguf

    tok = _byte_level_tokenizer()
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_context_length(512)
    w.add_embedding_length(32)
    w.add_feed_forward_length(64)
    w.add_head_count(2)
    w.add_head_count_kv(1)
    w.add_rope_freq_base(1e5)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(len(tok["tokens"]))
    w.add_rope_dimension_count(16)
    w.add_file_type(0)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tok["tokens"])
    w.add_token_types(tok["types"])
    w.add_token_merges(tok["merges"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_pad_token_id(2)
    w.add_add_bos_token(False)
    w.add_chat_template(tok["template"])
    rng = np.random.default_rng(seed)
    V, H, F = len(tok["tokens"]), 32, 64

    def rand(*shape):
        return (rng.standard_normal(shape) * 0.05).astype(np.float32)

    w.add_tensor("token_embd.weight", rand(V, H))
    w.add_tensor("output_norm.weight", np.ones(H, np.float32))
    w.add_tensor("output.weight", rand(V, H))
    for name, shape in {"attn_q": (H, H), "attn_k": (16, H), "attn_v": (16, H), "attn_output": (H, H),
                        "ffn_gate": (F, H), "ffn_up": (F, H), "ffn_down": (H, F)}.items():
        w.add_tensor(f"blk.0.{name}.weight", rand(*shape))
    w.add_tensor("blk.0.attn_norm.weight", np.ones(H, np.float32))
    w.add_tensor("blk.0.ffn_norm.weight", np.ones(H, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def flip_byte(path: Path, offset: int | None = None) -> None:
    """Damage one byte in place: same size, same inode, new mtime (as a failing disk or a stray write)."""
    before = path.stat()
    i = before.st_size // 2 if offset is None else offset
    with open(path, "r+b") as fh:
        fh.seek(i)
        b = fh.read(1)
        fh.seek(i)
        fh.write(bytes([b[0] ^ 0xFF]))
    after = path.stat()
    assert after.st_size == before.st_size and after.st_mtime_ns != before.st_mtime_ns


def no_leftovers(folder: Path) -> None:
    """No half-built ``.tmp`` folder or ``.old-*`` swap left anywhere under ``folder``."""
    left = [p for p in folder.rglob(".*") if p.name.endswith(".tmp") or ".old-" in p.name]
    assert not left, left


def unwritable(tmp_path: Path) -> Path:
    """An exports folder nothing can be written in. chmod 0o500 is the natural way, but these tests run
    as root, which ignores permission bits; a path under a regular file stops root too (mkdir fails)."""
    if os.geteuid() != 0:
        d = tmp_path / "read-only"
        d.mkdir()
        d.chmod(0o500)
        return d / "exports"
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be\n")
    return blocker / "exports"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """This module's model cache (built once: the tiny model's tokenizer) and a master fp32 export."""
    root = tmp_path_factory.mktemp("integrity")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WORKBENCH_CACHE", str(root / "cache"))
        mp.setenv("WORKBENCH_EXPORTS", str(root / "exports"))
        onnx_export.export("tiny-llama", variants=("fp32",), out=root / "master")
        yield root


@pytest.fixture(autouse=True)
def _env(home, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CACHE", str(home / "cache"))
    monkeypatch.setenv("WORKBENCH_EXPORTS", str(tmp_path / "exports"))
    monkeypatch.setattr(models, "_LOADED", {})  # each test starts like a new process: nothing loaded yet
    yield
    for p in tmp_path.rglob("*"):  # give pytest back what it may need to delete
        if p.is_dir() and not p.is_symlink():
            p.chmod(0o700)


def fp32_export(home: Path, tmp_path: Path) -> Path:
    """A copy of the master fp32 export where ``workbench export tiny-llama`` puts it."""
    d = tmp_path / "exports" / "onnx" / "tiny-llama" / "fp32"
    shutil.copytree(home / "master" / "fp32", d)
    return d


# ---- model cache keyed by content ------------------------------------------------------------------
def test_flipped_byte_in_a_cached_model_is_detected_on_the_next_load(tmp_path, capsys):
    gguf = write_gguf(tmp_path / "tiny.gguf", seed=0)
    spec = registry.resolve(str(gguf))
    d = registry.ensure_cached(spec)
    registry.load(spec)
    flip_byte(d / "model.safetensors")
    rc = main(["chat", "hi", "--model", str(gguf), "--max-new-tokens", "2"])
    err = capsys.readouterr().err
    assert rc == 2 and "corrupt" in err and str(d / "model.safetensors") in err
    assert "workbench pull --model" in err and "--force" in err and str(d) in err
    with pytest.raises(WorkbenchError, match="model.safetensors"):
        registry.load(spec)
    registry.ensure_cached(spec, force=True)  # the fix the message gives, as a function call
    model, _ = registry.load(spec)
    assert model.config.num_hidden_layers == 1
    no_leftovers(d.parent)


def test_a_replaced_gguf_is_converted_again_and_a_touched_one_is_not(tmp_path):
    gguf = write_gguf(tmp_path / "tiny.gguf", seed=0)
    spec = registry.resolve(str(gguf))
    first, _ = registry.load(spec)
    d = registry.ensure_cached(spec)
    stamp = (d / "model.safetensors").stat().st_mtime_ns
    os.utime(gguf, ns=(time.time_ns(), time.time_ns() + 10**9))  # same bytes, new mtime: hashed, reused
    registry.ensure_cached(spec)
    assert (d / "model.safetensors").stat().st_mtime_ns == stamp
    write_gguf(gguf, seed=1)  # new weights under the same name
    second, _ = registry.load(spec)
    assert not np.allclose(first.lm_head.weight.detach().numpy(), second.lm_head.weight.detach().numpy())
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["source"]["sha256"] == io.sha256_file(gguf) and manifest["source"]["size"] == gguf.stat().st_size
    assert registry.is_cached(spec)
    no_leftovers(d.parent)


def test_two_gguf_files_with_one_name_never_share_a_cache(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    specs = [registry.resolve(str(write_gguf(tmp_path / x / "model.gguf", seed=i))) for i, x in enumerate("ab")]
    assert specs[0].name == specs[1].name == "model"
    (ma, _), (mb, _) = (registry.load(s) for s in specs)
    assert registry.ensure_cached(specs[0]) != registry.ensure_cached(specs[1])
    assert not np.allclose(ma.lm_head.weight.detach().numpy(), mb.lm_head.weight.detach().numpy())


def test_random_bytes_saved_as_the_default_models_name_are_refused(tmp_path, capsys):
    bad = tmp_path / "smollm2-135m-instruct.gguf"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    rc = main(["chat", "hi", "--model", str(bad)])
    err = capsys.readouterr().err
    assert rc == 2 and "is not a GGUF model file" in err and f"Where: {bad}" in err and "Fix:" in err
    models_dir = Path(os.environ["WORKBENCH_CACHE"]) / "models"
    cached = list(models_dir.iterdir()) if models_dir.exists() else []
    assert not any(p.name.startswith("smollm2-135m-instruct-") for p in cached)  # nothing was cached
    no_leftovers(models_dir)


def test_a_converted_gguf_overwritten_with_random_bytes_never_answers_from_the_old_cache(tmp_path, capsys):
    gguf = write_gguf(tmp_path / "smollm2-135m-instruct.gguf", seed=0)
    assert main(["chat", "hi", "--model", str(gguf), "--max-new-tokens", "2"]) == 0
    size = gguf.stat().st_size
    gguf.write_bytes(np.random.default_rng(1).bytes(size))  # same name, same size, other bytes
    models._LOADED.clear()  # as a new process would
    rc = main(["chat", "hi", "--model", str(gguf), "--max-new-tokens", "2"])
    err = capsys.readouterr().err
    assert rc == 2 and "is not a GGUF model file" in err and str(gguf) in err and "Fix:" in err


def test_a_damaged_tokenizer_cache_is_reported_and_pull_force_repairs_it(home, tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    shutil.copytree(home / "cache" / "tokenizers", cache / "tokenizers")
    monkeypatch.setenv("WORKBENCH_CACHE", str(cache))
    tok = cache / "tokenizers" / "smollm2" / "tokenizer.json"
    flip_byte(tok)
    rc = main(["chat", "hi", "--model", "tiny-llama", "--max-new-tokens", "2"])
    err = capsys.readouterr().err
    assert rc == 2 and str(tok) in err and "workbench pull --model tiny-llama --force" in err
    assert main(["pull", "--model", "tiny-llama", "--force"]) == 0
    assert main(["chat", "hi", "--model", "tiny-llama", "--max-new-tokens", "2"]) == 0
    no_leftovers(cache)


# ---- ONNX exports ----------------------------------------------------------------------------------
def test_flipped_byte_in_an_onnx_export_is_detected(home, tmp_path, capsys):
    d = fp32_export(home, tmp_path)
    assert OnnxGenerator(d).chat(Q, max_new_tokens=2).completion_tokens == 2
    flip_byte(d / "model.onnx")
    with pytest.raises(WorkbenchError) as e:
        OnnxGenerator(d)
    msg = str(e.value)
    assert "corrupt" in msg and str(d / "model.onnx") in msg
    assert "workbench export tiny-llama --variants fp32 --force" in msg
    with pytest.raises(WorkbenchError, match="model.onnx"):  # the way the agent and the widgets load it
        models.get_generator("tiny-llama", backend="onnx", variant="fp32")
    rc = main(["export", "tiny-llama", "--variants", "fp32"])  # export without --force does not paper over it
    err = capsys.readouterr().err
    assert rc == 2 and str(d / "model.onnx") in err and "--force" in err


def test_export_force_repairs_a_damaged_export(home, tmp_path, capsys):
    d = fp32_export(home, tmp_path)
    flip_byte(d / "tokenizer.json")
    assert main(["export", "tiny-llama", "--variants", "fp32", "--force"]) == 0
    assert "faithful" in capsys.readouterr().out
    gen = OnnxGenerator(d)
    assert gen.chat(Q, max_new_tokens=2).completion_tokens == 2
    assert onnx_export.verify_export(d)["sha256"]["tokenizer.json"] == io.sha256_file(d / "tokenizer.json")
    no_leftovers(d.parent)


def test_an_export_without_checksums_is_never_loaded_and_export_rebuilds_it(home, tmp_path):
    d = fp32_export(home, tmp_path)
    manifest = json.loads((d / "manifest.json").read_text())
    old = {k: v for k, v in manifest.items() if k != "sha256"} | {"format": 1}  # as workbench wrote it before
    (d / "manifest.json").write_text(json.dumps(old))
    with pytest.raises(WorkbenchError) as e:
        OnnxGenerator(d)
    assert "without checksums" in str(e.value) and str(d / "manifest.json") in str(e.value)
    assert "workbench export tiny-llama --variants fp32 --force" in str(e.value)
    assert onnx_export.read_manifest(d) is None  # stale: export rebuilds it without being told
    r = onnx_export.export("tiny-llama", variants=("fp32",))
    assert r.variants["fp32"].built and OnnxGenerator(d).variant == "fp32"


def test_an_export_with_no_manifest_is_not_loaded(home, tmp_path):
    d = fp32_export(home, tmp_path)
    (d / "manifest.json").unlink()
    with pytest.raises(WorkbenchError) as e:
        OnnxGenerator(d)
    assert "no manifest.json" in str(e.value) and f"Where: {d}" in str(e.value) and "--force" in str(e.value)


def test_a_damaged_fp32_is_reported_before_a_quantized_variant_is_built_from_it(home, tmp_path):
    d = fp32_export(home, tmp_path)
    flip_byte(d / "model.onnx", offset=(d / "model.onnx").stat().st_size - 100)
    with pytest.raises(WorkbenchError) as e:
        onnx_export.export("tiny-llama", variants=("int8",))
    assert str(d / "model.onnx") in str(e.value) and "--force" in str(e.value)
    assert not (d.parent / "int8").exists()
    no_leftovers(d.parent)


# ---- stale temp folders ------------------------------------------------------------------------------
def test_flipped_byte_in_the_embedding_export_is_detected(tmp_path, monkeypatch):
    from workbench.models import embeddings

    shared = embeddings.onnx_dir()  # the shared export, verified; a copy of it is damaged below
    copy = tmp_path / "cache" / "embeddings" / shared.name
    shutil.copytree(shared, copy)
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    assert embeddings.onnx_dir() == copy
    flip_byte(copy / "int8.onnx")
    with pytest.raises(WorkbenchError) as e:
        embeddings.onnx_dir()
    assert "int8.onnx" in str(e.value) and "workbench pull" in str(e.value) and str(copy) in str(e.value)


def test_stale_tmp_folders_are_removed_at_the_next_build_and_fresh_ones_kept(tmp_path):
    parent = tmp_path / "indexes"
    parent.mkdir()
    two_days_ago = time.time() - 2 * 86400
    stale = [parent / ".knowledge.k3j2l1.tmp", parent / ".knowledge.old-4242", parent / ".other.x1y2z3.tmp"]
    for p in stale:
        (p / "txtai").mkdir(parents=True)
        (p / "txtai" / "half.bin").write_bytes(b"x" * 10)
        for q in (p / "txtai" / "half.bin", p / "txtai", p):
            os.utime(q, (two_days_ago, two_days_ago))
    fresh = parent / ".knowledge.a9b8c7.tmp"  # another process may be building this one right now
    fresh.mkdir()
    kept = parent / ".hidden-user-folder"
    kept.mkdir()
    os.utime(kept, (two_days_ago, two_days_ago))
    with io.atomic_dir(parent / "knowledge") as tmp:
        (tmp / "manifest.json").write_text("{}")
    assert sorted(p.name for p in parent.iterdir()) == sorted([fresh.name, kept.name, "knowledge"])


def test_a_stale_folder_with_a_fresh_file_inside_is_kept(tmp_path):
    old = tmp_path / ".model.abc123.tmp"
    old.mkdir()
    two_days_ago = time.time() - 2 * 86400
    (old / "model.safetensors").write_bytes(b"still being written")
    os.utime(old, (two_days_ago, two_days_ago))
    assert io.remove_stale(tmp_path) == [] and old.exists()


# ---- writable before a long job ---------------------------------------------------------------------
def test_check_writable_names_the_folder_and_the_fix(tmp_path):
    target = unwritable(tmp_path)
    with pytest.raises(WorkbenchError) as e:
        io.check_writable(target / "profiles")
    msg = str(e.value)
    assert f"Where: {target / 'profiles'}" in msg and "WORKBENCH_EXPORTS" in msg and "Fix:" in msg
    ok = io.check_writable(tmp_path / "new" / "folder")
    assert ok.is_dir() and list(ok.iterdir()) == []  # the probe file is gone


@pytest.mark.parametrize("argv, folder", [
    (["profile", "--model", "tiny-llama", "--variants", "1"], "profiles"),
    (["finetune", "--model", "tiny-llama", "--steps", "1"], "runs/cotherapist"),
    (["evaluate", "--model", "tiny-llama", "--configs", "base", "--limit", "1"], "evaluations"),
    (["index"], "indexes"),
    (["export", "tiny-llama", "--variants", "fp32"], "onnx/tiny-llama"),
])
def test_long_jobs_fail_fast_on_an_unwritable_exports_folder(argv, folder, tmp_path, monkeypatch, capsys):
    exports = unwritable(tmp_path)
    monkeypatch.setenv("WORKBENCH_EXPORTS", str(exports))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    monkeypatch.setattr(models, "_LOADED", {})
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2 and "Cannot write to" in err and f"{exports}/{folder}" in err
    assert "WORKBENCH_EXPORTS" in err and "Fix:" in err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing half-written anywhere
    assert models._LOADED == {}  # it failed before loading a model or computing anything
