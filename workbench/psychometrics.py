"""Psychometric profiling of a model, done the way Serapio-García et al. (2023) and PsychoBench
(Huang et al. 2024) recommend: options scored by likelihood rather than parsed from generated text,
items crossed with prompt variants that act as respondents, reverse keys applied, and a trait
reported only with its reliability; one that fails the gate is flagged "not interpretable".
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from workbench.corpora import Inventory, Item
from workbench.io import Record
from workbench.reliability import alpha_interval, cronbach_alpha, keying_agreement, omega_interval, persona_share
from workbench.stats import paired_bootstrap

__all__ = ["GATE", "LABELS", "ORDERS", "SCALE_INTROS", "STEMS", "administer", "against_reference",
           "cronbach_alpha", "item_prompt", "load_profile", "profile", "Profile", "Response", "save_profile", "score",
           "TraitScore", "Variant", "variants"]

STEMS = (
    "Here is a statement about you. Say how accurately it describes you.",
    "Think about how you usually are. How well does the statement below fit you?",
)
SCALE_INTROS = ("Use this scale:", "Choose exactly one of these answers:")
ORDERS = ("forward", "reversed")
LABELS = ("digits", "words")

# The gate: below or beyond these, a trait score says more about the format than the model.
# valid_mass: a model guessing over a 32k-49k vocabulary puts about 5/vocab (~1e-4) on five one-token options
# (tiny-llama: 4.6e-5), so below 1e-3 its "answers" are renormalised noise and every trait lands near the midpoint.
# persona_share: in a population, at least half the spread of respondents' trait scores must come from who
# they are (the persona), not from how the question was put (the prompt variant); a project design choice.
GATE = {"alpha": 0.70, "order_agreement": 0.30, "position_bias": 1.0, "entropy": 0.95, "acquiescence": 1.0,
        "valid_mass": 1e-3, "persona_share": 0.5}


@dataclass(frozen=True)
class Variant:
    stem: int
    intro: int
    order: str
    labels: str

    @property
    def key(self) -> str:
        return f"s{self.stem}-i{self.intro}-{self.order}-{self.labels}"


def variants(n: int = 8) -> list[Variant]:
    """The first n of stems x intros x orders x labels; order and label scheme vary fastest so any
    multiple of 4 is balanced between forward/reversed and digits/words."""
    grid = [Variant(s, i, o, lab) for s, i, o, lab in
            itertools.product(range(len(STEMS)), range(len(SCALE_INTROS)), ORDERS, LABELS)]
    if not 1 <= n <= len(grid):
        from workbench.errors import WorkbenchError

        raise WorkbenchError(f"n_variants={n} is outside 1..{len(grid)}", fix=f"use 4, 8 or up to {len(grid)}")
    return grid[:n]


def item_prompt(item: Item, inv: Inventory, v: Variant) -> tuple[str, list[str], list[int]]:
    """The user message, the option strings in presented order, and the scale value of each option."""
    values = list(range(1, len(inv.scale) + 1))
    shown = values if v.order == "forward" else values[::-1]
    if inv.numbered:  # the scale's own numbers answer in every variant, each with its meaning where it has one
        nums = [str(inv.first + val - 1) for val in shown]
        meant = [inv.scale[val - 1] for val in shown]
        lines = [(f"{n} = {m}" if v.labels == "digits" else f"- {n}: {m}") if m != n else n
                 for n, m in zip(nums, meant, strict=True)]
        options = nums
    elif v.labels == "digits":
        lines = [f"{pos} = {inv.scale[val - 1]}" for pos, val in enumerate(shown, 1)]
        options = [str(pos) for pos in range(1, len(shown) + 1)]
    else:
        lines = [f"- {inv.scale[val - 1]}" for val in shown]
        options = [inv.scale[val - 1] for val in shown]
    # Everything but the statement comes first, so all items of a variant share one long prefix.
    text = "\n".join([STEMS[v.stem], SCALE_INTROS[v.intro], *lines, "Answer with one option only.",
                      f'Statement: "{item.text}"'])
    return text, options, shown


@dataclass
class Response(Record):
    item: str
    trait: str
    key: int
    variant: str
    order: str
    probs: list[float]  # over scale values 1..k, renormalised over the options
    expected: float     # raw (unkeyed) expected scale value
    argmax: int
    entropy: float      # normalised to 0..1
    valid_mass: float   # probability the model puts on the options at all
    persona: str = ""   # the respondent persona's id ("" when the model answers as itself)


@dataclass
class TraitScore(Record):
    mean: float
    sd: float
    ci_low: float
    ci_high: float
    alpha: float
    omega: float
    order_agreement: float
    position_bias: float
    acquiescence: float
    entropy: float
    valid_mass: float
    interpretable: bool
    reason: str
    alpha_low: float = math.nan   # 95 % percentile bootstrap over respondents
    alpha_high: float = math.nan
    omega_low: float = math.nan   # percentile bootstrap over respondents
    omega_high: float = math.nan
    srmr: float = math.nan        # misfit of the one-factor model; omega is reported only where it fits
    n_respondents: int = 0
    persona_share: float = math.nan  # share of the respondents' trait-score spread due to personas, not variants


@dataclass
class Profile(Record):
    model: str
    backend: str
    persona: str
    inventory: str
    scale: list[str]
    n_variants: int
    traits: dict[str, TraitScore]
    responses: list[Response] = field(default_factory=list)
    personas: int = 0  # size of the respondent population (0: the variants alone are the respondents)

    @classmethod
    def from_dict(cls, d: dict) -> Profile:
        p = super().from_dict(d)
        p.traits = {t: TraitScore.from_dict(_nan(v)) for t, v in p.traits.items()}
        p.responses = [r if isinstance(r, Response) else Response.from_dict(r) for r in p.responses]
        return p


PERSONA_FRAME = "For this questionnaire, answer the way the person described here would answer. {text}"


def respondent_system(system: str | None, persona=None) -> str | None:
    """The system message of one respondent: the configuration's own prompt, then the persona to answer as."""
    parts = [system] if system else []
    if persona is not None:
        parts.append(PERSONA_FRAME.format(text=persona.text))
    return "\n\n".join(parts) or None


def administer(gen, inv: Inventory, *, system: str | None = None, personas=None, n_variants: int = 8,
               progress: Callable[[int, int], None] | None = None, cancel=None, chunk: int = 60,
               done=None, checkpoint: Callable[[list[Response]], None] | None = None) -> list[Response]:
    """Score every option of every item under every variant (and persona) by log-likelihood.

    A respondent is one persona under one prompt variant (Serapio-García et al. 2023); without
    personas the variants alone are the respondents. Items go to the model in chunks that share the
    respondent's prompt prefix (``score_many``); a chunk is also the unit of progress and of Stop.
    ``done`` holds responses from an interrupted run: their respondents are kept, not rescored;
    ``checkpoint`` gets every response so far after each persona, to save them for such a resume.
    """
    vs = variants(n_variants)
    who = list(personas) if personas else [None]
    wanted = {(q.id if q is not None else "", v.key) for q in who for v in vs}
    answered = Counter((r.persona, r.variant) for r in done or [])
    finished = {w for w in wanted if answered[w] == len(inv.items)}  # a respondent stopped part-way starts again
    out = [r for r in done or [] if (r.persona, r.variant) in finished]
    total = len(who) * len(vs) * len(inv.items)
    count = len(out)
    k = len(inv.scale)
    for persona in who:
        pid = persona.id if persona is not None else ""
        sys_msg = respondent_system(system, persona)
        head = [{"role": "system", "content": sys_msg}] if sys_msg else []
        for v in vs:
            if (pid, v.key) in finished:
                continue
            for start in range(0, len(inv.items), chunk):
                if cancel is not None and cancel.is_set():
                    return out
                items = inv.items[start:start + chunk]
                prompts = [item_prompt(item, inv, v) for item in items]
                options, shown = prompts[0][1], prompts[0][2]
                rows = gen.score_many([head + [{"role": "user", "content": text}] for text, _, _ in prompts],
                                      options)
                out.extend(_response(item, v, logp, shown, k, pid) for item, logp in zip(items, rows, strict=True))
                count += len(items)
                if progress:
                    progress(count, total)
        if checkpoint:
            checkpoint(out)
    return out


def _response(item: Item, v: Variant, logp: list[float], shown: list[int], k: int, persona: str) -> Response:
    """Renormalise the options' likelihoods into a distribution over scale values 1..k."""
    top = max(logp)
    weights = [math.exp(x - top) for x in logp]
    z = sum(weights)
    probs = [0.0] * k
    for w, val in zip(weights, shown, strict=True):
        probs[val - 1] = w / z
    ent = -sum(p * math.log(p) for p in probs if p > 0) / math.log(k)
    return Response(item.id, item.trait, item.key, v.key, v.order, probs,
                    sum(p * val for p, val in zip(probs, range(1, k + 1), strict=True)),
                    max(range(k), key=lambda i: probs[i]) + 1, ent, min(1.0, sum(math.exp(x) for x in logp)),
                    persona)


def _acquiescence_note(wide, t) -> str:
    """Say so when respondents differ in how much they agree rather than in the trait (alpha below 0)."""
    same, cross = keying_agreement(wide, t.groupby("item")["key"].first().reindex(wide.columns).to_numpy())
    if same > 0 > cross:
        return (f" (items keyed alike agree, mean r {same:+.2f}, items keyed oppositely disagree, {cross:+.2f}: "
                "respondents differ in how much they agree with anything)")
    return ""


def keyed_frame(responses: list[Response], k: int):
    """The responses as a table with the reverse-keyed score and the respondent (persona|variant) of each."""
    import numpy as np
    import pandas as pd

    df = pd.DataFrame([r.to_dict() for r in responses])
    if "persona" not in df:
        df["persona"] = ""
    df["keyed"] = np.where(df["key"] == 1, df["expected"], 1 + k - df["expected"])
    df["respondent"] = df["persona"].fillna("") + "|" + df["variant"]
    return df


def trait_scores(responses: list[Response], k: int):
    """Respondents x traits: each respondent's mean keyed score per trait (the unit MTMM and shifts pair on)."""
    df = keyed_frame(responses, k)
    return df.pivot_table(index="respondent", columns="trait", values="keyed", aggfunc="mean")


def score(responses: list[Response], inv: Inventory, *, n_boot: int = 2000, seed: int = 0,
          omega_boot: int = 200) -> dict[str, TraitScore]:
    """Reverse keys, trait means across respondents with bootstrap CIs, reliability with intervals, the gate."""
    import numpy as np
    from scipy.stats import spearmanr

    if not responses:  # e.g. stopped before the first item
        return {}
    lo, hi = 1, len(inv.scale)
    mid = (lo + hi) / 2
    df = keyed_frame(responses, hi)
    rng = np.random.default_rng(seed)
    out = {}
    for trait in inv.traits:
        t = df[df["trait"] == trait]
        if t.empty:
            continue
        wide = t.pivot_table(index="respondent", columns="item", values="keyed")
        per_respondent = wide.mean(axis=1).to_numpy()
        ci = paired_bootstrap(per_respondent, n_boot=n_boot, rng=rng)
        alpha, a_lo, a_hi = alpha_interval(wide.to_numpy())
        om = omega_interval(wide.to_numpy(), n_boot=omega_boot, seed=seed)
        # Order agreement: with personas, do respondents keep their rank when the options are reversed
        # (items of one trait may all sit at one level); without, do items keep theirs.
        unit = "persona" if t["persona"].nunique() >= 3 else "item"
        value = "keyed" if unit == "persona" else "expected"
        fwd = t[t["order"] == "forward"].groupby(unit)[value].mean()
        rev = t[t["order"] == "reversed"].groupby(unit)[value].mean()
        both = fwd.index.intersection(rev.index)
        agree = float("nan")
        if len(both) >= 3 and fwd[both].nunique() > 1 and rev[both].nunique() > 1:
            agree = float(spearmanr(fwd[both], rev[both]).statistic)
        f_raw, r_raw = (t[t["order"] == o]["expected"] for o in ("forward", "reversed"))
        bias = abs(float(f_raw.mean() - r_raw.mean())) if len(both) else float("nan")
        acq = float(t["expected"].mean() - mid)  # raw agreement regardless of keying
        ent, mass = float(t["entropy"].mean()), float(t["valid_mass"].mean())
        share = persona_share(t)
        reasons = []
        if not mass >= GATE["valid_mass"]:  # first: it explains the rest (a midpoint score, undefined alpha)
            reasons.append(f"the model puts almost no probability on the answer options (mean {mass:.1e} < "
                           f"{GATE['valid_mass']:g}), so its scores sit near the scale midpoint whatever it is; "
                           "use an instruction-tuned model or a persona that makes it answer with the options")
        if not alpha >= GATE["alpha"]:
            reasons.append(f"alpha {alpha:.2f} < {GATE['alpha']}{_acquiescence_note(wide, t)}" if alpha == alpha
                           else f"alpha undefined: {len(per_respondent)} respondents, and reliability needs several "
                           "(personas x variants)" if len(per_respondent) < 3
                           else "alpha undefined: answers do not vary across respondents")
        if not agree >= GATE["order_agreement"] and len(both):
            reasons.append("answers change with option order" + (f" (rho {agree:.2f})" if agree == agree else ""))
        if bias > GATE["position_bias"]:
            reasons.append(f"position bias: forward and reversed means differ by {bias:.2f}")
        if share < GATE["persona_share"]:
            reasons.append(f"the personas explain {share:.0%} of the spread between respondents (the prompt "
                           f"variants the rest): the scores follow the format, not the person")
        if ent > GATE["entropy"]:
            reasons.append(f"near-uniform option probabilities (entropy {ent:.2f})")
        if abs(acq) > GATE["acquiescence"]:
            reasons.append(f"acquiescence {acq:+.2f}: agrees or disagrees whatever the keying")
        out[trait] = TraitScore(
            mean=float(per_respondent.mean()), sd=float(per_respondent.std(ddof=1)) if len(per_respondent) > 1 else 0.0,
            ci_low=ci["ci_low"], ci_high=ci["ci_high"],
            alpha=alpha, omega=om["omega"], order_agreement=agree, position_bias=bias, acquiescence=acq,
            entropy=ent, valid_mass=mass, interpretable=not reasons, reason="; ".join(reasons),
            alpha_low=a_lo, alpha_high=a_hi, omega_low=om["low"], omega_high=om["high"], srmr=om["srmr"],
            n_respondents=len(per_respondent), persona_share=share,
        )
    return out


def profile(model=None, inventory="bigfive", *, persona: str | None = None, personas=None,
            backend: str = "torch", n_variants: int = 8, progress=None, cancel=None, done=None,
            checkpoint=None) -> Profile:
    """Administer an inventory (a name, file, or :class:`Inventory`) to a model, optionally under a
    system persona from the prompt library and across a respondent population (``personas``), and
    score it. ``model`` may be a loaded generator, so several profiles share one load."""
    from workbench.corpora import load_prompts
    from workbench.inventories import load_inventory
    from workbench.models import get_generator

    inv = inventory if isinstance(inventory, Inventory) else load_inventory(inventory)
    system = load_prompts()[persona].text if persona else None
    gen = model if hasattr(model, "score_many") else get_generator(model, backend)
    responses = administer(gen, inv, system=system, personas=personas, n_variants=n_variants, progress=progress,
                           cancel=cancel, done=done, checkpoint=checkpoint)
    return Profile(gen.name, gen.backend, persona or "", inv.name, inv.scale, n_variants, score(responses, inv),
                   responses, len(personas or ()))


def save_profile(p: Profile, out_dir: str | Path | None = None) -> Path:
    """``out_dir/profile.json`` (traits, settings) and ``out_dir/responses.jsonl`` (every scored item);
    by default under exports/profiles/<model>-<persona>-<inventory>/."""
    from workbench import paths
    from workbench.io import finite, write_json, write_jsonl

    out_dir = Path(out_dir) if out_dir else (
        paths.exports_dir() / "profiles" / f"{p.model}-{p.persona or 'none'}-{p.inventory}")
    body = finite({k: v for k, v in p.to_dict().items() if k != "responses"})
    write_jsonl(out_dir / "responses.jsonl", [finite(r.to_dict()) for r in p.responses])
    return write_json(out_dir / "profile.json", body)


def _nan(d: dict) -> dict:
    return {k: math.nan if v is None else v for k, v in d.items()}


def load_profile(path: str | Path) -> Profile:
    """A saved profile (its folder or its profile.json) with its responses, as ``save_profile`` wrote it;
    an undefined statistic (null in the file) comes back as NaN."""
    from workbench.errors import WorkbenchError
    from workbench.io import read_jsonl

    path = Path(path)
    folder = path if path.is_dir() else path.parent
    body = folder / "profile.json"
    if not body.is_file():
        raise WorkbenchError(f"No saved profile at {path}.", where=str(body),
                             fix="give the folder that save_profile (or `workbench profile --out`) wrote")
    data = json.loads(body.read_text(encoding="utf-8"))
    data["responses"] = read_jsonl(folder / "responses.jsonl", Response, missing_ok=True)
    return Profile.from_dict(data)


def against_reference(p: Profile, reference: dict) -> dict[str, dict]:
    """Read a profile against a reference profile's directions (high / low / average vs the scale midpoint).

    A direction is met when the 95 % interval lies wholly on its side of the midpoint (or, for average,
    contains it); an uninterpretable trait gets no verdict.
    """
    mid = (1 + len(p.scale)) / 2
    out = {}
    for trait, ref in reference.get("traits", {}).items():
        t = p.traits.get(trait)
        if t is None:
            continue
        observed = "high" if t.ci_low > mid else "low" if t.ci_high < mid else "average"
        verdict = ("not interpretable" if not t.interpretable
                   else "consistent" if observed == ref.get("direction") else "inconsistent")
        out[trait] = {"expected": ref.get("direction"), "observed": observed, "verdict": verdict,
                      "source": ref.get("source", "")}
    return out
