"""Trained adapters on disk: exports/adapters/<name> (LoRA weights + manifest.json), and the one way to
turn an adapter into a model the registry loads by name (exports/models/<name>).

The package ships one adapter, ``cotherapist`` for the default model (``shipped/``, 1 MB, with its training
manifest), so a fresh install has the full co-therapist; one trained under the same name in exports/ takes
its place."""

from __future__ import annotations

import json
import time
from pathlib import Path

from workbench import paths
from workbench.errors import WorkbenchError
from workbench.io import atomic_dir, write_json

__all__ = ["adapter_dir", "check_name", "has_adapter", "list_adapters", "load_with_adapter", "merge", "merged_dir",
           "merged_model", "read_manifest", "shipped_dir", "shipped_evaluation", "trained_dir"]


def _trained_root() -> Path:
    return paths.exports_dir() / "adapters"


_SHIPPED_ROOT = Path(__file__).parent / "shipped"


def trained_dir(name: str) -> Path:
    """Where training writes adapter ``name``: exports/adapters/<name>."""
    return _trained_root() / name


def shipped_dir(name: str) -> Path:
    return _SHIPPED_ROOT / name


def adapter_dir(name: str) -> Path:
    """Where adapter ``name`` is read from: the one trained here, else the one shipped with the package."""
    own = trained_dir(name)
    if not (own / "manifest.json").is_file() and (shipped_dir(name) / "manifest.json").is_file():
        return shipped_dir(name)
    return own


def has_adapter(name: str, base_model: str | None = None) -> bool:
    """Whether adapter ``name`` exists (trained or shipped), and was trained on ``base_model`` when given."""
    try:
        manifest = read_manifest(name)
    except WorkbenchError:
        return False
    return base_model is None or manifest.get("base_model") == base_model


def merged_dir(name: str) -> Path:
    return paths.exports_dir() / "models" / name


def check_name(name: str) -> None:
    if not name or "/" in name or name.startswith("."):
        raise WorkbenchError(f"Adapter name {name!r} is not a plain folder name.",
                             fix="use letters, digits, - and _, e.g. cotherapist")


def list_adapters() -> list[dict]:
    """The manifest of every adapter a name reaches, trained or shipped."""
    return [read_manifest(n) for n in _names()]


def _names() -> list[str]:
    """Every adapter name with a manifest, trained here or shipped."""
    return sorted({d.name for root in (_trained_root(), _SHIPPED_ROOT) if root.is_dir()
                   for d in root.iterdir() if (d / "manifest.json").is_file()})


def shipped_evaluation(name: str) -> dict | None:
    """The evaluation stored with a shipped adapter (``evaluation.json``: its summaries against base), when the
    adapter in use has the weights it was measured with: a small demo run has intervals too wide to show the
    effect, this does not. None for other weights, or an adapter shipped without one."""
    from workbench.io import sha256_file

    path, weights = shipped_dir(name) / "evaluation.json", adapter_dir(name) / "adapter_model.safetensors"
    if not path.is_file() or not weights.is_file():
        return None
    stored = json.loads(path.read_text())
    return stored if stored.get("adapter_sha256") == sha256_file(weights) else None


def read_manifest(name: str) -> dict:
    path = adapter_dir(name) / "manifest.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        known = ", ".join(_names()) or "none yet"
        fix = f"train it first: workbench finetune --name {name}   (adapters here: {known})"
        raise WorkbenchError(f"No adapter named {name!r}.", where=str(path.parent), fix=fix) from None


def load_with_adapter(name: str):
    """(model, tokenizer, base spec) with the adapter merged in memory, ready for generation."""
    from peft import PeftModel

    from workbench.models import registry

    manifest = read_manifest(name)
    spec = registry.resolve(manifest["base_source"] or manifest["base_model"])
    model, tok = registry.load(spec)
    model = PeftModel.from_pretrained(model, str(adapter_dir(name))).merge_and_unload()
    model.eval()
    return model, tok, spec


def merge(name: str, out: str | Path | None = None) -> Path:
    """Write base + adapter as one full model under exports/models/<name>; the registry lists it."""
    model, tok, spec = load_with_adapter(name)
    out = Path(out) if out else merged_dir(name)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        write_json(tmp / "merge.json", {"adapter": name, "base_model": spec.name,
                                        "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return out


def merged_model(name: str) -> str:
    """The registry name of base + adapter ``name`` as one loadable model (exports/models/<name>).

    Merges when that model is missing, or stale: made from another base, or older than the adapter
    (retrained since), so a caller never runs last week's weights under this week's name.
    """
    manifest = read_manifest(name)  # no adapter: says how to train it
    merged = merged_dir(name)
    try:
        info = json.loads((merged / "merge.json").read_text())
    except (OSError, ValueError):
        info = {}
    stale = (info.get("base_model") != manifest.get("base_model")
             or str(info.get("created", "")) < str(manifest.get("created", "")))
    if not (merged / "config.json").is_file() or stale:
        merge(name)
    return name
