"""coTherapist Workbench: reusable logic behind the notebooks, widgets and CLI.

Kept import-light on purpose: torch, transformers, txtai and onnxruntime are imported inside the
functions that need them, so ``import workbench`` stays well under a second.
"""

__version__ = "0.1.0"

import os as _os

# onnxruntime's Linux wheels (1.32 here) send usage telemetry to mobile.events.data.microsoft.com and keep a device
# id and an event cache under ~/.cache/Microsoft. The opt-out is read once, when onnxruntime is imported, so it is
# set here, before any workbench code can import it; a value the user set wins.
_os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

from workbench.errors import WorkbenchError  # noqa: E402  (light)

__all__ = ["WorkbenchError", "__version__"]
