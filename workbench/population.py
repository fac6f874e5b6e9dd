"""The therapist shift, tested: a respondent population answers two Big Five forms as the base model
and as the co-therapist, so each configuration gets reliabilities across respondents, a
multitrait-multimethod table, a check that the personas' intended levels come back, and each trait's
shift gets a paired bootstrap interval (Serapio-García et al. 2023; PsychoBench, Huang et al. 2024).

A respondent is one persona (``corpora/inventories/personas.yaml``) under one prompt variant; the
configurations differ only in the model and system prompt put in front of that persona, so the
same respondent in two configurations is a pair.
"""

from __future__ import annotations

import math
from pathlib import Path

from workbench.errors import WorkbenchError
from workbench.psychometrics import Profile
from workbench.stats import paired_bootstrap

__all__ = ["CONFIGS", "FORMS", "compare", "compare_configs", "first_personas", "load_comparison", "persona_recovery",
           "profiles_of"]

# name -> (needs the fine-tuned adapter, system persona from the prompt library)
CONFIGS = {"base": (False, None), "prompted": (False, "cotherapist"), "cotherapist": (True, "cotherapist")}
FORMS = ("bigfive", "bigfive_short")
LEVEL = {"low": 1, "average": 2, "high": 3}


def first_personas(n: int | None) -> list:
    """The first ``n`` personas of the shipped population (all when None); a count outside it is refused."""
    from workbench.inventories import load_personas

    everyone = load_personas()
    if n is not None and not 0 <= n <= len(everyone):
        raise WorkbenchError(f"{n} personas asked for; the population has {len(everyone)}.",
                             fix=f"use a number from 0 (the prompt variants alone) to {len(everyone)}")
    return everyone[:n]


def persona_recovery(p, personas) -> dict[str, float]:
    """Spearman correlation, per trait, of each persona's intended level with its measured score
    (averaged over variants): does the model answer as the person it was given?"""
    import pandas as pd
    from scipy.stats import spearmanr

    from workbench.psychometrics import keyed_frame

    df = keyed_frame(p.responses, len(p.scale))
    means = df.pivot_table(index="persona", columns="trait", values="keyed", aggfunc="mean")
    out = {}
    for trait in means.columns:
        levels = pd.Series({q.id: LEVEL.get(q.levels.get(trait, ""), math.nan) for q in personas}).dropna()
        shared = levels.index.intersection(means.index)
        if len(shared) >= 5 and levels[shared].nunique() > 1 and means.loc[shared, trait].nunique() > 1:
            out[trait] = float(spearmanr(levels[shared], means.loc[shared, trait]).statistic)
    return out


def compare_configs(configs=("base", "cotherapist"), *, model=None, forms=FORMS, personas=None, n_variants: int = 4,
                    backend: str = "torch", out_dir=None, progress=None, cancel=None) -> dict | None:
    """Profile every configuration on every form over the same respondents; returns (and with
    ``out_dir`` writes, as ``comparison.json``) traits, MTMM, persona recovery and the shift of the
    last configuration from the first. Each finished profile is saved under ``out_dir/<config>/<form>``
    and partial responses after every persona, so a stopped run resumes. None when stopped."""
    from workbench import io
    from workbench.inventories import load_inventory
    from workbench.models import get_generator
    from workbench.psychometrics import load_profile, profile, save_profile, score, trait_scores
    from workbench.reliability import mtmm

    configs = list(configs.split(",") if isinstance(configs, str) else configs)
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown or not configs:
        raise WorkbenchError(f"Unknown configuration(s) {unknown}.", fix=f"use some of {', '.join(CONFIGS)}, "
                             "e.g. --compare base,cotherapist")
    population = personas if isinstance(personas, list) else first_personas(personas)
    invs = [load_inventory(f) for f in forms]
    out_dir = Path(out_dir) if out_dir else None
    respondents = max(1, len(population)) * n_variants  # no personas: the variants alone are the respondents
    total = respondents * len(configs) * sum(len(i.items) for i in invs)
    offset = [0]

    def tick(done, _total):
        if progress:
            progress(offset[0] + done, total)

    result = {"personas": len(population), "n_variants": n_variants, "forms": [i.name for i in invs],
              "backend": backend, "configs": {}, "mtmm": {}}
    runs = {}  # config -> {form: Profile}
    for config in configs:
        gen = get_generator(_model_of(config, model), backend)
        profiles = {}
        for inv in invs:
            folder = out_dir / config / inv.name if out_dir else None
            saved = load_profile(folder) if folder and (folder / "profile.json").is_file() else None
            if saved and (saved.model, saved.personas, saved.n_variants) == (gen.name, len(population), n_variants):
                saved.traits = score(saved.responses, inv)  # scored by this version, whatever wrote it
                profiles[inv.name] = saved
                tick(respondents * len(inv.items), total)  # a reloaded part counts as done on the bar
            else:
                done = _partial(folder)

                def keep(responses, folder=folder):
                    if folder:
                        io.write_jsonl(folder / "partial.jsonl", [io.finite(r.to_dict()) for r in responses])

                p = profile(gen, inv, persona=CONFIGS[config][1], personas=population, n_variants=n_variants,
                            progress=tick, cancel=cancel, done=done, checkpoint=keep)
                if cancel is not None and cancel.is_set():
                    keep(p.responses)
                    return None
                if folder:
                    save_profile(p, folder)
                    (folder / "partial.jsonl").unlink(missing_ok=True)
                profiles[inv.name] = p
            offset[0] += respondents * len(inv.items)
        main = profiles[invs[0].name]
        alphas = {f: {t: s.alpha for t, s in q.traits.items()} for f, q in profiles.items()}
        table = mtmm({f: trait_scores(q.responses, len(q.scale)) for f, q in profiles.items()}, alphas) \
            if len(profiles) > 1 else {}
        result["mtmm"][config] = table
        result["configs"][config] = {
            "model": main.model, "persona": main.persona, "adapter": CONFIGS[config][0], "inventory": main.inventory,
            "scale": main.scale, "n_variants": n_variants, "personas": len(population),
            "traits": {t: s.to_dict() for t, s in main.traits.items()},
            "forms": {f: {t: s.to_dict() for t, s in q.traits.items()} for f, q in profiles.items()},
            "persona_recovery": persona_recovery(main, population),
        }
        runs[config] = profiles
    if len(configs) > 1:
        first, last = runs[configs[0]], runs[configs[-1]]
        shifts = {f: compare(first[f], last[f]) for f in last}
        result["shift"] = {t: {"mean": d["diff"], "ci_low": d["ci_low"], "ci_high": d["ci_high"],
                               "interpretable": d["interpretable"]} for t, d in shifts[invs[0].name].items()}
        result["shift_forms"] = shifts
        result["shift_of"] = [configs[-1], configs[0]]
    if out_dir:
        io.write_json(out_dir / "comparison.json", io.finite(result))
    return result


def compare(a: Profile, b: Profile, *, n_boot: int = 2000, seed: int = 0) -> dict[str, dict]:
    """Trait differences b − a with 95 % bootstrap intervals, resampling the respondents both profiles
    share (paired: the same persona under the same prompt variant is one respondent in each)."""
    import numpy as np

    from workbench.psychometrics import trait_scores

    va, vb = trait_scores(a.responses, len(a.scale)), trait_scores(b.responses, len(b.scale))
    shared = va.index.intersection(vb.index)
    if len(shared) < 2:
        from workbench.errors import WorkbenchError

        raise WorkbenchError("The two profiles share fewer than two respondents, so they cannot be paired.",
                             fix="run both with the same n_variants and the same personas")
    rng = np.random.default_rng(seed)
    out = {}
    for trait in va.columns.intersection(vb.columns):
        ci = paired_bootstrap(vb.loc[shared, trait].to_numpy(), va.loc[shared, trait].to_numpy(), n_boot=n_boot,
                              rng=rng)
        out[trait] = {"diff": ci["mean"], "ci_low": ci["ci_low"], "ci_high": ci["ci_high"],
                      "interpretable": a.traits[trait].interpretable and b.traits[trait].interpretable}
    return out


def _model_of(config: str, model):
    if not CONFIGS[config][0]:
        return model
    from workbench.evaluate import ensure_adapter_model

    return ensure_adapter_model(model)


def _partial(folder):
    """Responses saved by a stopped run, to resume from."""
    from workbench.io import read_jsonl
    from workbench.psychometrics import Response

    if folder is None:
        return None
    return read_jsonl(folder / "partial.jsonl", Response, missing_ok=True) or None


def profiles_of(result: dict) -> dict:
    """``{config: Profile}`` (traits of the first form, no responses) from a comparison, for the radar."""
    from workbench.psychometrics import Profile

    return {c: Profile.from_dict({"backend": result.get("backend", ""), **d}) for c, d in result["configs"].items()}


def load_comparison(path) -> dict:
    """A saved ``comparison.json`` (or its folder)."""
    import json

    path = Path(path)
    path = path / "comparison.json" if path.is_dir() else path
    if not path.is_file():
        raise WorkbenchError(f"No comparison at {path}.", where=str(path),
                             fix="run `workbench profile --compare base,cotherapist --out DIR` first")
    return json.loads(path.read_text(encoding="utf-8"))
