"""Trained adapters on disk: exports/adapters/<name> (LoRA weights + manifest.json), and the one way to
turn an adapter into a model the registry loads by name (exports/models/<name>)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from workbench import paths
from workbench.errors import WorkbenchError
from workbench.io import atomic_dir, write_json

__all__ = ["adapter_dir", "check_name", "list_adapters", "load_with_adapter", "merge", "merged_dir", "merged_model",
           "read_manifest"]


def adapter_dir(name: str) -> Path:
    return paths.exports_dir() / "adapters" / name


def merged_dir(name: str) -> Path:
    return paths.exports_dir() / "models" / name


def check_name(name: str) -> None:
    if not name or "/" in name or name.startswith("."):
        raise WorkbenchError(f"Adapter name {name!r} is not a plain folder name.",
                             fix="use letters, digits, - and _, e.g. cotherapist")


def list_adapters() -> list[dict]:
    root = paths.exports_dir() / "adapters"
    return [read_manifest(d.name) for d in sorted(root.iterdir())
            if (d / "manifest.json").is_file()] if root.is_dir() else []


def read_manifest(name: str) -> dict:
    path = adapter_dir(name) / "manifest.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        known = ", ".join(sorted(p.name for p in adapter_dir(name).parent.glob("*"))) or "none yet"
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
