"""``make bench``: measure side by side in one run and print ratios; write exports/bench/latest.json.

Absolute numbers depend on this shared, noisy 2-core machine; the claims are the ratios, each pair
measured back to back in the same process. Later stages add their keys to the same flat JSON object.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from workbench import paths  # noqa: E402
from workbench.io import write_json  # noqa: E402

PROMPT = [{"role": "user", "content": "How can a therapist help a client who avoids social situations?"}]


def timed(fn, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench_import() -> dict:
    code = "import time; t=time.perf_counter(); import workbench, workbench.models, workbench.corpora; " \
           "print(time.perf_counter()-t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
            for _ in range(3)]
    return {"import_workbench_s": round(min(runs), 3)}


def bench_load() -> dict:
    """Cold: GGUF -> safetensors conversion in an empty cache; warm: the cached load users get after."""
    from workbench.models import registry

    spec = registry.resolve("smollm2-135m-instruct")
    with tempfile.TemporaryDirectory() as tmp:
        old = os.environ.get("WORKBENCH_CACHE")
        os.environ["WORKBENCH_CACHE"] = tmp
        try:
            cold, _ = timed(lambda: registry.load(spec))
            warm, _ = timed(lambda: registry.load(spec), repeat=2)
        finally:
            if old is None:
                os.environ.pop("WORKBENCH_CACHE")
            else:
                os.environ["WORKBENCH_CACHE"] = old
    return {"load_cold_s": round(cold, 1), "load_cached_s": round(warm, 2), "load_speedup_cached": round(cold / warm, 1)}


def bench_decode() -> dict:
    from workbench.models import get_generator

    gen = get_generator("smollm2-135m-instruct")
    gen.chat(PROMPT, max_new_tokens=8)  # warm-up
    speeds = []
    for _ in range(2):
        c = gen.chat(PROMPT, max_new_tokens=128, stop=None)
        speeds.append(c.tokens_per_s)
    return {"decode_tok_s_torch": round(max(speeds), 1), "decode_tokens": c.completion_tokens}


def bench_score_options() -> dict:
    """All options from one prompt pass (shared KV cache) against re-running the prompt for each option."""
    from workbench.models import get_generator

    gen = get_generator("smollm2-135m-instruct")
    options = ["Very inaccurate", "Moderately inaccurate", "Neither accurate nor inaccurate", "Moderately accurate",
               "Very accurate"]
    q = [{"role": "user", "content": "How accurately does 'I make plans and stick to them' describe you?"}]
    batched, a = timed(lambda: gen.score_options(q, options), repeat=3)
    single, b = timed(lambda: [gen.score_options(q, [o])[0] for o in options], repeat=3)
    assert max(abs(x - y) for x, y in zip(a, b)) < 1e-3, "batched and single scores disagree"
    return {"score_options_shared_s": round(batched, 3), "score_options_per_option_s": round(single, 3),
            "score_options_shared_prefix_speedup": round(single / batched, 2)}


def main() -> int:
    results: dict = {}
    for step in (bench_import, bench_load, bench_decode, bench_score_options):
        print(f"… {step.__name__}", file=sys.stderr, flush=True)
        results.update(step())
    out = paths.exports_dir() / "bench" / "latest.json"
    merged = json.loads(out.read_text()) if out.is_file() else {}
    merged.update(results)
    write_json(out, merged)
    width = max(map(len, results))
    for k, v in results.items():
        print(f"{k:<{width}}  {v}")
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
