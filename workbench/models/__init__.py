"""Model registry, cache and generators. ``get_generator(name, backend)`` is the one entry point."""

from __future__ import annotations

from workbench.models.generate import Completion, Generator, check_messages
from workbench.models.registry import ModelSpec, list_models, resolve

__all__ = ["Completion", "Generator", "ModelSpec", "check_messages", "get_generator", "list_models", "resolve"]

_LOADED: dict[tuple[str, str], object] = {}


def get_generator(name: str | None = None, backend: str = "torch", *, variant: str | None = None, progress=None,
                  fresh: bool = False):
    """Load (once per process) and return a Generator for a model name or path.

    ``backend="onnx"`` runs an exported ONNX variant (``variant`` fp32, int8 or int4; default
    ``workbench.models.onnx_export.DEFAULT_VARIANT``), exporting it under exports/onnx/ on first use.
    """
    from workbench.errors import WorkbenchError
    from workbench.models import registry

    spec = resolve(name)
    if backend == "onnx":
        from workbench.models.onnx_export import DEFAULT_VARIANT, variant_dir

        variant = variant or DEFAULT_VARIANT
        key = (spec.name + ":" + spec.source, f"onnx:{variant}:{variant_dir(spec.source or spec.name, variant)}")
    elif variant is not None:
        raise WorkbenchError(f"variant={variant!r} applies to the ONNX backend only.",
                             fix=f"use get_generator({spec.name!r}, backend='onnx', variant={variant!r})")
    else:
        key = (spec.name + ":" + spec.source, backend)
    if not fresh and key in _LOADED:
        return _LOADED[key]
    if backend == "torch":
        from workbench.models.generate import TorchGenerator

        model, tok = registry.load(spec, progress)
        gen = TorchGenerator(model, tok, spec.name)
    elif backend == "onnx":
        from workbench.models.onnx import OnnxGenerator
        from workbench.models.onnx_export import ensure_exported

        gen = OnnxGenerator(ensure_exported(spec.source or spec.name, variant, progress), spec.name)
    else:
        raise WorkbenchError(f"Unknown backend {backend!r}.", fix="use backend='torch' or backend='onnx'")
    _LOADED[key] = gen
    return gen
