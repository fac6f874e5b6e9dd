"""Self-contained HTML reports: prose, tables and plotly figures in one file that opens offline."""

from __future__ import annotations

import html
import math
import time
from pathlib import Path

from workbench.formatting import frame_html
from workbench.io import write_text
from workbench.trace_html import KIND_COLOR, diff_html, span_tree_html

__all__ = ["diff_html", "dimension_bars", "item_heatmap", "mtmm_heatmap", "profile_radar", "reliability_panel",
           "Report", "screen_confusion", "shift_forest", "span_tree_html", "speed_chart", "trace_timeline"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:980px;margin:2rem auto;padding:0 1rem;
color:#1f2933;line-height:1.5}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #d9e2ec}
.meta{color:#627d98;font-size:.9rem}.q{background:#f0f4f8;border-left:4px solid #486581;padding:.6rem .9rem}
.a{background:#fff;border-left:4px solid #27ab83;padding:.6rem .9rem;white-space:pre-wrap}
table{border-collapse:collapse;font-size:.9rem}td,th{border:1px solid #d9e2ec;padding:.3rem .6rem;text-align:left}
.note{font-size:.85rem;color:#7b8794}
body>*,.wb-scroll,.plotly-graph-div{max-width:100%}.wb-scroll,body>table{overflow-x:auto}body>table{display:block}
p,.q,.a,pre,summary{overflow-wrap:anywhere}pre{white-space:pre-wrap}
"""
# Nothing may be wider than the body: a wide table scrolls inside its own box (.wb-scroll, see `Report.table`), long
# words and JSON wrap anywhere. One results table alone made the demo report 2,192 px wide.


class Report:
    """Collect sections, then ``write`` one HTML file; plotly.js is inlined once."""

    def __init__(self, title: str, subtitle: str = ""):
        self.title, self.subtitle = title, subtitle
        self.parts: list[str] = []
        self._plotly_inlined = False

    def heading(self, text: str) -> Report:
        self.parts.append(f"<h2>{html.escape(text)}</h2>")
        return self

    def text(self, text: str, cls: str = "") -> Report:
        attr = f' class="{cls}"' if cls else ""
        self.parts.append(f"<p{attr}>{html.escape(text)}</p>")
        return self

    def exchange(self, question: str, answer: str, meta: str = "") -> Report:
        self.parts.append(f'<div class="q">{html.escape(question)}</div>')
        self.parts.append(f'<div class="a">{html.escape(answer)}</div>')
        if meta:
            self.parts.append(f'<p class="meta">{html.escape(meta)}</p>')
        return self

    def raw(self, fragment: str) -> Report:
        """An HTML fragment made by one of the functions below (already escaped)."""
        self.parts.append(fragment)
        return self

    def table(self, frame) -> Report:
        """A DataFrame with readable numbers (durations in ms/s/min, 3 significant digits, "—" for missing), in a
        box that scrolls sideways when the table is wider than the page."""
        self.parts.append(frame_html(frame))
        return self

    def figure(self, fig) -> Report:
        self.parts.append(fig.to_html(full_html=False, include_plotlyjs=not self._plotly_inlined))
        self._plotly_inlined = True
        return self

    def html(self) -> str:
        stamp = time.strftime("%Y-%m-%d %H:%M")
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{html.escape(self.title)}</h1>"
            f"<p class='meta'>{html.escape(self.subtitle)} · generated {stamp}</p>"
            + "\n".join(self.parts)
            + "</body></html>"
        )

    def write(self, path: str | Path) -> Path:
        return write_text(path, self.html())


# ---- psychometric figures ---------------------------------------------------------------------
_PALETTE = ["#2680c2", "#27ab83", "#cb6e17", "#9446ed", "#cf1124"]


def profile_radar(profiles, reference: dict | None = None, norms: dict | None = None, labels=None):
    """One closed trace per profile with its 95 % band; a dagger marks a trait that failed the gate.

    ``reference`` is a reference profile (its directions drawn at 4 / midpoint / 2) or ``{trait: value}``;
    ``norms`` an inventory's crowd norms, drawn as mean ± 1 SD; ``labels`` name the profiles' traces.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    scale_max = max(len(p.scale) for p in profiles) if profiles else 5
    # One angular label per trait for every trace (profiles, reference, norms): a dagger if any profile failed it.
    failed = {t for p in profiles for t, s in p.traits.items() if not s.interpretable}
    axis = {t: f"{t} †" if t in failed else t for p in profiles for t in p.traits}
    for n, p in enumerate(profiles):
        traits = list(p.traits)
        theta = [axis[t] for t in traits]
        theta = theta + theta[:1]
        color = _PALETTE[n % len(_PALETTE)]
        hi = [p.traits[t].ci_high for t in traits]
        lo = [p.traits[t].ci_low for t in traits]
        fig.add_scatterpolar(r=hi + hi[:1], theta=theta, line=dict(width=0), showlegend=False, hoverinfo="skip")
        fig.add_scatterpolar(r=lo + lo[:1], theta=theta, fill="tonext", line=dict(width=0), opacity=0.25,
                             fillcolor=color, showlegend=False, hoverinfo="skip")
        means = [p.traits[t].mean for t in traits]
        label = labels[n] if labels else f"{p.model} · {p.persona or 'no persona'}"
        fig.add_scatterpolar(r=means + means[:1], theta=theta, name=label, line=dict(color=color, width=2),
                             mode="lines+markers")
    if reference and "traits" in reference:  # a reference profile: directions, not numbers
        at = {"high": scale_max - 1, "average": (1 + scale_max) / 2, "low": 2}
        reference = {t: at[r["direction"]] for t, r in reference["traits"].items() if r.get("direction") in at}
    if reference:
        traits = [t for t in (profiles[0].traits if profiles else reference) if t in reference]
        theta = [axis.get(t, t) for t in traits]
        fig.add_scatterpolar(r=[reference[t] for t in traits] + [reference[traits[0]]], theta=theta + theta[:1],
                             name="reference direction", line=dict(color="#7b8794", dash="dot"))
    for t, crowds in (norms or {}).items():
        c = crowds[0]
        fig.add_scatterpolar(r=[c["mean"] - c["sd"], c["mean"], c["mean"] + c["sd"]], theta=[axis.get(t, t)] * 3,
                             mode="lines+markers", name=f"norm: {c['name']} (n {c['n']}) ±1 SD",
                             line=dict(color="#9fb3c8", width=6), showlegend=t == next(iter(norms)))
    band = "respondents" if any(getattr(p, "personas", 0) for p in profiles) else "variants"
    fig.update_layout(polar=dict(radialaxis=dict(range=[1, scale_max])), height=420, margin=dict(t=40, b=30),
                      title=f"Trait profile (band: 95 % bootstrap over {band}; † not interpretable)")
    return fig


def mtmm_heatmap(table: dict, title: str = "Multitrait-multimethod correlations"):
    """The MTMM table of ``reliability.mtmm``: alpha on the diagonal, same trait across forms outlined."""
    import plotly.graph_objects as go

    labels, z = table["labels"], [row[:] for row in table["matrix"]]
    for i, a in enumerate(table.get("alpha") or []):
        z[i][i] = a
    text = [[("" if v is None or v != v else f"{v:.2f}") for v in row] for row in z]
    fig = go.Figure(go.Heatmap(z=z, x=labels, y=labels, zmin=-1, zmax=1, colorscale="RdBu", text=text,
                               texttemplate="%{text}", colorbar=dict(title="r")))
    for i, a in enumerate(labels):
        for j, b in enumerate(labels):
            if i != j and a.split(":", 1)[1] == b.split(":", 1)[1]:
                fig.add_shape(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5, line=dict(width=2))
    ok = sum(table["passes"].values())
    fig.update_layout(title=f"{title} (n {table['n']}; diagonal α; outlined: convergent; {ok}/{len(table['passes'])}"
                            " traits converge beyond every heterotrait r)", height=460, yaxis_autorange="reversed",
                      margin=dict(l=10, r=10, t=60, b=10))
    return fig


def shift_forest(shift: dict, title: str = "Shift per trait"):
    """Each trait's paired difference with its 95 % interval; zero dashed."""
    import plotly.graph_objects as go

    traits = list(shift)
    fig = go.Figure(go.Scatter(
        x=[shift[t]["mean"] for t in traits], y=traits, mode="markers",
        error_x=dict(type="data", symmetric=False, array=[shift[t]["ci_high"] - shift[t]["mean"] for t in traits],
                     arrayminus=[shift[t]["mean"] - shift[t]["ci_low"] for t in traits])))
    fig.add_vline(x=0, line_dash="dash", line_color="#7b8794")
    fig.update_layout(title=title, height=60 + 40 * len(traits), xaxis_title="difference (scale points)",
                      margin=dict(l=10, r=10, t=50, b=30))
    return fig


def dimension_bars(summary: dict):
    """Grouped bars of an evaluation summary: mean T-BARS level per dimension, one colour per configuration."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, (c, s) in enumerate(summary.get("configs", {}).items()):
        dims = s.get("dimensions", {})
        fig.add_bar(name=c, x=list(dims), y=list(dims.values()), marker_color=_PALETTE[i % len(_PALETTE)])
    fig.update_layout(barmode="group", yaxis={"range": [0, 5], "title": "T-BARS level (1-5)"},
                      title="T-BARS by dimension and configuration", legend_title="configuration",
                      margin={"l": 50, "r": 20, "t": 50, "b": 40})
    return fig


def reliability_panel(p):
    import plotly.graph_objects as go

    traits = list(p.traits)
    fig = go.Figure()
    for stat, color in (("alpha", "#2680c2"), ("omega", "#27ab83"), ("order_agreement", "#cb6e17")):
        y = [getattr(p.traits[t], stat) for t in traits]
        lo, hi = ([getattr(p.traits[t], f"{stat}_{end}", math.nan) for t in traits] for end in ("low", "high"))
        err = dict(type="data", symmetric=False, array=[h - v for h, v in zip(hi, y, strict=True)],
                   arrayminus=[v - m for m, v in zip(lo, y, strict=True)]) if stat != "order_agreement" else None
        fig.add_bar(name=stat, x=traits, y=y, marker_color=color, error_y=err)
    fig.add_hline(y=0.70, line_dash="dash", annotation_text="α gate 0.70")
    fig.update_layout(barmode="group", height=320, yaxis=dict(range=[-1, 1]), title="Reliability per trait",
                      margin=dict(t=50, b=30))
    return fig


def item_heatmap(p):
    """Keyed expected score per item (rows) and variant (columns): a model answering the format shows stripes."""
    import plotly.graph_objects as go

    lo_hi = 1 + len(p.scale)
    items = list(dict.fromkeys(r.item for r in p.responses))
    vs = list(dict.fromkeys(r.variant for r in p.responses))
    cells: dict = {}
    for r in p.responses:  # a population's personas are averaged within each variant
        cells.setdefault((r.item, r.variant), []).append(r.expected if r.key == 1 else lo_hi - r.expected)
    z = [[sum(c) / len(c) if (c := cells.get((i, v))) else None for v in vs] for i in items]
    fig = go.Figure(go.Heatmap(z=z, x=vs, y=items, colorscale="RdBu", zmin=1, zmax=len(p.scale),
                               colorbar=dict(title="keyed")))
    fig.update_layout(height=max(320, 12 * len(items)), title="Item × variant (keyed expected score)",
                      margin=dict(t=50, b=30))
    return fig


def screen_confusion(ev):
    """A ``screen_eval.ScreenEval``'s labelled category (rows) against the screen's first category (columns)."""
    import plotly.graph_objects as go

    gold = list(ev.confusion)
    got = sorted({c for row in ev.confusion.values() for c in row}, key=lambda c: (c == "none", c))
    z = [[ev.confusion[g].get(c, 0) for c in got] for g in gold]
    fig = go.Figure(go.Heatmap(z=z, x=got, y=gold, colorscale="Blues", text=z, texttemplate="%{text}"))
    fig.update_layout(title="Labelled category → the screen's first category", height=380,
                      xaxis_title="screen", yaxis_title="label", margin=dict(l=10, r=10, t=40, b=10))
    return fig


def coder_confusion(head: str, stats: dict):
    """A coder head's confusion matrix (``validity.agreement_stats``): experts' codes in rows, the coder's in
    columns, with kappa and macro-F1 in the title."""
    import plotly.graph_objects as go

    classes, z = stats["classes"], stats["confusion"]
    fig = go.Figure(go.Heatmap(z=z, x=classes, y=classes, colorscale="Blues", text=z, texttemplate="%{text}",
                               showscale=False))
    fig.update_layout(title=f"{head.replace('_', ' ')}: kappa {stats['kappa']['value']:.2f}, macro-F1 "
                            f"{stats['macro_f1']['value']:.2f} (n {stats['n']})", height=300, width=360,
                      xaxis_title="coder", yaxis_title="experts", yaxis_autorange="reversed",
                      margin=dict(l=10, r=10, t=40, b=10))
    return fig


def coder_calibration(heads: dict):
    """Reliability of every coder head: observed accuracy against the coder's confidence, per bin (a calibrated
    coder follows the diagonal)."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="#9fb3c8"),
                               name="calibrated"))
    for head, st in heads.items():
        bins = st.get("calibration") or []
        fig.add_trace(go.Scatter(x=[b["confidence"] for b in bins], y=[b["accuracy"] for b in bins],
                                 mode="lines+markers", name=head.replace("_", " "),
                                 text=[f"n {b['n']}" for b in bins]))
    fig.update_layout(title="Calibration: accuracy by confidence", height=360, xaxis_title="confidence",
                      yaxis_title="accuracy", xaxis_range=[0.3, 1.01], yaxis_range=[0, 1.01],
                      margin=dict(l=10, r=10, t=40, b=10))
    return fig


# ---- traces ----------------------------------------------------------------------------------
def trace_timeline(trace):
    """A Gantt chart of the spans (ms from the trace's start), coloured by kind."""
    import plotly.graph_objects as go

    t0 = min(s.start for s in trace.spans)
    fig = go.Figure()
    for kind, color in KIND_COLOR.items():
        spans = [s for s in trace.spans if s.kind == kind]
        if spans:
            fig.add_bar(name=kind, orientation="h", y=[s.name for s in spans], x=[max(s.duration_ms, 1) for s in spans],
                        base=[(s.start - t0) * 1000 for s in spans], marker_color=color,
                        hovertext=[s.attributes.get("decision", "") for s in spans])
    fig.update_layout(barmode="overlay", height=max(260, 22 * len({s.name for s in trace.spans})),
                      xaxis_title="ms since start", yaxis=dict(autorange="reversed"),
                      title="Timeline", margin=dict(t=40, b=30))
    return fig


def speed_chart(speeds: list[dict]):
    """Prefill and decode tokens/s per backend, and each variant's own memory (``workbench.footprint``: measured
    in a fresh process, so no variant carries the ones loaded before it), side by side."""
    from plotly.subplots import make_subplots

    from workbench.footprint import MEASURED

    names = [s["variant"] or s["backend"] for s in speeds]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("tokens per second", "own memory per variant (MB)"))
    fig.add_bar(x=names, y=[s["decode_tok_s"] for s in speeds], name="decode", row=1, col=1)
    fig.add_bar(x=names, y=[s["prefill_tok_s"] for s in speeds], name="prefill", row=1, col=1)
    fig.add_bar(x=names, y=[s.get("load_rss_mb") for s in speeds], name="loaded (RSS added)", row=1, col=2)
    fig.add_bar(x=names, y=[s.get("disk_mb") for s in speeds], name="weights on disk", row=1, col=2)
    fig.add_annotation(text=f"Memory: {MEASURED}.", showarrow=False, xref="paper", yref="paper", x=0, y=-0.22,
                       xanchor="left", font=dict(size=11, color="#52606d"))
    fig.update_layout(height=360, barmode="group", margin=dict(l=40, r=10, t=40, b=70))
    return fig
