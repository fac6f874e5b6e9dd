"""How much memory and disk one model variant needs on its own, measured in a fresh process.

A kernel's resident memory only grows as it loads variant after variant, so reading it after each one
makes the last-loaded (often int4) look the heaviest. Instead each variant is loaded in a new Python
process: the libraries every backend needs are imported first, then the resident memory (RSS) added by
loading the model and generating a few tokens is that variant's own. Its weight files' size on disk is
reported beside it.

    footprint("smollm2-135m-instruct", "onnx", "int4")   # {"disk_mb": ..., "load_rss_mb": ..., ...}
    python -m workbench.footprint MODEL onnx int4          # the child: prints the same as JSON
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["MEASURED", "footprint", "weights_bytes"]

MEASURED = "RSS added by loading it and generating 4 tokens in a fresh process; weight files on disk"
_WEIGHT_SUFFIXES = (".onnx", ".onnx_data", ".data", ".safetensors", ".bin")


def weights_bytes(d: str | Path | None) -> int | None:
    """Total size of the weight files in a model directory (ONNX graph and data, safetensors, bin); None
    when the model has no directory (the in-memory test model)."""
    if not d or not Path(d).is_dir():
        return None
    return sum(p.stat().st_size for p in Path(d).iterdir() if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES))


def _rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _measure(model: str, backend: str, variant: str | None) -> dict:
    """In the child: baseline after the shared imports, then load, generate 4 tokens, measure again."""
    import resource

    import onnxruntime  # noqa: F401  every backend's libraries first, so the baseline holds them
    import torch  # noqa: F401
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer  # noqa: F401

    from workbench.models import get_generator, resolve
    from workbench.models.onnx import OnnxGenerator
    from workbench.models.onnx_export import variant_dir

    before = _rss_mb()
    t0 = time.perf_counter()
    if backend == "onnx":
        spec = resolve(model)
        gen = OnnxGenerator(variant_dir(spec.source or spec.name, variant), spec.name)  # the parent exported it
        d = gen.path
    else:
        gen = get_generator(model)
        d = getattr(getattr(gen.model, "config", None), "_name_or_path", None)
    gen.chat("How are you?", max_new_tokens=4)
    after, peak = _rss_mb(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = weights_bytes(d)
    return {"model": model, "backend": backend, "variant": variant, "disk_mb": size / 2**20 if size else None,
            "load_rss_mb": after - before, "peak_load_rss_mb": peak - before, "load_s": time.perf_counter() - t0}


def footprint(model: str, backend: str = "torch", variant: str | None = None, *, cancel=None,
              timeout: float = 600) -> dict:
    """Measure one variant in a fresh process (see the module docstring). Never raises for a failed child:
    the values are None and ``error`` says why, so one unmeasured variant does not lose the others."""
    cmd = [sys.executable, "-m", "workbench.footprint", model, backend] + ([variant] if variant else [])
    empty = {"model": model, "backend": backend, "variant": variant, "disk_mb": None, "load_rss_mb": None,
             "peak_load_rss_mb": None, "load_s": None}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    deadline = time.monotonic() + timeout
    while True:
        try:
            out, err = proc.communicate(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            if (cancel is not None and cancel.is_set()) or time.monotonic() > deadline:
                proc.kill()
                proc.communicate()
                return {**empty, "error": "stopped" if cancel is not None and cancel.is_set() else "timed out"}
    if proc.returncode != 0:
        last = (err.strip().splitlines() or ["no output"])[-1]
        return {**empty, "error": f"the measuring process failed: {last}"}
    return {**empty, **json.loads(out.strip().splitlines()[-1])}


if __name__ == "__main__":
    args = sys.argv[1:]
    print(json.dumps(_measure(args[0], args[1], args[2] if len(args) > 2 else None)))
