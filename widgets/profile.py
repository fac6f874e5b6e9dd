"""Psychometric profile of a model: pick model, persona, inventory, respondents; run; see the gate. Or
compare two configurations on the same respondents and two forms: overlaid radars, the shift, MTMM."""

from __future__ import annotations

import html

import ipywidgets as W

from widgets.common import JobPanel, JobView, button, hrow, model_picker, with_class
from widgets.figures import FigureView
from workbench.formatting import number, scroll_box
from workbench.jobs import Job


def _ci(mean, low, high, signed: bool = False) -> str:
    return f"{number(mean, signed=signed)} [{number(low, signed=signed)}, {number(high, signed=signed)}]"

__all__ = ["ProfileView"]


class ProfileView(JobView, W.VBox):
    def __init__(self, model: str | None = None, inventory: str = "bigfive", persona: str | None = "cotherapist",
                 n_variants: int = 8, personas: int = 0):
        from workbench.corpora import load_prompts, load_reference_profiles
        from workbench.inventories import load_inventories

        self.model = model_picker(model)
        self.persona = W.Dropdown(options=[("(none)", "")] + [(p, p) for p in load_prompts()],
                                  value=persona or "", description="Persona")
        self.inventory = W.Dropdown(options=list(load_inventories()), value=inventory, description="Inventory")
        self.references = {r["name"]: r for r in load_reference_profiles()}
        self.reference = W.Dropdown(description="Reference")
        self.inventory.observe(lambda _: self._fill_references(), names="value")
        self._fill_references()
        self.variants = W.IntSlider(value=n_variants, min=4, max=16, step=4, description="Variants")
        self.personas = W.IntSlider(value=personas, min=0, max=60, step=5, description="Personas",
                                    tooltip="respondents = personas x variants (0: the variants alone)")
        self.compare = with_class(W.Dropdown(options=[("(one profile)", ""), ("base vs prompted", "base,prompted"),
                                                      ("base vs co-therapist", "base,cotherapist")], value="",
                                             description="Compare"), "wb-profile-compare")
        self.comparison = None
        self.run = button("Run profile", "primary", "wb-profile-run", icon="play")
        self.panel = JobPanel(self.run, "wb-profile", bar="Scored", progress="{done}/{total} item-variants scored{eta}")
        self.table = W.HTML()
        self.plots = with_class(W.VBox(), "wb-profile-plots")
        self.profile = None
        self.runs: list = []  # every finished profile, so runs of one inventory overlay and compare
        self.saved = None
        self.run.on_click(lambda _: self.start())
        super().__init__([hrow([self.model, self.persona]), hrow([self.inventory, self.reference]),
                          hrow([self.variants, self.personas]), self.compare,
                          hrow(self.panel.controls), self.status, self.table, self.plots])

    def _fill_references(self) -> None:
        names = [n for n, r in self.references.items() if r.get("inventory") == self.inventory.value]
        self.reference.options = [("(none)", "")] + [(n, n) for n in names]
        self.reference.value = names[0] if names else ""

    def start(self) -> Job:
        return self.panel.run(self._work, "profile", f"Loading {self.model.value}…")

    def _work(self, job: Job):
        from workbench.population import first_personas
        from workbench.psychometrics import profile, save_profile

        if self.compare.value:
            return self._run_comparison(job)
        p = profile(self.model.value, self.inventory.value, persona=self.persona.value or None,
                    personas=first_personas(self.personas.value) if self.personas.value else None,
                    n_variants=self.variants.value, progress=lambda d, t: job.progress(d, t), cancel=job.cancelled)
        if job.cancelled.is_set():
            self.panel.say("Stopped; nothing saved.", "warn")
            return None
        self.profile = p
        self.runs.append(p)
        self.saved = save_profile(p)
        self._show(p)
        self.panel.say(f"Done. Saved {self.saved}", "ok")
        return p

    def _show(self, p) -> None:
        from workbench.population import compare
        from workbench.psychometrics import against_reference
        from workbench.report import item_heatmap, profile_radar, reliability_panel

        ref = against_reference(p, self.references[self.reference.value]) if self.reference.value else {}
        same = [r for r in self.runs if r.inventory == p.inventory and r.n_variants == p.n_variants]
        diff = compare(same[0], p) if len(same) > 1 else {}
        rows = "".join(
            f"<tr><td>{html.escape(t)}</td><td>{_ci(s.mean, s.ci_low, s.ci_high)}</td>"
            f"<td>{number(s.alpha)}</td><td>{number(s.omega)}</td><td>{number(s.order_agreement)}</td>"
            f"<td>{'ok' if s.interpretable else 'not interpretable: ' + html.escape(s.reason)}</td>"
            + (f"<td>{ref[t]['expected']} → {ref[t]['verdict']}</td>" if t in ref else "<td></td>")
            + (f"<td>{_ci(diff[t]['diff'], diff[t]['ci_low'], diff[t]['ci_high'], True)}</td>"
               if t in diff else "<td></td>") + "</tr>"
            for t, s in p.traits.items())
        first = f"Δ vs run 1 ({html.escape(same[0].persona or 'no persona')})" if diff else ""
        self.table.value = scroll_box(
            "<table class='wb-profile-table'><tr><th>trait</th><th>mean [95% CI]</th><th>α</th>"
            f"<th>ω</th><th>order ρ</th><th>verdict</th><th>reference</th><th>{first}</th></tr>{rows}</table>")
        self.plots.children = [FigureView(f) for f in
                               (profile_radar(same, reference=self.references.get(self.reference.value)),
                                reliability_panel(p), item_heatmap(p))]

    def _run_comparison(self, job: Job):
        """Both configurations on the shipped forms; saved (and resumable) under exports/profiles/compare-…"""
        from workbench import paths
        from workbench.population import compare_configs

        out = paths.exports_dir() / "profiles" / f"compare-{self.compare.value.replace(',', '-')}"
        r = compare_configs(self.compare.value, model=self.model.value, personas=self.personas.value,
                            n_variants=self.variants.value, out_dir=out, progress=lambda d, t: job.progress(d, t),
                            cancel=job.cancelled)
        if r is None:
            self.panel.say(f"Stopped; the finished part is kept in {out} and a new run resumes from it.", "warn")
            return None
        self.comparison, self.saved = r, out / "comparison.json"
        self._show_comparison(r)
        self.panel.say(f"Done. Saved {self.saved}", "ok")
        return r

    def _show_comparison(self, r: dict) -> None:
        from workbench.population import profiles_of
        from workbench.report import mtmm_heatmap, profile_radar, shift_forest

        profiles = profiles_of(r)
        ref = self.references.get("therapist-consistent")
        a, b = r["shift_of"][1], r["shift_of"][0]
        rows = "".join(
            f"<tr><td>{html.escape(t)}</td>"
            + "".join(f"<td>{number(c['traits'][t]['mean'])} (α {number(c['traits'][t]['alpha'])}"
                      f"{'' if c['traits'][t]['interpretable'] else ' †'})</td>" for c in r["configs"].values())
            + f"<td>{_ci(d['mean'], d['ci_low'], d['ci_high'], True)}</td></tr>"
            for t, d in r["shift"].items())
        heads = "".join(f"<th>{html.escape(c)}</th>" for c in r["configs"])
        self.table.value = (scroll_box(f"<table class='wb-profile-table wb-compare-table'><tr><th>trait</th>{heads}"
                                       f"<th>shift {html.escape(b)} − {html.escape(a)} [95% CI]</th></tr>{rows}"
                                       "</table>")
                            + f"<p>{r['personas']} personas × {r['n_variants']} variants; † not interpretable</p>")
        figs = [profile_radar(list(profiles.values()), reference=ref, labels=list(profiles)),
                shift_forest(r["shift"], f"Shift {b} − {a} (paired over respondents)")]
        figs += [mtmm_heatmap(t, f"MTMM, {c}") for c, t in r["mtmm"].items() if t]
        self.plots.children = [FigureView(f) for f in figs]
