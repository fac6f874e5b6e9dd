"""Where corpora, exports and the model cache live. Each is overridable by an env var."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DEFAULT_MODEL", "ROOT", "cache_dir", "corpora_dir", "default_model", "exports_dir", "offline"]

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_MODEL = "smollm2-135m-instruct"


def corpora_dir() -> Path:
    return Path(os.environ.get("WORKBENCH_CORPORA", ROOT / "corpora"))


def exports_dir() -> Path:
    return Path(os.environ.get("WORKBENCH_EXPORTS", ROOT / "exports"))


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "cotherapist-workbench"
    return Path(os.environ.get("WORKBENCH_CACHE", default))


def default_model() -> str:
    """The model used when none is named; ``WORKBENCH_MODEL`` switches it (e.g. to tiny-llama in tests)."""
    return os.environ.get("WORKBENCH_MODEL", DEFAULT_MODEL)


def offline() -> None:
    """Nothing loads from a model hub: every model and tokenizer comes from disk."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
