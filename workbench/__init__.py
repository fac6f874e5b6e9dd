"""coTherapist Workbench: reusable logic behind the notebooks, widgets and CLI.

Kept import-light on purpose: torch, transformers, txtai and onnxruntime are imported inside the
functions that need them, so ``import workbench`` stays well under a second.
"""

__version__ = "0.1.0"

from workbench.errors import WorkbenchError  # noqa: E402  (light)

__all__ = ["WorkbenchError", "__version__"]
