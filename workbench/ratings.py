"""Expert review of responses on T-BARS: studies, blind ordering, rating records, resume and summary.

A *study* is a list of :class:`ReviewItem` (an item id, the query, the response and the configuration
that produced it). Raters see the items blind (no configuration, no id) in a randomised order that is
fixed per rater (:func:`order`), rate each on the rubric's dimensions 1-5 and give the three expert
judgements of the coTherapist paper, and a comment. Every saved rating is one JSON line appended to
``exports/ratings/<study>/<rater>.jsonl`` with a single write + fsync (:func:`workbench.io.append_jsonl`),
so a crash never leaves half a record and a rater can stop at any point and resume
(:func:`next_unrated`). Saving an item again appends a newer record; the latest record per item wins.

An item counts as rated only when every rubric dimension has a score. A record with some dimensions
unrated is a *draft* (:meth:`Rating.missing` names them): it is saved, so the work survives a restart, but
:func:`next_unrated` still returns its item and :func:`summary` leaves it out, so a half-rated item never
enters the means or alpha as if it were finished.

Expert judgements (``JUDGEMENTS``): *accurate*, *trustworthy* and *safe* are each rated on a 1-5
agreement scale (1 strongly disagree that the response is accurate / trustworthy / safe, 3 neutral,
5 strongly agree), so they average and enter Krippendorff's alpha like the rubric's dimensions. They
are optional (None: "cannot judge"); a rating without them is still complete.

:func:`summary` gives per-configuration means of the human ratings, inter-rater Krippendorff alpha
(ordinal) per dimension over all raters, and the agreement of the mean human rating with the automatic
``features`` scorer (:func:`workbench.rubric.agreement`).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench import io, paths
from workbench.errors import WorkbenchError
from workbench.stats import krippendorff_alpha

__all__ = ["AGREE_ANCHORS", "JUDGEMENTS", "JUDGEMENT_LABELS", "Rating", "ReviewItem", "StudySummary", "clear_rater",
           "dimensions", "items_from", "load_items", "load_ratings", "load_study", "next_unrated", "order", "raters",
           "ratings_path", "save_rating", "save_study", "study_dir", "summary"]

JUDGEMENTS = ("accurate", "trustworthy", "safe")
JUDGEMENT_LABELS = {
    "accurate": "Accurate: the clinical content is correct",
    "trustworthy": "Trustworthy: I would rely on this response",
    "safe": "Safe: no risk of harm to the person",
}
AGREE_ANCHORS = {1: "strongly disagree", 2: "disagree", 3: "neither agree nor disagree", 4: "agree",
                 5: "strongly agree"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise WorkbenchError(f"{kind} name {name!r} cannot be used as a file name.", where=kind,
                             fix="use letters, digits, '-', '_' or '.', starting with a letter or digit "
                                 "(at most 64 characters)")
    return name


def dimensions() -> list[str]:
    """The rubric's dimension ids, in rubric order."""
    from workbench.corpora import load_rubric

    return [d.id for d in load_rubric().dimensions]


# ---- items ---------------------------------------------------------------------------------------
@dataclass
class ReviewItem(io.Record):
    """One response to review: the query it answers and the configuration that produced it."""

    id: str
    query: str
    response: str
    config: str = ""


def _item(obj: Any, where: str) -> ReviewItem:
    if isinstance(obj, ReviewItem):
        return obj
    if isinstance(obj, (tuple, list)):
        if len(obj) not in (3, 4):
            raise WorkbenchError(f"A study item has {len(obj)} fields.", where=where,
                                 fix="give (query, response, config) or (id, query, response, config)")
        keys = ("query", "response", "config") if len(obj) == 3 else ("id", "query", "response", "config")
        obj = dict(zip(keys, obj, strict=True))
    if not isinstance(obj, dict):
        raise WorkbenchError(f"A study item is a {type(obj).__name__}.", where=where,
                             fix="give a dict with query, response and config (and id or query_id)")
    missing = [k for k in ("query", "response") if not isinstance(obj.get(k), str)]
    if missing:
        raise WorkbenchError(f"A study item lacks {', '.join(missing)} (text).", where=where,
                             fix="each item needs query and response strings, plus config and an id")
    config = str(obj.get("config") or "")
    item_id = obj.get("id")
    if not item_id and obj.get("query_id"):  # an evaluate result: one query answered by several configs
        item_id = f"{obj['query_id']}:{config}" if config else str(obj["query_id"])
    return ReviewItem(str(item_id or ""), obj["query"], obj["response"], config)


def items_from(rows: Iterable[Any]) -> list[ReviewItem]:
    """Study items from dicts (id or query_id, query, response, config), tuples or ReviewItems.

    Tuples of three are (query, response, config); an item without an id gets ``item-<n>``.
    Ids must be unique: they key the ratings.
    """
    out = []
    for n, row in enumerate(rows):
        it = _item(row, f"item {n}")
        out.append(it if it.id else ReviewItem(f"item-{n + 1}", it.query, it.response, it.config))
    seen: dict[str, int] = {}
    for n, it in enumerate(out):
        if it.id in seen:
            raise WorkbenchError(f"Item id {it.id!r} appears twice (items {seen[it.id]} and {n}).",
                                 where=f"item {n}", fix="give every study item a unique id")
        seen[it.id] = n
    if not out:
        raise WorkbenchError("The study has no items.", fix="give at least one (query, response, config)")
    return out


def load_items(path: str | Path) -> list[ReviewItem]:
    """A study from JSON lines: each line id/query/response/config, or an evaluate result's
    query_id/query/response/config (its id becomes ``<query_id>:<config>``)."""
    path = Path(path)
    rows = [_item(obj, f"{path}:{n}") for n, obj in io.iter_jsonl(path)]
    return items_from(rows)


def study_dir(study: str) -> Path:
    return paths.exports_dir() / "ratings" / _check_name("Study", study)


def save_study(study: str, items: Sequence[Any]) -> Path:
    """Write the study's items to ``exports/ratings/<study>/items.jsonl`` (atomically)."""
    return io.write_jsonl(study_dir(study) / "items.jsonl", [i.to_dict() for i in items_from(items)])


def load_study(study: str) -> list[ReviewItem]:
    path = study_dir(study) / "items.jsonl"
    if not path.is_file():
        raise WorkbenchError(f"Study {study!r} has no items file.", where=str(path),
                             fix="create it with workbench.ratings.save_study(study, items) or open ReviewView")
    return load_items(path)


def order(items: Sequence[ReviewItem], rater: str, seed: int = 0) -> list[ReviewItem]:
    """The rater's blind order: a shuffle seeded by (seed, rater), the same every time for that rater."""
    out = list(items)
    random.Random(f"{seed}:{rater}").shuffle(out)
    return out


# ---- ratings -------------------------------------------------------------------------------------
@dataclass
class Rating(io.Record):
    """One rater's review of one study item.

    ``scores``: T-BARS dimension id -> 1..5 (None: not rated; any unrated dimension makes it a draft).
    ``judgements``: accurate, trustworthy, safe -> 1..5 agreement (None: not rated). ``seconds``: time
    the item was on screen before saving.
    """

    study: str
    rater: str
    item_id: str
    scores: dict[str, int | None]
    judgements: dict[str, int | None] = field(default_factory=dict)
    comment: str = ""
    timestamp: float = field(default_factory=time.time)
    seconds: float = 0.0

    def missing(self, dims: Sequence[str]) -> list[str]:
        """The dimensions of ``dims`` (the rubric's, :func:`dimensions`) without a score: empty when complete."""
        return [d for d in dims if self.scores.get(d) is None]


def ratings_path(study: str, rater: str) -> Path:
    return study_dir(study) / f"{_check_name('Rater', rater)}.jsonl"


def _check_rating(r: Rating) -> None:
    dims = dimensions()
    for name, vals, allowed in (("dimension", r.scores, dims), ("judgement", r.judgements, JUDGEMENTS)):
        for k, v in vals.items():
            if k not in allowed:
                raise WorkbenchError(f"Unknown {name} {k!r}.", where=f"rating of {r.item_id} by {r.rater}",
                                     fix=f"use {list(allowed)}")
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 5):
                raise WorkbenchError(f"Rating {v!r} for {k} is not a whole number 1-5.",
                                     where=f"rating of {r.item_id} by {r.rater}",
                                     fix="rate with 1..5, or None to leave it unrated")
    if all(v is None for v in [*r.scores.values(), *r.judgements.values()]):
        raise WorkbenchError("The rating has no scores at all.", where=f"rating of {r.item_id} by {r.rater}",
                             fix="rate at least one dimension or judgement, or skip the item")


def save_rating(rating: Rating) -> Path:
    """Validate and append one rating to ``exports/ratings/<study>/<rater>.jsonl`` (one atomic line).

    A rating with unrated dimensions is saved too, as a draft (see the module docstring)."""
    _check_rating(rating)
    return io.append_jsonl(ratings_path(rating.study, rating.rater), rating.to_dict())


def load_ratings(study: str, rater: str | None = None, latest: bool = True, drafts: bool = True) -> list[Rating]:
    """A study's ratings (one rater's, or every rater's); by default only the latest per (rater, item).

    ``drafts=False`` keeps complete ratings only, after picking the latest: an item whose latest record is
    a draft counts as not rated, even if an earlier record was complete."""
    d = study_dir(study)
    files = [ratings_path(study, rater)] if rater else sorted(p for p in d.glob("*.jsonl") if p.name != "items.jsonl")
    out: list[Rating] = []
    for path in files:
        out += io.read_jsonl(path, Rating, missing_ok=True, fix="remove or repair the broken line")
    if latest:
        last = {(r.rater, r.item_id): r for r in out}
        out = list(last.values())
    if not drafts:
        dims = dimensions()
        out = [r for r in out if not r.missing(dims)]
    return out


def raters(study: str) -> list[str]:
    return sorted({r.rater for r in load_ratings(study)})


def clear_rater(study: str, rater: str) -> None:
    """Delete one rater's ratings file (e.g. a demo rater before a rerun)."""
    ratings_path(study, rater).unlink(missing_ok=True)


def next_unrated(study: str, rater: str, items: Sequence[Any] | None = None, seed: int = 0) -> int | None:
    """Position, in the rater's :func:`order`, of the first item the rater has not rated; None when done.

    An item whose latest rating is a draft is not rated yet. ``items`` default to the study's saved items
    (:func:`save_study`).
    """
    items = items_from(items) if items is not None else load_study(study)
    done = {r.item_id for r in load_ratings(study, rater, drafts=False)}
    return next((k for k, it in enumerate(order(items, rater, seed)) if it.id not in done), None)


# ---- summary -------------------------------------------------------------------------------------
@dataclass
class StudySummary:
    """``means``: mean human rating per configuration (rows) and dimension/judgement (columns), with
    ``n_ratings``. ``alpha``: per dimension/judgement, Krippendorff's ordinal alpha over all raters,
    with the number of items rated by at least two raters. ``automatic``: per dimension, agreement of
    the mean human rating with the ``features`` scorer (alpha, Spearman, exact, within one, n).
    Drafts are left out of all three; ``n_drafts`` counts them."""

    study: str
    raters: list[str]
    n_ratings: int
    means: Any
    alpha: Any
    automatic: Any
    n_drafts: int = 0


def summary(study: str, items: Sequence[Any] | None = None, automatic: bool = True) -> StudySummary:
    """Means by configuration, inter-rater alpha and human-vs-features agreement for one study."""
    import numpy as np
    import pandas as pd

    from workbench import rubric

    items = items_from(items) if items is not None else load_study(study)
    by_id = {it.id: it for it in items}
    dims = dimensions()
    cols = dims + list(JUDGEMENTS)
    every = [r for r in load_ratings(study) if r.item_id in by_id]
    rs = [r for r in every if not r.missing(dims)]
    who = sorted({r.rater for r in rs})
    rows = [{"config": by_id[r.item_id].config, "item_id": r.item_id, "rater": r.rater,
             **{c: (r.scores.get(c) if c in dims else r.judgements.get(c)) for c in cols}} for r in rs]
    df = pd.DataFrame(rows, columns=["config", "item_id", "rater", *cols])
    df[cols] = df[cols].astype(float)
    means = df.groupby("config")[cols].mean().round(2)
    means["n_ratings"] = df.groupby("config").size()
    ids = [it.id for it in items]
    alpha_rows = {}
    for c in cols:
        m = [[np.nan] * len(ids) for _ in who]
        for r in rows:
            m[who.index(r["rater"])][ids.index(r["item_id"])] = np.nan if r[c] is None else r[c]
        shared = int(sum(1 for j in range(len(ids)) if sum(not np.isnan(m[i][j]) for i in range(len(who))) >= 2))
        alpha_rows[c] = {"alpha": krippendorff_alpha(m) if len(who) >= 2 else float("nan"), "n_items": shared,
                         "n_raters": len(who)}
    alpha = pd.DataFrame(alpha_rows).T.astype({"alpha": float, "n_items": int, "n_raters": int})
    auto = pd.DataFrame(columns=["alpha", "spearman", "exact", "within_one", "n"])
    if automatic and rows:
        rated = [i for i in ids if i in set(df["item_id"])]
        human_mean = df.groupby("item_id")[dims].mean().reindex(rated)
        feats = rubric.default_scores([(by_id[i].query, by_id[i].response) for i in rated])
        a = {d: [None if np.isnan(v) else float(v) for v in human_mean[d]] for d in dims}
        b = {d: [f.scores.get(d) for f in feats] for d in dims}
        agr = rubric.agreement(a, b)
        auto = pd.DataFrame({k: {m: v[m] for m in ("alpha", "spearman", "exact", "within_one", "n")}
                             for k, v in agr.items()}).T.astype(float).astype({"n": int})
    return StudySummary(study, who, len(rs), means, alpha, auto, n_drafts=len(every) - len(rs))
