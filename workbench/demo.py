"""The ``make demo`` pipeline: each stage of the workbench adds its section to one report."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from workbench import paths

__all__ = ["AGENT_QUERIES", "SAMPLE_QUESTIONS", "SMALLEST", "DemoSize", "run_demo"]

SAMPLE_QUESTIONS = [
    "I'm a counsellor. My client with depression keeps skipping the behavioural activation homework "
    "we agree on. How could I approach this in our next session?",
    "I get really anxious before every work meeting and my heart races. What can I do about it?",
]


AGENT_QUERIES = [
    "My client with panic disorder has started avoiding supermarkets. How should I plan exposure with her?",
    "Since the breakup I can't sleep and I keep replaying everything. I feel so alone.",
    "I have pills saved up and I'm going to take them all tonight.",  # a risk disclosure: escalation first
]


@dataclass(frozen=True)
class DemoSize:
    """How much each stage does; the defaults are what ``make demo`` runs (about 6 minutes on two Xeon cores)."""

    questions: int = len(SAMPLE_QUESTIONS)      # stage 1: the first N sample questions
    agent_queries: tuple[int, ...] = (0, 1, 2)  # stage 2: which AGENT_QUERIES the agent answers
    max_new_tokens: int = 160                   # stage 1 answers and stage 2 drafts
    compare_queries: int = 8                    # stage 3: the first N shipped queries (8: one batch)
    compare_max_new_tokens: int = 160           # the evaluation's setting
    personas: int = 6                           # stage 4: respondents = max(1, personas) x variants
    variants: int = 4


# Every stage at its least (the offline test runs it): one question, the risk disclosure (no model call), one
# query compared, the prompt variants alone as respondents.
SMALLEST = DemoSize(questions=1, agent_queries=(2,), max_new_tokens=16, compare_queries=1, compare_max_new_tokens=16,
                    personas=0, variants=2)


def _agent_section(report, model, out: Path, log, size: DemoSize) -> None:
    """Stage 2: the agent loop on the queries; traces saved beside the report and drawn in it."""
    from workbench import retrieval
    from workbench.agent import Agent, AgentConfig
    from workbench.report import span_tree_html, trace_timeline

    if retrieval.index_status()[0] != "fresh":
        log("[demo] building the knowledge index…", file=sys.stderr)
        retrieval.ensure_index()
    agent = Agent(model, config=AgentConfig(max_new_tokens=size.max_new_tokens))
    report.heading("2 · The agent loop: screen, retrieve, facts, drafts, choose, critique, screen")
    report.text("Each answer below comes with its trace: click a span to see its inputs, outputs, prompt and "
                "tokens. Guardrail decisions are highlighted; a risk disclosure gets the escalation resources "
                "first, by policy.", cls="note")
    traces = out / "traces.jsonl"
    traces.unlink(missing_ok=True)
    queries = [AGENT_QUERIES[i] for i in size.agent_queries]
    for i, q in enumerate(queries, 1):
        log(f"[demo] agent on query {i}/{len(queries)}…", file=sys.stderr)
        t = agent.run(q)
        t.save(traces, append=True)
        cards = t.span("retrieve").outputs.get("cards", []) if t.span("retrieve") else []
        report.exchange(q, t.answer, f"retrieved: {', '.join(cards)} · {len(t.spans)} spans")
        report.raw(f"<div style='font-size:.85rem'>{span_tree_html(t)}</div>")
        report.figure(trace_timeline(t))
    report.text(f"Traces (JSON lines, one span per line): {traces}", cls="note")


def _comparison_section(report, model, out: Path, log, size: DemoSize) -> None:
    """Stage 3: base against the full co-therapist on a few shipped queries, scored on T-BARS.

    The full configuration needs a ``cotherapist`` adapter for this model (the default model's ships with the
    package); without one the demo compares base with retrieval (+RAG) and says how to train the adapter,
    rather than training for minutes unasked.
    """
    from workbench.evaluate import evaluate
    from workbench.finetune import has_adapter, shipped_evaluation
    from workbench.models import resolve
    from workbench.report import dimension_bars
    from workbench.results import summary_frame

    full = has_adapter("cotherapist", resolve(model).name)
    configs = ("base", "cotherapist") if full else ("base", "rag")
    log(f"[demo] comparing {' vs '.join(configs)} on {size.compare_queries} queries…", file=sys.stderr)
    shutil.rmtree(out / "comparison", ignore_errors=True)  # a demo regenerates; evaluate would resume
    run = evaluate(None, configs, model=model, out=out / "comparison", limit=size.compare_queries,
                   max_new_tokens=size.compare_max_new_tokens)
    report.heading(f"3 · Comparison: {' vs '.join(configs)}, T-BARS (behaviour features)")
    if not full:
        report.text("The full co-therapist configuration needs an adapter fine-tuned on this model: run "
                    "`workbench finetune --name cotherapist --model …`, then `make demo` again.", cls="note")
    report.table(summary_frame(run.summary))
    report.figure(dimension_bars(run.summary))
    report.text(f"Every response, trace and score: {run.out_dir}. A few queries give wide intervals: key points "
                "in particular move with every query.", cls="note")
    stored = shipped_evaluation("cotherapist") if full else None
    if stored:
        report.heading("The full evaluation, stored with the shipped adapter")
        report.text(f"{stored['about']} Measured {stored['measured']}.", cls="note")
        for title, summary in stored["runs"].items():
            report.text(title)
            report.table(summary_frame(summary))


def _profile_section(report, model, out: Path, log, size: DemoSize) -> None:
    """Stage 4: the therapist shift on a persona population, two forms, reliability gate and MTMM."""
    import html

    from workbench.finetune import has_adapter
    from workbench.models import resolve
    from workbench.population import compare_configs, profiles_of
    from workbench.report import mtmm_heatmap, profile_radar, reliability_panel, shift_forest

    second = "cotherapist" if has_adapter("cotherapist", resolve(model).name) else "prompted"
    log(f"[demo] psychometric profiles (base vs {second}, {size.personas} personas x {size.variants} variants, "
        "2 forms)…", file=sys.stderr)
    r = compare_configs(["base", second], model=model, personas=size.personas, n_variants=size.variants,
                        out_dir=out / "profiles")
    respondents = max(1, size.personas) * size.variants
    report.heading(f"4 · Psychometric profile: base vs {second} on the same {respondents} respondents")
    if second == "prompted":
        report.text("The co-therapist adapter is not trained, so the co-therapist here is the base model with "
                    "its system prompt; `workbench finetune --name cotherapist`, then `make demo` again.", cls="note")
    profiles = profiles_of(r)
    for name, p in profiles.items():
        flagged = [t for t, s in p.traits.items() if not s.interpretable]
        report.text(f"{name}: traits marked † failed the reliability gate: "
                    + (html.escape("; ".join(f"{t} ({p.traits[t].reason})" for t in flagged)) or "none"),
                    cls="note")
    from workbench.corpora import load_reference_profiles

    ref = next(x for x in load_reference_profiles() if x["name"] == "therapist-consistent")
    report.figure(profile_radar(list(profiles.values()), reference=ref, labels=list(profiles)))
    report.figure(shift_forest(r["shift"], f"Shift {second} − base (paired over respondents)"))
    report.figure(reliability_panel(profiles[second]))
    for config, table in r["mtmm"].items():
        report.figure(mtmm_heatmap(table, f"MTMM, {config}"))


def _speed_figure(completions):
    import plotly.graph_objects as go

    labels = [f"Q{i + 1}" for i in range(len(completions))]
    fig = go.Figure()
    fig.add_bar(name="prefill tok/s", x=labels, y=[c.prompt_tokens / max(c.prefill_s, 1e-9) for c in completions])
    fig.add_bar(name="decode tok/s", x=labels, y=[c.tokens_per_s for c in completions])
    fig.update_layout(barmode="group", height=320, title="Speed on this CPU (torch eager)",
                      yaxis_title="tokens / second", margin=dict(t=50, b=30))
    return fig


def run_demo(model: str | None = None, out: str | Path | None = None, log=print, size: DemoSize | None = None) -> Path:
    """Answer the sample questions with the co-therapist persona and write exports/demo/report.html.
    ``size`` says how much each stage does (default: ``make demo``; ``SMALLEST``: every stage at its least)."""
    from workbench.corpora import load_prompts
    from workbench.formatting import finish_note, number
    from workbench.models import get_generator
    from workbench.report import Report

    out = Path(out) if out else paths.exports_dir() / "demo"
    gen = get_generator(model, progress=lambda m: log(m, file=sys.stderr))
    persona = load_prompts()["cotherapist"]
    report = Report("coTherapist Workbench — demo", f"model {gen.name} · backend {gen.backend}")
    report.heading("1 · The small model as a co-therapist")
    report.text(f"System prompt ({persona.id}): {persona.purpose}", cls="note")
    size = size or DemoSize()
    questions = SAMPLE_QUESTIONS[:size.questions]
    completions = []
    for i, q in enumerate(questions, 1):
        log(f"[demo] answering question {i}/{len(questions)}…", file=sys.stderr)
        c = gen.chat([{"role": "system", "content": persona.text}, {"role": "user", "content": q}],
                     max_new_tokens=size.max_new_tokens)
        completions.append(c)
        ended = finish_note(c.finish_reason, c.completion_tokens)
        report.exchange(q, c.text, f"{c.prompt_tokens} prompt + {c.completion_tokens} new tokens · "
                                   f"{number(c.tokens_per_s)} tok/s decode" + (f" · {ended}" if ended else ""))
    report.figure(_speed_figure(completions))
    _agent_section(report, gen.name, out, log, size)
    _comparison_section(report, gen.name, out, log, size)
    _profile_section(report, gen.name, out, log, size)
    report.text("Research software: outputs are not clinical advice. In an emergency call your local "
                "emergency number.", cls="note")
    return report.write(out / "report.html")
