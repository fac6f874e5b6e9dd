"""Model registry, cache and generators. ``get_generator(name, backend)`` is the one entry point."""

from __future__ import annotations

from workbench.models.generate import Completion, Generator, check_messages
from workbench.models.registry import ModelSpec, list_models, resolve

_LOADED: dict[tuple[str, str], object] = {}


def get_generator(name: str | None = None, backend: str = "torch", *, progress=None, fresh: bool = False):
    """Load (once per process) and return a Generator for a model name or path."""
    from workbench.errors import WorkbenchError
    from workbench.models import registry

    spec = resolve(name)
    key = (spec.name + ":" + spec.source, backend)
    if not fresh and key in _LOADED:
        return _LOADED[key]
    if backend == "torch":
        from workbench.models.generate import TorchGenerator

        model, tok = registry.load(spec, progress)
        gen = TorchGenerator(model, tok, spec.name)
    else:
        raise WorkbenchError(f"Unknown backend {backend!r}.", fix="use backend='torch'")
    _LOADED[key] = gen
    return gen


__all__ = ["Completion", "Generator", "ModelSpec", "check_messages", "get_generator", "list_models", "resolve"]
