"""The ``make demo`` pipeline: each stage of the workbench adds its section to one report."""

from __future__ import annotations

import sys
from pathlib import Path

from workbench import paths

SAMPLE_QUESTIONS = [
    "I'm a counsellor. My client with depression keeps skipping the behavioural activation homework "
    "we agree on. How could I approach this in our next session?",
    "I get really anxious before every work meeting and my heart races. What can I do about it?",
]


def _speed_figure(completions):
    import plotly.graph_objects as go

    labels = [f"Q{i + 1}" for i in range(len(completions))]
    fig = go.Figure()
    fig.add_bar(name="prefill tok/s", x=labels, y=[c.prompt_tokens / max(c.prefill_s, 1e-9) for c in completions])
    fig.add_bar(name="decode tok/s", x=labels, y=[c.tokens_per_s for c in completions])
    fig.update_layout(barmode="group", height=320, title="Speed on this CPU (torch eager)",
                      yaxis_title="tokens / second", margin=dict(t=50, b=30))
    return fig


def run_demo(model: str | None = None, out: str | Path | None = None, log=print) -> Path:
    """Answer the sample questions with the co-therapist persona and write exports/demo/report.html."""
    from workbench.corpora import load_prompts
    from workbench.models import get_generator
    from workbench.report import Report

    out = Path(out) if out else paths.exports_dir() / "demo"
    gen = get_generator(model, progress=lambda m: log(m, file=sys.stderr))
    persona = load_prompts()["cotherapist"]
    report = Report("coTherapist Workbench — demo", f"model {gen.name} · backend {gen.backend}")
    report.heading("1 · The small model as a co-therapist")
    report.text(f"System prompt ({persona.id}): {persona.purpose}", cls="note")
    completions = []
    for i, q in enumerate(SAMPLE_QUESTIONS, 1):
        log(f"[demo] answering question {i}/{len(SAMPLE_QUESTIONS)}…", file=sys.stderr)
        c = gen.chat([{"role": "system", "content": persona.text}, {"role": "user", "content": q}],
                     max_new_tokens=160)
        completions.append(c)
        report.exchange(q, c.text, f"{c.prompt_tokens} prompt + {c.completion_tokens} new tokens · "
                                   f"{c.tokens_per_s:.1f} tok/s decode · {c.finish_reason}")
    report.figure(_speed_figure(completions))
    report.text("Research software: outputs are not clinical advice. In an emergency call your local "
                "emergency number.", cls="note")
    return report.write(out / "report.html")
